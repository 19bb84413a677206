"""Look-ahead routing (docs/lookahead.md): a router with shadow prices decides the minimum of
the priced costs (against a brute force of every assignment), says both costs and when a
price changed its choice; the LP over a forecast prices what a forecast order needs; the
forecast is drawn from the day's profile, never its orders; and online+prices runs in bench."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_rejections import Books, cap_units
from test_router import LAT0, LON0, as_order, assignments, city, destination, instances, order, router_of

from omnifill.bench import load_scenario, run_bench
from omnifill.config import Config
from omnifill.lookahead import Pricer, ShadowPrices, forecast_day
from omnifill.model import Network, Order
from omnifill.router import Router


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.data())
def test_a_router_with_shadow_prices_decides_the_brute_force_minimum_of_the_priced_costs(inst, data):
    # unit prices on (store, SKU) pairs and capacity prices on stores add to each option's
    # cost; the decision is the minimum over every assignment (zones, pickups, transfers,
    # closed stores, capacity), its cost the cost model's, the difference its prices; the
    # units it takes leave the test's own books
    stores, stock, orders, cfg, closed = inst
    router = router_of(stores, stock, cfg, closed)
    pairs = sorted(stock)
    unit = {p: data.draw(st.sampled_from([0.0, 0.0, 2.0, 35.0, 400.0])) for p in pairs}
    cap_price = np.array([data.draw(st.sampled_from([0.0, 0.0, 6.0, 80.0])) for _ in stores])
    priced_pairs = [p for p in pairs if unit[p] > 0]
    prices = ShadowPrices([s for s, _ in priced_pairs], [k for _, k in priced_pairs],
                          [unit[p] for p in priced_pairs], cap_price)
    router.set_prices(prices)
    by_id = {s["id"]: k for k, s in enumerate(stores)}
    books = Books(stores, stock)
    for o in orders:
        usable = [books.cap[x] >= 1 and not closed[x] for x in range(len(stores))]
        avail = {key: books.avail(key) for key in books.on_hand}
        found = [(cost + sum(unit.get(k, 0.0) * q for k, q in use.items()) + sum(cap_price[s] for s in spend), cost)
                 for cost, use, spend, _ in assignments(stores, avail, o, cfg, usable)]
        best = min(p for p, _ in found)
        cheapest = min(c for _, c in found)
        d = router.route(as_order(o, stores))
        if o["mode"] == "pickup" and not stores[o["pickup"]]["pickup"]:
            books.take_rows(d.rows, by_id)
            continue  # nothing is searched: no price either
        assert d.proven
        # (priced whenever a price is set: these searches are small, none runs out of nodes)
        assert (d.priced_cost is not None) == (bool(priced_pairs) or bool(cap_price.any()))
        priced = d.cost if d.priced_cost is None else d.priced_cost
        assert priced == pytest.approx(best, rel=1e-9, abs=1e-6), (d.explanation, best)
        assert d.breakdown["total"] == pytest.approx(d.cost, rel=1e-12, abs=1e-9)
        taken = sum(unit.get((by_id[r["source_id"]], r["sku"]), 0.0) * r["qty"] for r in d.rows
                    if r["mode"] != "unfilled")
        spent = sum(cap_price[x] * k for x, k in cap_units(d.rows, by_id).items())
        assert priced - d.cost == pytest.approx(taken + spent, rel=1e-9, abs=1e-6)
        # a price changed the choice exactly when the cost model alone had a cheaper option
        ex = d.explanation
        if cheapest < d.cost - 1e-6:
            assert ex["unpriced_best"]["cost"] == pytest.approx(cheapest, rel=1e-9, abs=1e-6)
            assert any(b.startswith("a price changed the choice") for b in ex["bound_by"])
        else:
            assert "unpriced_best" not in ex
        books.take_rows(d.rows, by_id)
        books.spend(cap_units(d.rows, by_id))


def test_the_lp_over_a_forecast_prices_the_scarce_unit_by_what_the_next_best_costs():
    # S1 (near) has 2 A, S2 (farther) 5: three forecast orders for A at the customer take
    # S1's two and one of S2's, so S1's units are scarce and S2's are not. The LP's price of
    # an S1 unit is what the forecast order without one pays more: S2's cost less S1's
    net = city()
    c1 = Router(net).route(order(lines=[("A", 1)])).cost
    r2 = Router(net)
    r2.update_stock("S1", "A", 0)
    c2 = r2.route(order(lines=[("A", 1)])).cost
    assert c2 > c1
    fc = [Order.from_dict(order(f"F{k}", lines=[("A", 1)])) for k in range(3)]
    router = Router(net)
    prices = Pricer(fc, np.zeros(3)).prices(router, 0.0)
    assert prices.converged and prices.orders == 3
    assert prices.table(net.store_ids) == {"store_id": ["S1"], "sku": ["A"], "price": [pytest.approx(c2 - c1)]}
    assert prices.lp_value == pytest.approx(2 * c1 + c2)
    # two forecast orders: nothing is short, nothing is priced
    assert len(Pricer(fc[:2], np.zeros(2)).prices(router, 0.0)) == 0
    # the forecast orders expected before now are not priced for
    assert len(Pricer(fc, np.array([0.0, 0.0, 5.0])).prices(router, 1.0)) == 0
    router.set_prices(prices)
    d = router.route(order(lines=[("A", 1)]))
    assert d.priced_cost == pytest.approx(c2)  # S1 with its price, or S2: the same
    assert any("shadow prices" in b for b in d.explanation["bound_by"])
    router.set_prices(None)
    assert router.route(order("O2", lines=[("A", 1)])).priced_cost is None


def test_a_price_that_outweighs_the_gain_sends_the_order_to_the_farther_store_and_says_why():
    net = city()
    router = Router(net)
    i1 = net.index_of("S1")
    router.set_prices(ShadowPrices([i1], ["A"], [50.0], np.zeros(len(net))))
    d = router.route(order(lines=[("A", 1)]))
    assert d.rows[0]["source_id"] == "S2"
    assert d.priced_cost == pytest.approx(d.cost)  # S2's unit is not priced
    ex = d.explanation
    assert ex["unpriced_best"]["option"].startswith("deliver from S1")
    assert ex["unpriced_best"]["priced_cost"] == pytest.approx(ex["unpriced_best"]["cost"] + 50.0)
    assert d.to_dict()["priced_cost"] == d.priced_cost
    # a new stock row keeps the prices (rows are re-mapped by store and SKU)
    router.update_stock("S1", "NEW", 3)
    assert router.route(order("O2", lines=[("A", 1)])).rows[0]["source_id"] == "S2"
    with pytest.raises(ValueError, match="capacity price per store"):
        router.set_prices(ShadowPrices([], [], [], np.zeros(2)))
    with pytest.raises(ValueError, match="unit_price"):
        ShadowPrices([i1], ["A"], [-1.0], np.zeros(len(net)))


def test_the_forecast_is_drawn_from_the_days_profile_not_its_orders():
    rng = np.random.default_rng(3)
    n = 400
    arrival = np.sort(rng.uniform(480, 1200, n))
    lat, lon = 31.2 + rng.normal(0, 0.01, n), 121.4 + rng.normal(0, 0.01, n)
    n_lines = rng.integers(1, 4, n)
    sku = np.array([f"K{int(k)}" for k in rng.zipf(1.6, int(n_lines.sum())) % 50], object)
    qty = rng.integers(1, 3, len(sku))
    fc, when = forecast_day(lat, lon, np.full(n, 60.0), n_lines, sku, qty, arrival, seed=1)
    per_hour = np.bincount((arrival // 60).astype(int), minlength=24)
    assert np.array_equal(np.bincount((when // 60).astype(int), minlength=24), per_hour)
    assert all(o.order_id.startswith("F") for o in fc)
    assert {s for o in fc for s, _ in o.lines} <= set(sku.tolist())
    assert all(len({s for s, _ in o.lines}) == len(o.lines) for o in fc)
    bigger, w2 = forecast_day(lat, lon, np.full(n, 60.0), n_lines, sku, qty, arrival, seed=1, scale=1.2)
    assert abs(len(bigger) - 1.2 * n) <= 24  # (rounded per hour)
    late, w3 = forecast_day(lat, lon, np.full(n, 60.0), n_lines, sku, qty, arrival, seed=1, start=900.0)
    assert (w3 >= 900).all() and len(late) < n
    with pytest.raises(ValueError, match="scale"):
        forecast_day(lat, lon, np.full(n, 60.0), n_lines, sku, qty, arrival, scale=-1.0)


def test_online_with_prices_runs_in_bench_and_reports_its_pricing_and_gap(tmp_path):
    sc = load_scenario("demo")
    doc = run_bench(sc, tmp_path, policies=("online", "online+prices", "hindsight"), reprice_every=240.0,
                    price_limit_s=10.0, hindsight_limit_s=10.0)
    runs = {r["policy"]: r["kpis"] for r in doc["runs"]}
    k = runs["online+prices"]
    assert k["orders"] == runs["online"]["orders"] and k["lines"] == runs["online"]["lines"]
    assert k["reprices"] >= 2 and k["forecast_orders"] > 0
    assert "gap_to_hindsight" in k and k["price_seconds"] >= 0
    assert doc["params"]["reprice_every_min"] == 240.0
    saved = json.loads((tmp_path / "kpis.json").read_text())
    assert [r["policy"] for r in saved["runs"]] == ["online", "online+prices", "hindsight"]
    assert "online+prices" in (tmp_path / "report.html").read_text()


def test_a_nearer_store_holding_only_a_line_the_option_has_supplies_it_when_its_units_are_cheaper():
    # X (2.5 km) holds B and C, R (1 km) and Y (0.5 km) hold B; B is priced 100 at X and Y.
    # The nearest-first seed takes Y's B and X's C; the cheapest priced option is R's B (free)
    # and X's C: the search must add R to X although every line R holds X covers (the rule
    # of the unpriced search, each store adding a new line, would miss it)
    ids = ["Y", "R", "X"]
    pts = [destination(LAT0, LON0, 90, d) for d in (500, 1000, 2500)]
    inv = {"store_id": ["Y", "R", "X", "X"], "sku": ["B", "B", "B", "C"], "on_hand": [5, 5, 5, 5]}
    net = Network.from_arrays(ids, [p[0] for p in pts], [p[1] for p in pts], inventory=inv, handling_min=10.0,
                              config=Config().with_(limits={"max_transfers": 0}))  # (packages only)
    router = Router(net)
    assert {r["source_id"] for r in router.route(order(lines=[("B", 1), ("C", 1)])).rows} == {"X"}
    router.set_prices(ShadowPrices([net.index_of("Y"), net.index_of("X")], ["B", "B"], [100.0, 100.0],
                                   np.zeros(len(net))))
    d = router.route(order("O2", lines=[("B", 1), ("C", 1)]))
    assert {r["sku"]: r["source_id"] for r in d.rows} == {"B": "R", "C": "X"}
    assert d.priced_cost == pytest.approx(d.cost)  # nothing priced is used
    assert d.explanation["unpriced_best"]["option"].startswith("deliver from X")

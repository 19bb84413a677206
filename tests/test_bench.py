"""The day simulator (omnifill.bench): every order line decided once, stock never sold
twice, the same seed the same day; what-if specs parsed or refused with the spec named."""

import numpy as np
import pytest

from omnifill import bench
from omnifill.router import Router


@pytest.fixture(scope="module")
def day():
    sc = bench.load_scenario("demo")
    # the first 300 orders of the demo day keep the test short
    keep = set(list(dict.fromkeys(sc.orders["order_id"]))[:300])
    rows = [i for i, o in enumerate(sc.orders["order_id"]) if o in keep]
    sc.orders = {k: [v[i] for i in rows] for k, v in sc.orders.items()}
    net = bench.network_of(sc)
    batch, arrival = bench.day_orders(sc, net)
    return sc, net, batch, arrival


@pytest.mark.parametrize("policy", [p for p in bench.POLICIES if p != "hindsight"])
def test_every_line_decided_once_and_no_store_sends_past_its_hourly_capacity(day, policy):
    _sc, net, batch, arrival = day
    cap = np.where(net.kind == "store", 1.0, np.inf)  # one package per store and hour
    r = bench.simulate(net, batch, arrival, policy=policy, time_limit_s=0.5, reroute_every=30, hold_min=10,
                       capacity_per_hour=cap)
    assert list(r.order_id) == list(batch.order_id)
    assert int(r.lines.sum()) == batch.n_lines
    k = r.kpis()
    assert k["orders"] == len(batch) and 0 <= k["on_time_rate"] <= 1
    # the packages the stores sent are the orders' packages plus the transfers
    assert r.store_packages.sum() == r.packages.sum() + r.transfers.sum()
    # the packages each store sent in each clock hour never exceed its capacity per hour
    # (one an hour here, so the demo's stores run out), and they add up to its total
    spent = np.zeros(len(net), np.int64)
    for (s, h), k in r.hour_packages.items():
        assert k <= r.capacity_per_hour[s], (net.store_ids[s], h, k)
        spent[s] += k
    assert np.array_equal(spent, r.store_packages)
    again = bench.simulate(net, batch, arrival, policy=policy, time_limit_s=0.5, reroute_every=30, hold_min=10,
                           capacity_per_hour=cap)
    assert np.array_equal(np.nan_to_num(r.eta), np.nan_to_num(again.eta))
    assert r.kpis()["total_cost"] == pytest.approx(again.kpis()["total_cost"])


def test_sell_takes_stock_once_and_refuses_more_than_is_left(day):
    _, net, batch, _ = day
    router = Router(net)
    d = router.route(bench.Order.from_batch(batch, 0, net.store_ids), reserve=False)
    filled = [r for r in d.rows if r["mode"] not in ("unfilled", "parcel")]
    assert filled
    r0 = filled[0]
    before = router.available(r0["source_id"], r0["sku"])
    router.sell(filled)
    assert router.available(r0["source_id"], r0["sku"]) <= before - r0["qty"]
    left = router.available(r0["source_id"], r0["sku"])
    with pytest.raises(ValueError, match="available"):
        router.sell([dict(r0, qty=left + 1)])
    assert router.available(r0["source_id"], r0["sku"]) == left  # nothing changed


@pytest.mark.parametrize("spec, kind", [("close:S00001,S00002", "close"), ("open:31.2,121.4;31.3,121.5", "open"),
                                        ("stock:x2", "stock"), ("stock:x1.5:top500", "stock"),
                                        ("handling:6", "handling"), ("capacity:20", "capacity")])
def test_what_if_specs_parse(spec, kind):
    assert bench.parse_what_if(spec).kind == kind


@pytest.mark.parametrize("spec", ["close:", "open:31.2", "open:91,0", "stock:2", "stock:x-1", "stock:x2:top0",
                                  "handling:abc", "capacity:2.5", "grow:1"])
def test_bad_what_if_specs_are_refused_with_the_spec_named(spec):
    with pytest.raises(ValueError, match="--what-if"):
        bench.parse_what_if(spec)


def test_what_ifs_change_the_network_not_the_orders(day):
    sc = day[0]
    closed = bench.apply_what_if(sc, bench.parse_what_if("close:S00000"))
    assert "S00000" not in closed.stores["store_id"] and "S00000" not in closed.inventory["store_id"]
    opened = bench.apply_what_if(sc, bench.parse_what_if("open:31.23,121.47"))
    assert "NEW001" in opened.stores["store_id"] and "NEW001" in opened.inventory["store_id"]
    doubled = bench.apply_what_if(sc, bench.parse_what_if("stock:x2"))
    assert sum(map(int, doubled.inventory["on_hand"])) > sum(map(int, sc.inventory["on_hand"]))
    for v in (closed, opened, doubled):
        assert v.orders["order_id"] == sc.orders["order_id"]
    with pytest.raises(ValueError, match="no store"):
        bench.apply_what_if(sc, bench.parse_what_if("close:NOPE"))


def test_a_replan_that_keeps_an_order_where_it_was_neither_moves_it_nor_makes_it_wait(day):
    # with stock to spare no re-plan has anything to win: every order keeps its stores, its
    # ETA and its cost, split orders included (the planner calls every split order "moved")
    sc, *_ = day
    rich = bench.apply_what_if(sc, bench.parse_what_if("stock:x50"))
    net = bench.network_of(rich)
    batch, arrival = bench.day_orders(rich, net)
    online = bench.simulate(net, batch, arrival, policy="online")
    replan = bench.simulate(net, batch, arrival, policy="online+reroute", reroute_every=15)
    assert replan.n_replans > 0 and (online.packages > 1).any()
    assert replan.moved.sum() == 0
    np.testing.assert_array_equal(replan.eta, online.eta)
    np.testing.assert_allclose(replan.cost, online.cost)


def test_capacity_caps_every_store_per_clock_hour_and_leaves_the_warehouse_alone(day):
    sc, *_ = day
    # the orders arrive from 00:30 to 02:30: three clock hours, three capacities per store
    oid = sc.orders["order_id"]
    first = {o: i for i, o in reversed(list(enumerate(dict.fromkeys(oid))))}
    at = {o: 30.5 + 120.0 * k / len(first) for k, o in enumerate(first)}
    busy = bench.Scenario("busy", sc.stores, sc.inventory, {**sc.orders, "arrival_min": [at[o] for o in oid]})
    tight = bench.apply_what_if(busy, bench.parse_what_if("capacity:1"))
    net = bench.network_of(tight)
    assert np.isinf(net.capacity[net.kind == "warehouse"]).all() and (net.capacity[net.kind == "store"] == 1).all()
    batch, arrival = bench.day_orders(tight, net)
    for policy in bench.POLICIES:
        r = bench.simulate(net, batch, arrival, policy=policy, time_limit_s=0.5)
        assert r.hours == 3
        stores = r.store_kind == "store"
        assert r.store_packages[stores].max() <= 3, policy  # one package (or transfer) per store per hour
        assert r.kpis()["store_utilisation_max"] <= 1.0
        assert r.kpis()["parcels"] > 0  # the warehouse, uncapped, takes what the stores cannot


def test_bench_refuses_bad_files_naming_file_row_column_and_value_and_writes_nothing(tmp_path, capsys):
    from omnifill.cli import main

    d = tmp_path / "city"
    assert main(["generate", "city", "--out", str(d), "--stores", "20", "--orders", "50", "--skus", "60"]) == 0
    lines = (d / "orders.csv").read_text().splitlines()
    head = lines[0].split(",")
    row = lines[3].split(",")
    row[head.index("lat")] = "north"
    lines[3] = ",".join(row)
    (d / "orders.csv").write_text("\n".join(lines) + "\n")
    with open(d / "inventory.csv", "a") as fh:
        fh.write("NOPE,SKU00001,3,0\n")
    out = tmp_path / "out"
    assert main(["bench", "--scenario", str(d), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "orders.csv" in err and "row 3" in err and "lat" in err and "north" in err
    assert "inventory.csv" in err and "NOPE" in err
    assert not out.exists()


def test_online_counts_from_the_option_what_the_rows_say(day):
    # record_decision (online's fast path) and record (from the plan rows) agree, order by order
    _, net, batch, arrival = day
    from omnifill.model import Order

    # a 60-minute delivery area: with the default 90 minutes the demo's first 300 orders all
    # find a store, and the day would have no parcel to count
    router = Router(net, net.config.with_(limits={"max_courier_min": 60.0}))
    by_option, by_rows = bench._Stats(net, len(batch)), bench._Stats(net, len(batch))
    for i in np.lexsort((np.arange(len(batch)), arrival)).tolist():
        o = Order.from_batch(batch, i, net.store_ids)
        d = router.route(o)
        by_option.record_decision(i, d, len(o.lines))
        by_rows.record(i, d.rows, 0.0, moved=False)
        router.complete(o.order_id)
    for name in ("lines", "unfilled", "packages", "transfers", "parcels", "store_packages"):
        np.testing.assert_array_equal(getattr(by_option, name), getattr(by_rows, name), err_msg=name)
    np.testing.assert_allclose(by_option.eta, by_rows.eta, equal_nan=True)
    assert by_rows.transfers.sum() > 0 and by_rows.parcels.sum() > 0  # the day has both kinds


# --- rejections ----------------------------------------------------------------------------------

def test_rejections_reroute_every_line_once_within_hourly_capacity_and_the_same_seed_the_same_day(day):
    _sc, net, batch, arrival = day
    cap = np.where(net.kind == "store", 2.0, np.inf)
    rates = np.where(net.kind == "store", 0.8, 1.0)
    r = bench.simulate(net, batch, arrival, policy="online", capacity_per_hour=cap, accept=rates, reject_delay=15.0)
    assert list(r.order_id) == list(batch.order_id) and int(r.lines.sum()) == batch.n_lines
    k = r.kpis()
    # about one line in five given to a store is rejected (re-routed lines are drawn again)
    assert k["rejected_lines"] > 0 and 0.1 < k["rejected_line_rate"] < 0.4
    assert k["rejected_orders"] == int((r.rejected_lines > 0).sum()) <= k["reroutes"]
    assert k["rejection_extra_cost"] == pytest.approx(float((r.cost - r.first_cost)[r.rejected_lines > 0].sum()))
    assert 0 <= k["rejection_on_time_loss"] <= 1
    # an order re-routed leaves later: a package from a re-route arrives after the delay
    assert (r.eta[r.rejected_lines > 0] >= 15.0).all()
    spent = np.zeros(len(net), np.int64)
    for (s, h), n in r.hour_packages.items():
        assert n <= r.capacity_per_hour[s], (net.store_ids[s], h, n)
        spent[s] += n
    assert np.array_equal(spent, r.store_packages)
    assert r.store_packages.sum() == r.packages.sum() + r.transfers.sum()
    again = bench.simulate(net, batch, arrival, policy="online", capacity_per_hour=cap, accept=rates,
                           reject_delay=15.0)
    assert np.array_equal(np.nan_to_num(r.eta), np.nan_to_num(again.eta))
    assert np.array_equal(r.rejected_lines, again.rejected_lines)


def test_stores_that_accept_everything_give_the_day_without_rejections(day):
    _sc, net, batch, arrival = day
    plain = bench.simulate(net, batch, arrival, policy="online")
    ones = bench.simulate(net, batch, arrival, policy="online", accept=np.ones(len(net)))
    assert np.array_equal(np.nan_to_num(plain.eta), np.nan_to_num(ones.eta))
    assert plain.kpis()["total_cost"] == ones.kpis()["total_cost"] and "rejected_lines" not in ones.kpis()
    # fewer acceptances, more rejections
    lo = bench.simulate(net, batch, arrival, policy="online", accept=0.7).kpis()
    hi = bench.simulate(net, batch, arrival, policy="online", accept=0.95).kpis()
    assert lo["rejected_lines"] > hi["rejected_lines"] > 0


def test_rejections_are_refused_under_a_policy_that_sells_plans(day):
    _sc, net, batch, arrival = day
    for policy in ("hold", "online+reroute"):
        with pytest.raises(ValueError, match="only under online"):
            bench.simulate(net, batch, arrival, policy=policy, accept=0.9)


def test_the_accept_what_if_and_the_stores_file_column_set_the_rates(day, tmp_path):
    sc, net, _batch, _ = day
    assert bench.parse_what_if("accept:0.9").value == 0.9
    for bad in ("accept:1.5", "accept:x"):
        with pytest.raises(ValueError, match="--what-if"):
            bench.parse_what_if(bad)
    v = bench.apply_what_if(sc, bench.parse_what_if("accept:0.9"))
    rates = bench.accept_rates(v, bench.network_of(v))
    assert rates is not None and set(rates[net.kind == "store"]) == {0.9} and set(rates[net.kind != "store"]) == {1.0}
    assert bench.accept_rates(sc, net) is None and bench.accept_rates(sc, net, 0.5)[0] == 0.5
    # a row's accept_rate wins over the default; a bad one is refused naming the file
    import csv

    from omnifill.scenarios import demo_paths

    paths = demo_paths()
    d = tmp_path / "sc"
    d.mkdir()
    rows = list(csv.DictReader(open(paths["stores"])))
    rows[0]["accept_rate"] = "0.25"
    with open(d / "stores.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    for name in ("inventory", "orders"):
        (d / f"{name}.csv").write_text(paths[name].read_text())
    s2 = bench.load_scenario(str(d))
    r2 = bench.accept_rates(s2, bench.network_of(s2), 0.9)
    n2 = bench.network_of(s2)
    assert r2[list(n2.store_ids).index(rows[0]["store_id"])] == 0.25
    rows[1]["accept_rate"] = "1.2"
    with open(d / "stores.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    from omnifill.errors import InputError

    with pytest.raises(InputError, match="accept_rate"):
        bench.load_scenario(str(d))


def test_bench_reports_rejections_in_kpis_and_report(tmp_path):
    import json

    from omnifill.cli import main

    out = tmp_path / "out"
    assert main(["bench", "--scenario", "demo", "--policy", "online", "--accept", "0.9", "--reject-delay", "5",
                 "--what-if", "accept:1", "--out", str(out)]) == 0
    doc = json.loads((out / "kpis.json").read_text())
    assert doc["params"]["accept"] == 0.9 and doc["params"]["reject_delay_min"] == 5.0
    base, whatif = doc["runs"]
    assert base["kpis"]["rejected_lines"] > 0 and "rejected_lines" not in whatif["kpis"]
    html = (out / "report.html").read_text()
    assert "rejected lines" in html and "rejections: extra cost" in html and "rejections: on-time loss" in html
    assert main(["bench", "--scenario", "demo", "--policy", "hold", "--accept", "0.9", "--out",
                 str(tmp_path / "no")]) == 2
    assert not (tmp_path / "no").exists()


def test_online_accept_routes_around_stores_that_reject_and_keeps_every_line(day):
    _sc, net, batch, arrival = day
    rng = np.random.default_rng(5)
    rates = np.where(net.kind == "store", np.where(rng.random(len(net)) < 0.3, 0.5, 0.98), 1.0)
    plain = bench.simulate(net, batch, arrival, policy="online", accept=rates, seed=1)
    aware = bench.simulate(net, batch, arrival, policy="online+accept", accept=rates, seed=1)
    assert int(aware.lines.sum()) == batch.n_lines and list(aware.order_id) == list(batch.order_id)
    # it sends fewer lines to the stores that reject half of theirs
    bad = set(np.flatnonzero(rates == 0.5).tolist())
    sent_bad = [sum(r.store_packages[s] for s in bad) for r in (plain, aware)]
    assert sent_bad[1] < sent_bad[0]
    assert aware.kpis()["rejected_lines"] < plain.kpis()["rejected_lines"]
    # with every store accepting, it is online
    same = bench.simulate(net, batch, arrival, policy="online+accept")
    base = bench.simulate(net, batch, arrival, policy="online")
    assert same.kpis()["total_cost"] == base.kpis()["total_cost"]


# --- hindsight -----------------------------------------------------------------------------------

def test_hindsight_plans_the_whole_day_within_the_pooled_capacity_and_every_run_reports_its_gap(day, tmp_path):
    _sc, net, batch, arrival = day
    cap = np.where(net.kind == "store", 1.0, np.inf)
    h = bench.simulate(net, batch, arrival, policy="hindsight", capacity_per_hour=cap, hindsight_limit_s=5.0)
    assert list(h.order_id) == list(batch.order_id) and int(h.lines.sum()) == batch.n_lines
    assert h.lower_bound is not None and h.lower_bound <= h.kpis()["total_cost"] + 1e-6
    # one plan for the day: each store within its capacity per hour times the day's hours
    hours = int(arrival.max() // 60) - int(arrival.min() // 60) + 1
    assert (h.store_packages <= np.where(np.isfinite(cap), cap * hours, np.inf)).all()
    assert not (h.eta[~np.isnan(h.eta)] < 0).any()
    # online's day is one plan of the relaxation (every unit sold once, each hour within
    # capacity), so the bound over every option is below it
    online = bench.simulate(net, batch, arrival, policy="online", capacity_per_hour=cap)
    assert h.lower_bound <= online.kpis()["total_cost"] + 1e-6
    import json

    from omnifill.cli import main

    out = tmp_path / "out"
    assert main(["bench", "--scenario", "demo", "--policy", "online", "hindsight", "--hindsight-limit", "5",
                 "--out", str(out)]) == 0
    doc = json.loads((out / "kpis.json").read_text())
    k = {r["policy"]: r["kpis"] for r in doc["runs"]}
    assert k["hindsight"]["gap_to_hindsight"] == 0.0
    assert k["online"]["gap_to_hindsight"] >= 0
    assert k["online"]["gap_to_hindsight_bound"] >= k["online"]["gap_to_hindsight"] - 1e-12
    assert "cost above the hindsight plan" in (out / "report.html").read_text()

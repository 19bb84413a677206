"""The bench report in a real headless browser (Debian's Chromium through Playwright): the
page loads with no console error and every chart has drawn marks. Skipped, with the reason,
where Chromium or Playwright is missing."""

import shutil

import pytest

from omnifill import bench

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    sc = bench.load_scenario("demo")
    keep = set(list(dict.fromkeys(sc.orders["order_id"]))[:200])
    rows = [i for i, o in enumerate(sc.orders["order_id"]) if o in keep]
    sc.orders = {k: [v[i] for i in rows] for k, v in sc.orders.items()}
    out = tmp_path_factory.mktemp("bench")
    doc = bench.run_bench(sc, out, policies=("online", "hold"), what_ifs=("stock:x2",), time_limit_s=0.5)
    return out, doc


def test_bench_writes_kpis_for_the_baseline_and_every_variant(report):
    out, doc = report
    assert [(r["variant"], r["policy"]) for r in doc["runs"]] == [
        ("baseline", "online"), ("baseline", "hold"), ("stock:x2", "online"), ("stock:x2", "hold")]
    for r in doc["runs"]:
        assert 0 <= r["kpis"]["on_time_rate"] <= 1
    text = (out / "report.html").read_text()
    assert "<script src" not in text and "http://" not in text.replace("http://www.w3.org", "")


def test_the_differences_compare_variants_and_policies_never_a_run_with_itself(report):
    from omnifill.report import diff_table

    _, doc = report
    html = diff_table(doc["runs"])
    heads = [h.split("</th>")[0] for h in html.split("<th>")[2:]]
    assert heads == ["baseline / hold<br><small>against baseline / online</small>",
                     "stock:x2 / online<br><small>against baseline / online</small>",
                     "stock:x2 / hold<br><small>against baseline / hold</small>"]
    hold = next(r for r in doc["runs"] if r["variant"] == "baseline" and r["policy"] == "hold")
    online = doc["runs"][0]
    assert hold["vs_first_policy"]["total_cost"]["delta"] == pytest.approx(
        hold["kpis"]["total_cost"] - online["kpis"]["total_cost"])


def test_the_report_loads_without_console_errors_and_draws_its_charts(report):
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    out, _ = report
    errors = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((out / "report.html").as_uri())
            assert page.evaluate("document.body.dataset.ready") == "1"
            charts = page.evaluate("""() => Array.from(document.querySelectorAll('details')).forEach(d => d.open = true)
                || Array.from(document.querySelectorAll('svg.chart')).map(svg => {
                  const marks = Array.from(svg.querySelectorAll('.mark'));
                  return marks.filter(m => { const b = m.getBBox(); return b.width > 0 && b.height > 0; }).length;
                })""")
            # four bar charts, four histograms, four maps; each with drawn marks
            assert len(charts) == 12 and all(n > 0 for n in charts), charts
            # nothing drawn outside its chart (a legend of four runs wraps rather than overflow)
            outside = page.evaluate("""() => Array.from(document.querySelectorAll('svg.chart')).flatMap(svg => {
                  const W = svg.viewBox.baseVal.width, H = svg.viewBox.baseVal.height;
                  return Array.from(svg.querySelectorAll('text')).filter(t => {
                    const b = t.getBBox();
                    return b.x < -0.5 || b.y < -0.5 || b.x + b.width > W + 0.5 || b.y + b.height > H + 0.5;
                  }).map(t => svg.getAttribute('aria-label') + ': ' + t.textContent);
                })""")
            assert outside == []
            # the legend hides a map layer
            page.locator("input[data-map=map0][data-layer=on_time]").uncheck()
            assert page.evaluate("getComputedStyle(document.querySelector('#map0 .on_time')).display") == "none"
        finally:
            browser.close()
    assert errors == []


def test_reroute_writes_a_report_of_its_plan(tmp_path):
    from omnifill.cli import main
    from omnifill.scenarios import demo_paths

    d = demo_paths()
    rc = main(["reroute", "--stores", str(d["stores"]), "--inventory", str(d["inventory"]), "--orders",
               str(d["orders"]), "--out", str(tmp_path / "plan.csv"), "--report", str(tmp_path / "plan.html"),
               "--time-limit", "1"])
    assert rc == 0
    text = (tmp_path / "plan.html").read_text()
    assert text.count('class="chart') >= 3 and "objective" in text
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_eta_histograms_of_a_report_share_one_count_scale():
    import re

    from omnifill.report import bench_report

    def day(n):  # the demo day's first n orders, online
        sc = bench.load_scenario("demo")
        keep = set(list(dict.fromkeys(sc.orders["order_id"]))[:n])
        rows = [i for i, o in enumerate(sc.orders["order_id"]) if o in keep]
        sc.orders = {k: [v[i] for i in rows] for k, v in sc.orders.items()}
        net = bench.network_of(sc)
        return bench.simulate(net, *bench.day_orders(sc, net), policy="online")

    results = [day(600), day(40)]  # counts of very different size
    doc = {"runs": [{"variant": v, "policy": "online", "kpis": r.kpis()} for v, r in zip(("all", "few"), results)]}
    html = bench_report(results, doc)
    eta = html[html.index("<h2>ETA</h2>"):html.index("<h2>Maps</h2>")]
    ticks = [re.findall(r'text-anchor="end">([^<]+)</text>', c) for c in eta.split('<svg class="chart"')[1:]]
    assert len(ticks) == 2 and ticks[0] == ticks[1]


def test_a_plan_on_road_times_with_road_zones_draws_the_graph_and_the_zones(tmp_path):
    # the demo city on a grid of two-way streets: omnifill zones writes each store's reach by
    # road, reroute plans on road times with those zones, and its report draws both
    import csv

    import numpy as np

    from omnifill.cli import main
    from omnifill.scenarios import demo_paths

    d = demo_paths()
    with open(d["stores"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    lat = np.array([float(r["lat"]) for r in rows])
    lon = np.array([float(r["lon"]) for r in rows])
    la = np.linspace(lat.min() - 0.02, lat.max() + 0.02, 14)
    lo = np.linspace(lon.min() - 0.02, lon.max() + 0.02, 14)
    nodes = tmp_path / "nodes.csv"
    nodes.write_text("node_id,lat,lon\n" + "".join(f"N{i}_{j},{float(la[i])!r},{float(lo[j])!r}\n"
                                                   for i in range(14) for j in range(14)))
    streets = [((i, j), (i + di, j + dj)) for i in range(14) for j in range(14) for di, dj in ((1, 0), (0, 1))
               if i + di < 14 and j + dj < 14]
    edges = tmp_path / "edges.csv"
    edges.write_text("from_node,to_node,minutes\n" + "".join(
        f"N{a[0]}_{a[1]},N{b[0]}_{b[1]},1.5\nN{b[0]}_{b[1]},N{a[0]}_{a[1]},1.5\n" for a, b in streets))
    conf = tmp_path / "omnifill.toml"
    conf.write_text('[travel]\nprovider = "road"\nroad_nodes = "nodes.csv"\nroad_edges = "edges.csv"\n')
    zones = tmp_path / "zones.geojson"
    assert main(["zones", "--stores", str(d["stores"]), "--road-nodes", str(nodes), "--road-edges", str(edges),
                 "--out", str(zones)]) == 0
    rc = main(["reroute", "--stores", str(d["stores"]), "--inventory", str(d["inventory"]), "--orders",
               str(d["orders"]), "--zones", str(zones), "--config", str(conf), "--out", str(tmp_path / "plan.csv"),
               "--report", str(tmp_path / "plan.html"), "--time-limit", "1"])
    assert rc == 0
    text = (tmp_path / "plan.html").read_text()
    assert 'class="roads"' in text and 'class="zones tier30"' in text and 'class="zones tier60"' in text
    assert "the road graph (nodes.csv + edges.csv, 196 nodes, 364 streets)" in text

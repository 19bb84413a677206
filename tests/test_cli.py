"""The omnifill command: exit codes, messages, no tracebacks for user mistakes, nothing written."""

import os
import subprocess
import sys

import pytest
from conftest import DATA

from omnifill.cli import main
from omnifill.scenarios import demo_paths


def run(*args):
    return subprocess.run([sys.executable, "-m", "omnifill.cli", *args], capture_output=True, text=True, timeout=120)


def test_demo_runs_and_summarises(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "demo city: 60 stores" in out and "30-minute promise" in out and "60-minute promise" in out


def test_console_script_demo():
    r = subprocess.run(["omnifill", "demo"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "2,000 orders" in r.stdout


def test_validate_accepts_the_demo_city(capsys):
    p = demo_paths()
    assert main(["validate", "--stores", str(p["stores"]), "--inventory", str(p["inventory"]),
                 "--orders", str(p["orders"])]) == 0
    assert "valid: 61 stores" in capsys.readouterr().out


def test_validate_lists_every_problem_and_exits_2(tmp_path):
    (tmp_path / "stores.csv").write_text("store_id,lat,lon\nA,31.2,121.4\nA,95,121.4\n")
    (tmp_path / "inv.csv").write_text("store_id,sku,on_hand\nA,x,-4\nQ,x,1\n")
    (tmp_path / "orders.csv").write_text("order_id,lat,lon,sku,qty\no,31.2,121.4,x,0\n")
    (tmp_path / "omnifill.toml").write_text("[travel]\nspeed = 3\n")
    before = sorted(os.listdir(tmp_path))
    r = run("validate", "--stores", str(tmp_path / "stores.csv"), "--inventory", str(tmp_path / "inv.csv"),
            "--orders", str(tmp_path / "orders.csv"), "--config", str(tmp_path / "omnifill.toml"))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    for needle in ["stores.csv, row 2 (line 3), column 'store_id': value 'A'",
                   "stores.csv, row 2 (line 3), column 'lat': value '95'",
                   "inv.csv, row 1 (line 2), column 'on_hand': value '-4'",
                   "inv.csv, row 2 (line 3), column 'store_id': value 'Q'",
                   "orders.csv, row 1 (line 2), column 'qty': value '0'",
                   "omnifill.toml, column 'travel.speed'"]:
        assert needle in r.stderr, r.stderr
    assert sorted(os.listdir(tmp_path)) == before  # nothing written


def test_validate_caps_the_list(tmp_path):
    rows = "".join(f"S{i},95,121.4\n" for i in range(30))
    (tmp_path / "s.csv").write_text("store_id,lat,lon\n" + rows)
    (tmp_path / "i.csv").write_text("store_id,sku,on_hand\nS1,x,1\n")
    (tmp_path / "o.csv").write_text("order_id,lat,lon,sku,qty\no,31.2,121.4,x,1\n")
    r = run("validate", "--stores", str(tmp_path / "s.csv"), "--inventory", str(tmp_path / "i.csv"),
            "--orders", str(tmp_path / "o.csv"), "--max-errors", "5")
    assert r.returncode == 2
    assert r.stderr.count("column 'lat'") == 5 and "more problems not shown" in r.stderr


@pytest.mark.parametrize("files", [
    ("missing.csv", "tiny_inventory.csv", "tiny_orders.csv"),
    ("tiny_stores.csv", "tiny_inventory.csv", "orders.xlsx"),
])
def test_validate_missing_or_unknown_files(files):
    s, i, o = (str(DATA / f) for f in files)
    r = run("validate", "--stores", s, "--inventory", i, "--orders", o)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert ("file not found" in r.stderr) or ("unknown file type" in r.stderr)


def test_validate_the_tiny_city():
    r = run("validate", "--stores", str(DATA / "tiny_stores.csv"), "--inventory", str(DATA / "tiny_inventory.csv"),
            "--orders", str(DATA / "tiny_orders.csv"))
    assert r.returncode == 0, r.stderr
    assert "valid: 5 stores, 8 inventory rows, 3 orders" in r.stdout


def _route_files(tmp_path, orders):
    import json

    p = tmp_path / "orders.jsonl"
    p.write_text("".join(json.dumps(o) + "\n" for o in orders))
    return ["route", str(p), "--stores", str(DATA / "tiny_stores.csv"), "--inventory", str(DATA / "tiny_inventory.csv")]


def test_route_prints_one_decision_per_order_in_input_order(tmp_path):
    import json

    o = {"lat": 31.23, "lon": 121.488, "promise_min": 30, "lines": [{"sku": "milk", "qty": 1}]}
    args = _route_files(tmp_path, [{"order_id": "o1", **o}, {"order_id": "o2", **o}, {"order_id": "o3", **o}])
    r = run(*args)
    assert r.returncode == 0, r.stderr
    got = [json.loads(x) for x in r.stdout.splitlines()]
    assert [d["order_id"] for d in got] == ["o1", "o2", "o3"]
    # mid (nearest) holds one milk: the first order takes it, the next go elsewhere
    assert got[0]["rows"][0]["source_id"] == "mid"
    assert got[1]["rows"][0]["source_id"] != "mid"
    assert all(d["reserved"] for d in got) and "explanation" in got[0]
    assert "3 orders" in r.stderr
    r2 = run(*args, "--no-reserve", "--no-explain")
    got2 = [json.loads(x) for x in r2.stdout.splitlines()]
    assert [d["rows"][0]["source_id"] for d in got2] == ["mid"] * 3
    assert "explanation" not in got2[0] and not got2[0]["reserved"]


def test_route_reads_the_orders_csv_too():
    r = run("route", str(DATA / "tiny_orders.csv"), "--stores", str(DATA / "tiny_stores.csv"),
            "--inventory", str(DATA / "tiny_inventory.csv"))
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 3


def test_route_bad_input_names_file_line_and_field_and_prints_nothing(tmp_path):
    p = tmp_path / "orders.jsonl"
    p.write_text('{"order_id": "a", "lat": 31.2, "lon": 121.4, "lines": [{"sku": "milk", "qty": 1}]}\n'
                 '\n'
                 '{"order_id": "b", "lat": 31.2, "lon": 121.4, "lines": [{"sku": "milk", "qty": -1}]}\n'
                 '{"order_id": "c", "lat": 31.2, "lon": 121.4, "lines": [{"sku": "milk", "qty": 1}], '
                 '"mode": "pickup", "pickup_store": "nowhere"}\n'
                 '{broken\n')
    r = run("route", str(p), "--stores", str(DATA / "tiny_stores.csv"), "--inventory", str(DATA / "tiny_inventory.csv"))
    assert r.returncode == 2
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    assert "orders.jsonl, row 2 (line 3), column 'lines[0].qty': value -1" in r.stderr
    assert "row 3 (line 4), column 'pickup_store': value 'nowhere'" in r.stderr
    assert "row 4 (line 5)" in r.stderr and "not valid JSON" in r.stderr


def test_reroute_writes_plan_and_summary_and_exit_codes(tmp_path):
    import csv
    import json

    out, summ = tmp_path / "plan.csv", tmp_path / "summary.json"
    base = ["reroute", "--stores", str(DATA / "tiny_stores.csv"), "--inventory", str(DATA / "tiny_inventory.csv")]
    r = run(*base, "--orders", str(DATA / "tiny_orders.csv"), "--out", str(out), "--summary", str(summ),
            "--time-limit", "5")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 4 and {x["order_id"] for x in rows} == {"a", "b", "c"}
    s = json.loads(summ.read_text())
    assert s["lines_in"] == s["lines_out"] == 4 and s["objective"] <= s["greedy_objective"] + 1e-6
    assert "objective" in r.stderr and "lower bound" in r.stderr
    # an order no store stocks a line of: exit 3 with --fail-on-unfilled, the plan still written
    (tmp_path / "o.csv").write_text("order_id,lat,lon,sku,qty\nz,31.23,121.472,caviar,1\n")
    r = run(*base, "--orders", str(tmp_path / "o.csv"), "--out", str(tmp_path / "p2.jsonl"), "--fail-on-unfilled")
    assert r.returncode == 3, r.stderr
    assert json.loads((tmp_path / "p2.jsonl").read_text())["reason"] == "sku_not_stocked"


def test_reroute_invalid_input_writes_nothing(tmp_path):
    (tmp_path / "o.csv").write_text("order_id,lat,lon,sku,qty\nz,31.23,121.472,milk,0\n")
    out = tmp_path / "plan.csv"
    r = run("reroute", "--stores", str(DATA / "tiny_stores.csv"), "--inventory", str(DATA / "tiny_inventory.csv"),
            "--orders", str(tmp_path / "o.csv"), "--out", str(out), "--summary", str(tmp_path / "s.json"))
    assert r.returncode == 2
    assert "o.csv, row 1 (line 2), column 'qty': value '0'" in r.stderr
    assert not out.exists() and not (tmp_path / "s.json").exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "o.csv"]

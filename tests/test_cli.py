"""The omnifill command: exit codes, messages, no tracebacks for user mistakes, nothing written."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

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


def console_script() -> str:
    """The installed ``omnifill`` command: next to this Python (an unactivated virtual
    environment's bin/ is not on PATH), else on PATH."""
    here = Path(sys.executable).parent / ("omnifill.exe" if os.name == "nt" else "omnifill")
    found = str(here) if here.exists() else shutil.which("omnifill")
    assert found, "the omnifill console script is not installed"
    return found


def test_console_script_demo():
    r = subprocess.run([console_script(), "demo"], capture_output=True, text=True, timeout=120)
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


def test_route_replays_rejections_cancels_shipments_and_stock_counts_in_file_order(tmp_path):
    import json

    o = {"lat": 31.23, "lon": 121.488, "promise_min": 30, "lines": [{"sku": "milk", "qty": 1}]}
    stream = [{"order_id": "o1", **o},
              {"event": "reject", "order_id": "o1", "store_id": "mid", "reason": "not_in_stock", "elapsed_min": 3},
              {"order_id": "o2", **o},  # mid is excluded now: not there
              {"event": "stock", "store_id": "mid", "sku": "milk", "on_hand": 2},  # counted: back
              {"order_id": "o3", **o},
              {"event": "cancel", "order_id": "o2"},
              {"event": "ship", "order_id": "o3"},
              {"event": "reject", "order_id": "o1", "store_id": "near", "skus": ["milk"], "reason": "mismatch",
               "found": 0}]
    args = _route_files(tmp_path, stream)
    r = run(*args)
    assert r.returncode == 0, r.stderr
    got = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(d.get("event"), d["order_id"]) for d in got] == [
        (None, "o1"), ("reject", "o1"), (None, "o2"), (None, "o3"), ("reject", "o1")]
    src = [d["rows"][0]["source_id"] for d in got]
    assert src[0] == "mid" and src[1] != "mid" and src[2] != "mid" and src[3] == "mid"
    assert src[1] == "near" and src[4] not in ("mid", "near")
    assert got[1]["rows"][0]["eta_min"] > got[0]["rows"][0]["eta_min"]  # 3 minutes later, farther
    assert [x["reason"] for x in got[4]["explanation"]["rejections"]] == ["not_in_stock", "mismatch"]
    assert "2 rejections re-routed, 1 cancelled, 1 shipped, 1 stock counts" in r.stderr


def test_route_refuses_bad_events_naming_the_line_and_prints_nothing(tmp_path):
    o = {"lat": 31.23, "lon": 121.488, "promise_min": 30, "lines": [{"sku": "milk", "qty": 1}]}
    # found before routing: every one listed
    args = _route_files(tmp_path, [
        {"order_id": "o1", **o},
        {"event": "reject", "order_id": "o9", "store_id": "mid"},
        {"event": "reject", "order_id": "o1", "store_id": "nowhere"},
        {"event": "reject", "order_id": "o1", "store_id": "mid", "reason": "lost"},
        {"event": "reject", "order_id": "o1", "store_id": "mid", "reason": "mismatch"},
        {"event": "stock", "store_id": "mid", "sku": "milk", "on_hand": -1},
        {"event": "teleport", "order_id": "o1"},
        {"event": "cancel"},
        {"event": "ship", "order_id": "o1", "when": 3}])
    r = run(*args)
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    for where, what in [("row 2 (line 2), column 'order_id'", "no earlier line"),
                        ("row 3 (line 3), column 'store_id'", "unknown store"),
                        ("row 4 (line 4), column 'reason'", "unknown reason"),
                        ("row 5 (line 5), column 'found'", "needs found"),
                        ("row 6 (line 6), column 'on_hand'", ">= 0"),
                        ("row 7 (line 7), column 'event'", "unknown event"),
                        ("row 8 (line 8), column 'order_id'", "is missing"),
                        ("row 9 (line 9), column 'when'", "unknown field")]:
        assert where in r.stderr and what in r.stderr, (where, r.stderr)
    # found only by the replay: a line the store was not given, an order cancelled twice
    for bad, col in [({"event": "reject", "order_id": "o1", "store_id": "far"}, "store_id"),
                     ({"event": "reject", "order_id": "o1", "store_id": "mid", "skus": ["bread"]}, "skus"),
                     ({"event": "cancel", "order_id": "o1"}, "order_id")]:
        stream = [{"order_id": "o1", **o}, {"event": "cancel", "order_id": "o1"}] if col == "order_id" else [
            {"order_id": "o1", **o}]
        r = run(*_route_files(tmp_path, stream + [bad]))
        assert r.returncode == 2 and r.stdout == "", r.stderr
        assert f"row {len(stream) + 1} (line {len(stream) + 1}), column '{col}'" in r.stderr, r.stderr
    r = run(*_route_files(tmp_path, [{"order_id": "o1", **o}, {"event": "cancel", "order_id": "o1"}]),
            "--no-reserve")
    assert r.returncode == 2 and "cannot replay events" in r.stderr


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


@pytest.mark.parametrize("qty", ["1e999", "NaN", "-Infinity", "1e20", "0", "2.5"])
def test_a_bad_quantity_in_json_lines_exits_2_naming_the_line(tmp_path, qty):
    p = demo_paths()
    orders = tmp_path / "orders.jsonl"
    orders.write_text('{"order_id": "A", "lat": 31.23, "lon": 121.47, "lines": [{"sku": "SKU00001", "qty": '
                      + qty + '}]}\n')
    for cmd in (["route", str(orders)], ["reroute", "--orders", str(orders), "--out", str(tmp_path / "plan.csv")]):
        r = run(*cmd, "--stores", str(p["stores"]), "--inventory", str(p["inventory"]))
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr and "row 1" in r.stderr and "qty" in r.stderr
        assert r.stdout == ""
    assert not (tmp_path / "plan.csv").exists()


def test_config_ranges_flags_and_output_folders_are_checked_before_any_work(tmp_path):
    p = demo_paths()
    files = ["--stores", str(p["stores"]), "--inventory", str(p["inventory"]), "--orders", str(p["orders"])]
    bad = tmp_path / "omnifill.toml"
    bad.write_text("[limits]\nmax_packages = 40\n")
    r = run("validate", *files, "--config", str(bad))
    assert r.returncode == 2 and "limits.max_packages" in r.stderr and "40" in r.stderr
    out = tmp_path / "plan.csv"
    r = run("reroute", *files, "--config", str(bad), "--out", str(out))
    assert r.returncode == 2 and "Traceback" not in r.stderr and not out.exists()
    r = run("reroute", *files, "--out", str(out), "--time-limit", "-5")
    assert r.returncode == 2 and "--time-limit" in r.stderr and not out.exists()
    # a summary into a folder that does not exist: refused before the re-plan, nothing written
    r = run("reroute", *files, "--out", str(out), "--summary", str(tmp_path / "nowhere" / "s.json"))
    assert r.returncode == 2 and "--summary" in r.stderr and "does not exist" in r.stderr
    assert "omnifill reroute:" not in r.stderr  # no work began
    assert not out.exists()
    r = run("reroute", *files, "--out", str(tmp_path / "nowhere" / "plan.csv"))
    assert r.returncode == 2 and "--out" in r.stderr


def test_the_plan_and_the_summary_are_written_together_or_not_at_all(tmp_path, monkeypatch):
    # the summary's write fails after the plan's: neither file appears
    from omnifill import cli, io

    p = demo_paths()
    real = io.write_text

    def failing(path, text):
        if str(path).endswith("s.json"):
            raise OSError("disk full")
        real(path, text)

    monkeypatch.setattr(cli, "write_text", failing)
    with pytest.raises(OSError):
        main(["reroute", "--stores", str(p["stores"]), "--inventory", str(p["inventory"]), "--orders",
              str(p["orders"]), "--out", str(tmp_path / "plan.csv"), "--summary", str(tmp_path / "s.json"),
              "--time-limit", "1", "--policy", "greedy"])
    assert sorted(x.name for x in tmp_path.iterdir()) == []


def test_validate_checks_every_orders_city_and_current_store_as_reroute_would(tmp_path):
    p = demo_paths()
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,lat,lon,sku,qty,city,current_store\n"
                      "A,31.23,121.47,SKU00001,1,Atlantis,\n"
                      "B,31.23,121.47,SKU00001,1,,W00\n"
                      "C,35.00,121.47,SKU00001,1,,S00001\n")
    files = ["--stores", str(p["stores"]), "--inventory", str(p["inventory"]), "--orders", str(orders)]
    r = run("validate", *files)
    assert r.returncode == 2
    assert "orders.csv, row 1, column 'city': value 'Atlantis'" in r.stderr
    assert "orders.csv, row 3, column 'current_store': value 'S00001'" in r.stderr and "delivery area" in r.stderr
    assert "row 2 " not in r.stderr  # staying at the warehouse is a parcel: fine
    r = run("reroute", *files, "--out", str(tmp_path / "plan.csv"))
    assert r.returncode == 2 and "current_store" in r.stderr and not (tmp_path / "plan.csv").exists()

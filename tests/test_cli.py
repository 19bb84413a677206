"""The omnifill command: exit codes, messages, no tracebacks for user mistakes, nothing written."""

import os
import subprocess
import sys

import pytest

from omnifill.cli import main
from omnifill.scenarios import demo_paths

from conftest import DATA


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

"""Partitioned (national) planning: the same plan on every executor, faults, resume, inputs.

The executors are real: a Dask LocalCluster of two worker processes, and a scheduler with two
workers started with the ``dask`` command on loopback. Skipped when Dask or pyarrow is absent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from omnifill.cli import main
from omnifill.errors import InputError
from omnifill.national import NationalSpec, write_national
from omnifill.partitions import FAILED, Job, discover, plan_city, plan_partitioned

SPEC = NationalSpec(n_cities=4, n_orders=1600, megacities=(40,), tail_top=25, min_stores=5, n_skus=400, seed=3)
LIMIT = 2.0


@pytest.fixture(scope="module")
def national(tmp_path_factory):
    d = tmp_path_factory.mktemp("national") / "scenario"
    return write_national(d, SPEC)


@pytest.fixture(scope="module")
def baseline(national, tmp_path_factory):
    out = tmp_path_factory.mktemp("base") / "plan.parquet"
    s = plan_partitioned(national["stores"], national["inventory"], national["orders"], out, time_limit_s=LIMIT)
    return s, pq.read_table(out)


def _plan(national, out, **kw):
    s = plan_partitioned(national["stores"], national["inventory"], national["orders"], out, time_limit_s=LIMIT, **kw)
    return s, pq.read_table(out)


def test_every_line_in_is_a_line_out(national, baseline):
    s, t = baseline
    lines = sum(pq.ParquetFile(f).metadata.num_rows for f in Path(national["orders"]).rglob("*.parquet"))
    assert t.num_rows == lines == s["lines_in"] == s["lines_out"]
    assert s["partitions"]["count"] == 4 and not s["partitions"]["failed"]
    # cities in name order, each city's lines in its file's order
    cities = [r.split("-")[0] for r in t.column("order_id").to_pylist()]
    assert cities == sorted(cities)
    assert s["objective"] <= s["greedy_objective"] + 1e-6


def test_city_totals_add_up(national, baseline, tmp_path):
    """The national summary is the cities' summaries added up."""
    s, _ = baseline
    parts = discover(national["orders"])
    total = 0.0
    for p in parts:
        job = Job(p.city, str(national["stores"]), str(national["inventory"]), p.files, None, None,
                  LIMIT * p.lines / s["lines_in"], 0, "optimal")
        total += plan_city(job).summary["objective"]
    assert total == pytest.approx(s["objective"], rel=1e-12)


def test_local_cluster_and_dask_command_give_the_same_plan(national, baseline, tmp_path):
    pytest.importorskip("distributed")
    from omnifill.parallel import executor_for

    s0, t0 = baseline
    with executor_for("local", n_workers=2, log=lambda m: None) as ex:
        s1, t1 = _plan(national, tmp_path / "local.parquet", executor=ex)
    assert t1.equals(t0) and s1["objective"] == s0["objective"]
    assert len({c["city"] for c in s1["partitions"]["cities"]}) == 4

    sched_file = tmp_path / "scheduler.json"
    dask = [str(Path(sys.executable).parent / "dask")] if (Path(sys.executable).parent / "dask").exists() \
        else [sys.executable, "-m", "dask"]
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs = [subprocess.Popen(dask + ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                      "--scheduler-file", str(sched_file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)]
    try:
        deadline = time.time() + 60
        while not sched_file.exists() and time.time() < deadline:
            time.sleep(0.2)
        assert sched_file.exists(), "dask scheduler did not start"
        for _ in range(2):
            procs.append(subprocess.Popen(dask + ["worker", "--scheduler-file", str(sched_file), "--nthreads", "1",
                                                  "--host", "127.0.0.1", "--no-dashboard"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        from distributed import Client

        with Client(scheduler_file=str(sched_file), timeout="30s") as c:
            c.wait_for_workers(2, timeout=60)
        with executor_for("none", scheduler_file=sched_file, log=lambda m: None) as ex:
            s2, t2 = _plan(national, tmp_path / "tcp.parquet", executor=ex)
        assert t2.equals(t0) and s2["objective"] == s0["objective"]
        # the work really went to the two workers' processes
        assert {c["city"] for c in s2["partitions"]["cities"]} == {c["city"] for c in s0["partitions"]["cities"]}
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


# --- faults --------------------------------------------------------------------------------------

BROKEN = "c001"


def fails_for_one_city(job):
    """A task that fails every time for one city."""
    if job.city == BROKEN:
        raise RuntimeError("simulated failure")
    return plan_city(job)


def kills_its_worker_once(job):
    """A task that kills its worker process the first time it sees one city (a marker file
    beside the scenario says it has), then runs normally."""
    marker = Path(job.stores).parent / f"killed-{job.city}"
    if job.city == BROKEN and not marker.exists():
        marker.write_text(str(os.getpid()))
        os._exit(1)
    return plan_city(job)


def test_failed_city_comes_out_unfilled_then_resume_completes(national, baseline, tmp_path):
    s0, t0 = baseline
    resume = tmp_path / "resume"
    s1, t1 = _plan(national, tmp_path / "p1.parquet", resume=resume, task=fails_for_one_city)
    assert [f["city"] for f in s1["partitions"]["failed"]] == [BROKEN]
    assert "simulated failure" in s1["partitions"]["failed"][0]["error"]
    assert s1["solver_status"] == "PARTITION_FAILED"
    # nothing dropped: every line is out, the failed city's unfilled with the reason
    assert t1.num_rows == t0.num_rows and s1["lines_out"] == s0["lines_in"]
    assert s1["orders_in"] == s1["orders_out"] == s0["orders_in"]  # the failed city's orders counted too
    broken = [r for r in t1.to_pylist() if r["order_id"].startswith(BROKEN + "-")]
    assert broken and all(r["mode"] == "unfilled" and r["reason"] == FAILED for r in broken)
    assert s1["unfilled_lines"] >= len(broken)
    # the other cities planned as in the clean run
    rest = [r for r in t1.to_pylist() if not r["order_id"].startswith(BROKEN + "-")]
    assert rest == [r for r in t0.to_pylist() if not r["order_id"].startswith(BROKEN + "-")]
    # a repeated run with --resume plans only the failed city and gives the clean run's plan
    s2, t2 = _plan(national, tmp_path / "p2.parquet", resume=resume)
    assert s2["partitions"]["resumed"] == 3 and not s2["partitions"]["failed"]
    assert t2.equals(t0) and s2["objective"] == pytest.approx(s0["objective"], rel=1e-12)


def test_killed_worker_is_retried(national, baseline, tmp_path):
    pytest.importorskip("distributed")
    import cloudpickle

    from omnifill.parallel import executor_for

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    _s0, t0 = baseline
    marker = Path(national["stores"]).parent / f"killed-{BROKEN}"
    marker.unlink(missing_ok=True)
    try:
        with executor_for("local", n_workers=2, log=lambda m: None) as ex:
            s1, t1 = _plan(national, tmp_path / "k.parquet", executor=ex, task=kills_its_worker_once)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert marker.exists()  # a worker was killed
    marker.unlink()
    assert not s1["partitions"]["failed"] and t1.equals(t0)


def test_resume_refuses_another_runs_directory(national, tmp_path):
    resume = tmp_path / "r"
    _plan(national, tmp_path / "a.parquet", resume=resume)
    with pytest.raises(InputError, match="other inputs or options"):
        plan_partitioned(national["stores"], national["inventory"], national["orders"], tmp_path / "b.parquet",
                         time_limit_s=LIMIT, seed=7, resume=resume)


# --- inputs --------------------------------------------------------------------------------------

def _copy_scenario(national, dst: Path) -> dict:
    import shutil

    src = Path(national["stores"]).parent
    shutil.copytree(src, dst)
    return {"stores": dst / "stores.parquet", "inventory": dst / "inventory", "orders": dst / "orders"}


def test_bad_row_in_a_city_names_file_row_column_and_writes_nothing(national, tmp_path):
    sc = _copy_scenario(national, tmp_path / "sc")
    f = sc["orders"] / "city=c002" / "part-0.parquet"
    t = pq.read_table(f)
    qty = t.column("qty").to_pylist()
    qty[4] = -2
    pq.write_table(t.set_column(t.column_names.index("qty"), "qty", pa.array(qty, pa.int64())), f)
    out = tmp_path / "plan.parquet"
    with pytest.raises(InputError) as e:
        plan_partitioned(sc["stores"], sc["inventory"], sc["orders"], out, time_limit_s=LIMIT)
    p = e.value.problems[0]
    assert (p.file, p.row, p.column, p.value) == (str(f), 5, "qty", -2)
    assert not out.exists() and not list(tmp_path.glob(".omnifill-parts.*"))


def test_csv_partitions_and_a_single_inventory_file_give_the_same_plan(national, baseline, tmp_path):
    """The row-level path (CSV orders, one inventory file filtered per city) and the Arrow
    fast path (Parquet partitions) load the same network and orders."""
    import pyarrow.csv as pcsv

    s0, t0 = baseline
    orders = tmp_path / "orders"
    for p in discover(national["orders"]):
        (orders / f"city={p.city}").mkdir(parents=True)
        t = pq.read_table(p.files[0])
        t = t.cast(pa.schema([(f.name, pa.string() if pa.types.is_dictionary(f.type) else f.type) for f in t.schema]))
        pcsv.write_csv(t, orders / f"city={p.city}" / "part-0.csv")
    inv = pa.concat_tables([pq.read_table(f).cast(pa.schema([("store_id", pa.string()), ("sku", pa.string()),
                                                              ("on_hand", pa.int64())]))
                            for f in sorted(Path(national["inventory"]).rglob("*.parquet"))])
    pq.write_table(inv, tmp_path / "inventory.parquet")
    s1 = plan_partitioned(national["stores"], tmp_path / "inventory.parquet", orders, tmp_path / "p.parquet",
                          time_limit_s=LIMIT)
    assert pq.read_table(tmp_path / "p.parquet").equals(t0)
    assert s1["objective"] == s0["objective"]


def test_partition_city_unknown_to_the_stores_is_an_input_error(national, tmp_path):
    sc = _copy_scenario(national, tmp_path / "sc")
    (sc["orders"] / "city=c002").rename(sc["orders"] / "city=atlantis")
    with pytest.raises(InputError, match="atlantis"):
        plan_partitioned(sc["stores"], sc["inventory"], sc["orders"], tmp_path / "p.parquet", time_limit_s=LIMIT)


def test_cli_partitioned_reroute_with_resume(national, baseline, tmp_path, capsys):
    s0, t0 = baseline
    out, summ = tmp_path / "plan.csv", tmp_path / "summary.json"
    argv = ["reroute", "--stores", str(national["stores"]), "--inventory", str(national["inventory"]),
            "--orders", str(national["orders"]), "--out", str(out), "--summary", str(summ),
            "--time-limit", str(LIMIT), "--resume", str(tmp_path / "resume")]
    assert main(argv) == 0
    s = json.loads(summ.read_text())
    assert s["objective"] == pytest.approx(s0["objective"], rel=1e-12)
    import pyarrow.csv as pcsv

    assert pcsv.read_csv(out).num_rows == t0.num_rows
    assert main(argv) == 0  # again: every city resumed
    assert json.loads(summ.read_text())["partitions"]["resumed"] == 4
    assert "4: 0 planned, 4 resumed, 0 failed" in capsys.readouterr().err


def test_cli_resume_needs_a_partitioned_backlog(national, tmp_path, capsys):
    f = next(Path(national["orders"]).rglob("*.parquet"))
    assert main(["reroute", "--stores", str(national["stores"]), "--inventory", str(national["inventory"]),
                 "--orders", str(f), "--out", str(tmp_path / "p.csv"), "--resume", str(tmp_path / "r")]) == 2
    assert "--resume needs" in capsys.readouterr().err


def test_national_generator_is_deterministic_and_shaped(tmp_path):
    from omnifill.national import city_sizes

    sizes = city_sizes(NationalSpec())
    assert len(sizes) == 480 and sizes.max() == 2000 and ((sizes >= 1000) & (sizes <= 2000)).sum() == 4
    assert np.median(sizes) <= 50 and sizes.min() >= 5
    a = write_national(tmp_path / "a", SPEC)
    b = write_national(tmp_path / "b", SPEC)
    for k in ("orders", "inventory"):
        for f in sorted(Path(a[k]).rglob("*.parquet")):
            assert pq.read_table(f).equals(pq.read_table(Path(b[k]) / f.relative_to(a[k])))
    with pytest.raises(FileExistsError):
        write_national(tmp_path / "a", SPEC)

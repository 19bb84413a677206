"""Partitioned planning: a national backlog, one task per city, on any executor.

Cities share no stock and no store, so a national backlog is planned city by city. The
orders come as a directory partitioned by city, Hive style (``ORDERS/city=NAME/*.parquet``
or ``*.csv``); inventory either likewise (``INVENTORY/city=NAME/...``) or as one file, read
filtered to the city's stores batch by batch; stores as one file with a ``city`` column.

The driver (``plan_partitioned``) never holds every order: it lists the partitions and
their row counts (Parquet metadata), submits one task per city (``plan_city``, largest
first), writes each finished city's rows to a part file, and at the end streams the parts
into the plan in city order (a temporary file renamed into place). A task reads its own
city's rows, builds its Network, runs ``planner.plan`` in-process and returns plain data:
the rows as a pyarrow table and the summary. Nothing of OR-Tools crosses a process.

The executor is any ``concurrent.futures.Executor`` (``omnifill.parallel`` makes Dask's);
``None`` runs the cities one after another in-process. A city's plan depends only on its
own inputs, the seed and its share of the time limit (by its lines, not by the clock), so
the same seed gives the same plan whatever the executor.

Faults: a task that raises (a worker killed, out of memory, a bug) is submitted once more;
if it fails again its orders come out unfilled with reason ``partition_failed`` and the
summary lists the city and the error. An input error in a city's files is not retried: the
run stops with that error and writes no plan. With ``resume`` (a directory), every finished
city's rows and summary are kept there and a repeated run skips them; a city that failed is
tried again.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .config import Config
from .errors import InputError, Problem
from .io import (
    Problems,
    StoresTable,
    arrow_inventory,
    arrow_orders,
    arrow_where,
    atomic_write,
    file_format,
    json_default,
    load_inventory_table,
    load_orders_table,
    load_stores,
    load_zones,
    read_rows,
    write_text,
)

PLAN_TYPES = (("order_id", "string"), ("sku", "string"), ("qty", "int64"), ("source_id", "string"),
              ("mode", "string"), ("via_id", "string"), ("package", "int64"), ("eta_min", "float64"),
              ("promise_min", "float64"), ("on_time", "bool_"), ("reason", "string"), ("home_store", "string"))
FAILED = "partition_failed"
DATA_EXT = (".parquet", ".pq", ".csv")


def plan_schema():
    import pyarrow as pa

    return pa.schema([(k, getattr(pa, t)()) for k, t in PLAN_TYPES])


@dataclass(frozen=True)
class Partition:
    city: str
    files: tuple[str, ...]
    lines: int  # rows of its files (order lines)


@dataclass(frozen=True)
class Job:
    """One city's task: plain, picklable."""

    city: str
    stores: str
    inventory: str | None
    orders: tuple[str, ...]
    zones: str | None
    config: Config | None
    time_limit_s: float
    seed: int
    policy: str
    workers: int = 1
    threads: int = 1
    max_errors: int = 100


@dataclass
class Result:
    city: str
    table: object  # pyarrow.Table in PLAN_TYPES
    summary: dict


# --- the task ------------------------------------------------------------------------------------

def plan_city(job: Job) -> Result:
    """Plan one city: read its stores, stock and orders, plan them, return the rows and summary."""
    from .model import Network, OrderBatch
    from .planner import plan

    t0 = time.perf_counter()
    probs = Problems(job.max_errors)
    st_all = load_stores(job.stores, probs=probs)
    probs.raise_if_any()
    mask = st_all.city == job.city
    st = _subset_stores(st_all, mask)
    idx = st.index()
    if not len(idx):
        raise InputError([Problem(job.orders[0], None, "city", job.city,
                                  f"no store in {job.stores} has city {job.city!r}")])
    inv = None
    if job.inventory is not None:
        if os.path.isdir(job.inventory):
            files, col = partition_files(job.inventory, job.city), None
        else:
            files, col = [job.inventory], "store_id"
        fast = _arrow_files(files, col, idx)
        inv = arrow_inventory(fast, job.inventory, idx) if fast is not None else None
        if inv is None and files:  # not plainly valid: the row-level checks name the rows
            inv = load_inventory_table(read_rows(files, job.inventory, column="store_id", keep=idx), idx, probs)
    zones = None
    if job.zones is not None:
        # checked against every store, kept for the city's
        full = st_all.index()
        names = st_all.store_id
        zones = [replace(z, store=idx[names[z.store]]) for z in load_zones(job.zones, full, probs=probs)
                 if names[z.store] in idx]
    fast = _arrow_files(job.orders, None, idx)
    orders = arrow_orders(fast, str(Path(job.orders[0]).parent), idx) if fast is not None else None
    if orders is not None and not all(c in (None, job.city) for c in orders.city):
        orders = None
    if orders is None:  # not plainly valid: the row-level checks name the rows
        ot = read_rows(job.orders, str(Path(job.orders[0]).parent))
        if "city" in ot.columns:
            for i, v in enumerate(ot.columns["city"]):
                if v not in (None, "", job.city):
                    probs.add(ot.problem(i, "city", v, f"differs from its partition's city={job.city}"))
        orders = load_orders_table(ot, idx, probs)
        del ot
    probs.raise_if_any()
    orders.city[:] = job.city
    del fast
    cfg = job.config
    net = Network.from_loaded(st, inv, zones, cfg)
    batch = OrderBatch.from_table(orders)
    del orders
    read_s = time.perf_counter() - t0
    p = plan(net, batch, cfg, time_limit_s=job.time_limit_s, seed=job.seed, policy=job.policy,
             workers=job.workers, search_threads=job.threads, threads=job.threads)
    t1 = time.perf_counter()
    table = rows_table(p.rows)
    s = p.summary
    s["timings_s"] = {"read": round(read_s, 4), **s["timings_s"], "table": round(time.perf_counter() - t1, 4),
                      "task": round(time.perf_counter() - t0, 4)}
    s["pid"] = os.getpid()
    return Result(job.city, table, s)


def _arrow_files(files, column, keep):
    """The Parquet files as one pyarrow table (filtered as ``io.arrow_where``), or None when
    a file is not Parquet or the files' columns differ (the row-level path reads those)."""
    import pyarrow as pa

    if not files or any(file_format(f) != "parquet" for f in files):
        return None
    tables = [arrow_where(f, column, keep)[0] for f in files]
    try:
        return pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None


def rows_table(rows: list[dict]):
    import pyarrow as pa

    schema = plan_schema()
    return pa.table({f.name: pa.array([r.get(f.name) for r in rows], f.type) for f in schema}, schema=schema)


def _subset_stores(st: StoresTable, mask: np.ndarray) -> StoresTable:
    keep = np.flatnonzero(mask)
    arrays = {k: getattr(st, k)[keep] for k in ("store_id", "lat", "lon", "city", "kind", "handling_min", "capacity",
                                                 "delivers", "pickup", "transfers_out", "accept_rate")}
    extra = {k: [v[i] for i in keep.tolist()] for k, v in st.extra.items()}
    return StoresTable(path=st.path, extra=extra, **arrays)


# --- partitions ----------------------------------------------------------------------------------

def partition_files(root, city: str) -> list[str]:
    d = Path(root) / f"city={city}"
    if not d.is_dir():
        return []
    return sorted(str(p) for p in d.iterdir() if p.is_file() and p.name.lower().endswith(DATA_EXT))


def discover(orders_dir) -> list[Partition]:
    """The partitions under ``orders_dir`` (``city=NAME`` directories), by name, with their
    files and line counts (from Parquet metadata; CSV files are counted by lines)."""
    root = Path(orders_dir)
    if not root.is_dir():
        raise InputError([Problem(str(root), None, None, None, "not a directory of city=NAME partitions")])
    out = []
    bad = []
    for d in sorted(root.iterdir()):
        if not d.is_dir():
            continue
        if not d.name.startswith("city=") or d.name == "city=":
            bad.append(Problem(str(d), None, None, d.name, "expected a partition directory named city=NAME"))
            continue
        city = d.name[len("city="):]
        files = partition_files(root, city)
        if not files:
            bad.append(Problem(str(d), None, None, None, "partition holds no .parquet or .csv file"))
            continue
        out.append(Partition(city, tuple(files), sum(_count_rows(f) for f in files)))
    if bad:
        raise InputError(bad)
    if not out:
        raise InputError([Problem(str(root), None, None, None, "holds no city=NAME partition")])
    return out


def _count_rows(path: str) -> int:
    if file_format(path) == "parquet":
        try:
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows
        except ImportError:
            raise InputError([Problem(path, None, None, None,
                                      "reading Parquet needs pyarrow: pip install 'omnifill[io]'")]) from None
        except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a bad file
            raise InputError([Problem(path, None, None, None, f"not readable as Parquet: {e}")]) from None
    with open(path, "rb") as fh:
        return max(0, sum(1 for line in fh if line.strip()) - 1)


# --- the driver ----------------------------------------------------------------------------------

def plan_partitioned(stores, inventory, orders, out, *, zones=None, config: Config | None = None,
                     time_limit_s: float = 60.0, seed: int = 0, policy: str = "optimal", executor=None,
                     workers: int = 1, threads: int | None = None, resume=None, progress=None, task=plan_city,
                     max_errors: int = 100) -> dict:
    """Plan the backlog in ``orders`` (a directory partitioned by city) city by city, write
    the plan to ``out`` (CSV, Parquet or JSON Lines by extension) and return the summary.

    time_limit_s: the solver's time over all cities, each city its share by lines (a floor
    of 0.2 s per city quadrupled the small cities' solver time on the national scenario,
    for little). executor: a concurrent.futures Executor running the cities' tasks
    (None: in-process, one after another). workers: CP-SAT workers per city. threads: cores
    a task may use (default: the machine's in-process, 1 on an executor, whose workers are
    one per core). resume: a directory keeping finished cities across runs. progress:
    called as progress("cities", done, total). task: the function run per city (``plan_city``;
    replaceable for instrumentation)."""
    from .planner import check_plan_path

    t0 = time.perf_counter()
    check_plan_path(out)
    if policy not in ("optimal", "greedy"):
        raise ValueError(f"policy must be 'optimal' or 'greedy', got {policy!r}")
    parts = discover(orders)
    st = load_stores(stores, probs=Problems(max_errors))
    cities = set(st.city.tolist())
    missing = [Problem(p.files[0], None, "city", p.city, f"no store in {stores} has city {p.city!r}")
               for p in parts if p.city not in cities]
    if missing:
        raise InputError(missing)
    del st
    if zones is not None:
        load_zones(zones, load_stores(stores).index())  # checked once, before any city starts
    total_lines = sum(p.lines for p in parts)
    n_threads = threads or (1 if executor is not None else (os.cpu_count() or 1))
    jobs = {p.city: Job(p.city, str(stores), None if inventory is None else str(inventory), p.files,
                        None if zones is None else str(zones), config,
                        time_limit_s * p.lines / max(1, total_lines), seed, policy,
                        workers, n_threads, max_errors)
            for p in parts}
    tick = progress or (lambda *a: None)
    own_tmp = resume is None
    work = Path(tempfile.mkdtemp(prefix=".omnifill-parts.", dir=Path(out).parent or ".")) if own_tmp else Path(resume)
    try:
        done = _open_resume(work, _run_key(stores, inventory, zones, parts, config, time_limit_s, seed, policy,
                                           workers)) if not own_tmp else set()
        todo = sorted((p for p in parts if p.city not in done), key=lambda p: (-p.lines, p.city))
        summaries: dict[str, dict] = {c: json.loads((work / f"city={c}.json").read_text()) for c in done}
        failed: dict[str, str] = {}
        t_plan = time.perf_counter()
        tick("cities", len(done), len(parts))
        for res in _run(todo, jobs, executor, task, failed):
            _write_part(work, res)
            summaries[res.city] = res.summary
            tick("cities", len(summaries), len(parts))
        plan_s = time.perf_counter() - t_plan
        failed_orders: dict[str, int] = {}  # per failed city, its orders (read once, as written)
        for city, err in failed.items():
            p = next(q for q in parts if q.city == city)
            failed_orders[city] = _write_failed(work, p, err)
        t_w = time.perf_counter()
        _merge(work, [p.city for p in parts], out)
        write_s = time.perf_counter() - t_w
    finally:
        if own_tmp:
            shutil.rmtree(work, ignore_errors=True)
    return _national_summary(parts, summaries, failed, failed_orders, done, work if not own_tmp else None,
                             {"plan": plan_s, "write": write_s, "total": time.perf_counter() - t0})


def _run(todo, jobs, executor, task, failed):
    """Yield each city's Result as it finishes; a failing city is tried once more, then
    recorded in ``failed``. An InputError stops the run."""
    if executor is None:
        for p in todo:
            for attempt in (1, 2):
                try:
                    yield task(jobs[p.city])
                    break
                except InputError:
                    raise
                except Exception as e:  # noqa: BLE001 - any failure of the task: retried once, then reported
                    if attempt == 2:
                        failed[p.city] = _describe(e)
        return
    pending = {executor.submit(task, jobs[p.city]): (p.city, 1) for p in todo}
    try:
        while pending:
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for f in finished:
                city, attempt = pending.pop(f)
                try:
                    res = f.result()
                except InputError:
                    raise
                except BaseException as e:  # a killed worker, a bug, a cancelled task
                    if isinstance(e, (KeyboardInterrupt, SystemExit)):
                        raise
                    if attempt == 1:
                        pending[executor.submit(task, jobs[city])] = (city, 2)
                    else:
                        failed[city] = _describe(e)
                    continue
                yield res
    finally:
        for f in pending:
            f.cancel()


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:500]


def _run_key(stores, inventory, zones, parts, config, time_limit_s, seed, policy, workers) -> str:
    """What a resumed run must share with the run that wrote the directory: the inputs (path,
    size, modification time) and the options that change a city's plan."""
    def stamp(p):
        if p is None:
            return None
        p = Path(p)
        if p.is_dir():
            return [stamp(q) for q in sorted(p.rglob("*")) if q.is_file()]
        s = p.stat()
        return [str(p.resolve()), s.st_size, s.st_mtime_ns]

    key = {"stores": stamp(stores), "inventory": stamp(inventory), "zones": stamp(zones),
           "orders": [[p.city, [stamp(f) for f in p.files]] for p in parts], "config": repr(config),
           "time_limit_s": time_limit_s, "seed": seed, "policy": policy, "workers": workers}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _open_resume(work: Path, key: str) -> set[str]:
    """The cities a previous run with the same key finished in ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    manifest = work / "manifest.json"
    if manifest.exists():
        old = json.loads(manifest.read_text())
        if old.get("key") != key:
            raise InputError([Problem(str(work), None, None, None,
                                      "this --resume directory was written by a run with other inputs or options; "
                                      "give a new directory or remove it")])
    else:
        text = json.dumps({"key": key, "format": 1}) + "\n"
        write_text(manifest, text)
    return {p.name[len("city="):-len(".json")] for p in work.glob("city=*.json")}


def _write_part(work: Path, res: Result) -> None:
    import pyarrow.parquet as pq

    atomic_write(work / f"city={res.city}.parquet", lambda tmp: pq.write_table(res.table, tmp))
    text = json.dumps(res.summary, default=json_default)
    # the summary last: it marks the city finished
    write_text(work / f"city={res.city}.json", text)


def _write_failed(work: Path, p: Partition, err: str) -> int:
    """A failed city's orders, every line unfilled with reason partition_failed (not marked
    finished: a resumed run tries the city again). Returns how many orders it has."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = read_rows(p.files, p.city)
    n = t.n_rows
    col = t.columns
    none = [None] * n
    rows = {"order_id": [None if v is None else str(v) for v in col.get("order_id", none)],
            "sku": [None if v is None else str(v) for v in col.get("sku", none)],
            "qty": [_int_or_none(v) for v in col.get("qty", none)], "source_id": none, "mode": ["unfilled"] * n,
            "via_id": none, "package": none, "eta_min": none,
            "promise_min": [_float_or(v, 60.0) for v in col.get("promise_min", none)], "on_time": [False] * n,
            "reason": [FAILED] * n,
            "home_store": [None if v in (None, "") else str(v) for v in col.get("home_store", none)]}
    table = pa.table({k: pa.array(v, plan_schema().field(k).type) for k, v in rows.items()}, schema=plan_schema())
    atomic_write(work / f"failed-city={p.city}.parquet", lambda tmp: pq.write_table(table, tmp))
    return len(set(rows["order_id"]))


def _int_or_none(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _float_or(v, default):
    try:
        f = float(v)
        return f if math.isfinite(f) else default
    except (TypeError, ValueError):
        return default


def _merge(work: Path, cities: list[str], out) -> None:
    """The parts, city by city in name order, streamed into ``out`` (one part in memory at a
    time), through a temporary file renamed into place."""
    import pyarrow.parquet as pq

    def parts():
        for c in cities:
            ok, bad = work / f"city={c}.parquet", work / f"failed-city={c}.parquet"
            yield pq.read_table(ok if ok.exists() else bad)

    fmt = file_format(out)
    schema = plan_schema()

    def _w(tmp):
        if fmt == "parquet":
            with pq.ParquetWriter(tmp, schema) as w:
                for t in parts():
                    w.write_table(t)
        elif fmt == "csv":
            import pyarrow.csv as pcsv

            with pcsv.CSVWriter(tmp, schema) as w:
                for t in parts():
                    w.write_table(t)
        else:
            with open(tmp, "w", encoding="utf-8") as fh:
                for t in parts():
                    fh.writelines(json.dumps(r) + "\n" for r in t.to_pylist())

    atomic_write(out, _w)


def _national_summary(parts, summaries: dict, failed: dict, failed_orders: dict, resumed: set, resume_dir,
                      wall: dict) -> dict:
    """The cities' summaries added up (objective, bounds, counts; rates weighted by orders),
    the failed cities with their errors, and the time per stage summed over the cities."""
    from .planner import worst_status

    ok = [summaries[p.city] for p in parts if p.city in summaries]
    tot = (lambda k: sum(s[k] for s in ok))
    objective = tot("objective")

    def bound_of(k):
        vals = [s.get(k) for s in ok]
        return None if not ok or any(v is None for v in vals) or failed else float(sum(vals))

    lb, mlb = bound_of("lower_bound"), bound_of("model_lower_bound")
    tiers: dict[str, list] = {}
    for s in ok:
        for k, n in s.get("orders_per_tier", {}).items():
            t = tiers.setdefault(k, [0, 0.0])
            t[0] += n
            t[1] += n * s["on_time_rate"][k]
    failed_rows = []
    for p in parts:
        if p.city in failed:
            failed_rows.append({"city": p.city, "lines": p.lines, "error": failed[p.city]})
    stage: dict[str, float] = {}
    for s in ok:
        for k, v in s["timings_s"].items():
            if k not in ("total", "task"):
                stage[k] = stage.get(k, 0.0) + v
    n_orders = tot("orders_in")
    any_s = ok[0] if ok else {}
    return {
        "policy": any_s.get("policy"),
        "objective": objective,
        "lower_bound": lb,
        "gap": None if lb is None or objective <= 0 else max(0.0, (objective - lb) / objective),
        "model_lower_bound": mlb,
        "model_gap": None if mlb is None or objective <= 0 else max(0.0, (objective - mlb) / objective),
        "solver_status": ("PARTITION_FAILED" if failed else worst_status([s["solver_status"] for s in ok]) if ok
                          else "EMPTY"),
        "greedy_objective": tot("greedy_objective"),
        "orders_in": n_orders + sum(failed_orders.values()),
        "orders_out": tot("orders_out") + sum(failed_orders.values()),
        "lines_in": sum(p.lines for p in parts), "lines_out": tot("lines_out") + sum(f["lines"] for f in failed_rows),
        "on_time_rate": {k: v[1] / v[0] for k, v in sorted(tiers.items()) if v[0]},
        "orders_per_tier": {k: v[0] for k, v in sorted(tiers.items())},
        "packages_per_order": sum(s["packages_per_order"] * s["orders_in"] for s in ok) / max(1, n_orders),
        "transfers": tot("transfers"), "parcels": tot("parcels"),
        "unfilled_lines": tot("unfilled_lines") + sum(f["lines"] for f in failed_rows),
        "moved": tot("moved"),
        "orders_in_solver": tot("orders_in_solver"), "components": tot("components"),
        "largest_component": max((s["largest_component"] for s in ok), default=0),
        "partitions": {"count": len(parts), "planned": len(ok), "resumed": len(resumed),
                       "failed": failed_rows, "resume_dir": None if resume_dir is None else str(resume_dir),
                       "cities": [{"city": p.city, "lines": p.lines,
                                   "seconds": summaries[p.city]["timings_s"].get("task") if p.city in summaries
                                   else None,
                                   "status": summaries[p.city]["solver_status"] if p.city in summaries else FAILED,
                                   "timings_s": summaries[p.city]["timings_s"] if p.city in summaries else {}}
                                  for p in parts]},
        "timings_s": {k: round(v, 4) for k, v in wall.items()},
        "city_timings_s": {k: round(v, 4) for k, v in stage.items()},
        "versions": any_s.get("versions", {}),
    }


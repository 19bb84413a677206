"""The national backlog: a million orders in 480 cities, re-planned city by city on Dask.

Generates the scenario once (``omnifill generate national``, in its own process, so the
driver's peak memory is the planning's alone) unless ``--data`` holds one, then plans it
with a Dask LocalCluster of each ``--workers`` count in turn, in one run, and prints per run:
wall time, the driver's and the largest worker's peak memory (resident set, from
``getrusage``), the time in the cities summed by stage (reading, greedy, option generation,
solving, rows) and the driver's writing, the scaling efficiency against one worker
count (T1 / (n Tn)) when 1 is among them, and the saving over greedy. From the per-city times it estimates the
workers that would finish in ``--target`` seconds: the cities are placed largest first on
the least loaded worker (the order the driver submits them), and the estimate is the
fewest workers whose busiest one finishes in time, with the largest city as a floor.

Run:  python benchmarks/bench_national.py [--data DIR] [--orders 1000000] [--workers 1 2] [--time-limit 60]
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import omnifill
from omnifill.parallel import executor_for
from omnifill.partitions import plan_partitioned


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def workers_for(seconds: list[float], target: float) -> tuple[int, float]:
    """The fewest workers whose busiest finishes in ``target`` (largest first, least loaded),
    and that busiest worker's time; (0, largest) when the largest city alone exceeds it."""
    jobs = sorted(seconds, reverse=True)
    if not jobs:
        return 1, 0.0
    if jobs[0] > target:
        return 0, jobs[0]
    lo = max(1, int(sum(jobs) / target))
    for n in range(lo, len(jobs) + 1):
        load = [0.0] * n
        heapq.heapify(load)
        for s in jobs:
            heapq.heappush(load, heapq.heappop(load) + s)
        if max(load) <= target:
            return n, max(load)
    return len(jobs), jobs[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="a scenario written by omnifill generate national (default: generate one)")
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--cities", type=int, default=480)
    ap.add_argument("--workers", type=int, nargs="+", default=[2, 1])
    ap.add_argument("--time-limit", type=float, default=60.0, help="solver seconds over all cities")
    ap.add_argument("--target", type=float, default=60.0, help="the wall time the cluster estimate aims at")
    ap.add_argument("--keep", metavar="DIR", help="write the plans here (default: a temporary directory)")
    args = ap.parse_args(argv)
    print(f"# omnifill {omnifill.__version__}; {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {sys.version.split()[0]}; time limit {args.time_limit:g} s over all cities", flush=True)
    tmp = tempfile.TemporaryDirectory(prefix="omnifill-national-")
    data = Path(args.data) if args.data else Path(tmp.name) / "scenario"
    if not (data / "stores.parquet").exists():
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "omnifill.cli", "generate", "national", "--out", str(data),
                        "--orders", str(args.orders), "--cities", str(args.cities)], check=True)
        print(f"generated {data} in {time.perf_counter() - t:.1f} s", flush=True)
    out_dir = Path(args.keep) if args.keep else Path(tmp.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    walls = {}
    for n in args.workers:
        out = out_dir / f"plan-{n}w.parquet"
        with executor_for("local", n_workers=n, log=lambda m: print(m, flush=True)) as ex:
            t = time.perf_counter()
            s = plan_partitioned(data / "stores.parquet", data / "inventory", data / "orders", out,
                                 time_limit_s=args.time_limit, seed=0, executor=ex)
            wall = time.perf_counter() - t
            worker_peak = max(ex._client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
                              .values())
        walls[n] = wall
        st = s["city_timings_s"]
        share = {"reading": st.get("read", 0.0),
                 "option generation": st.get("greedy", 0.0) + st.get("options", 0.0) + st.get("decompose", 0.0),
                 "solving": st.get("bound", 0.0) + st.get("solve", 0.0),
                 "rows": st.get("rows", 0.0) + st.get("table", 0.0),
                 "writing (driver)": s["timings_s"]["write"]}
        busy = sum(share.values())
        print(f"\n## {n} worker{'s' if n > 1 else ''}: {s['orders_in']:,} orders, {s['lines_in']:,} lines, "
              f"{s['partitions']['count']} cities")
        print(f"wall {wall:.1f} s; driver peak {_peak_mb():,.0f} MB (so far in this process); largest worker peak "
              f"{worker_peak:,.0f} MB")
        print(f"objective {s['objective']:,.0f}, greedy {s['greedy_objective']:,.0f} "
              f"({1 - s['objective'] / s['greedy_objective']:.2%} cheaper); status {s['solver_status']}; "
              f"gap {'n/a' if s['gap'] is None else format(s['gap'], '.2%')}; "
              f"unfilled lines {s['unfilled_lines']:,}; failed cities {len(s['partitions']['failed'])}")
        print("time in the cities and the driver's writing (s, share): " + ", ".join(
            f"{k} {v:.1f} ({v / busy:.0%})" for k, v in share.items()))
        print("by stage: " + json.dumps(st))
        top = sorted(s["partitions"]["cities"], key=lambda c: -(c["seconds"] or 0))[:4]
        print("largest cities by stage (s): " + "; ".join(
            f"{c['city']} ({c['lines']:,} lines) " + ", ".join(f"{k} {v:.1f}" for k, v in c["timings_s"].items())
            for c in top))
        secs = sorted(((c["seconds"] or 0.0), c["city"]) for c in s["partitions"]["cities"])[::-1]
        print("largest cities (s): " + ", ".join(f"{c} {v:.1f}" for v, c in secs[:6])
              + f"; sum over cities {sum(v for v, _ in secs):.1f} s")
        need, busiest = workers_for([v for v, _ in secs], args.target)
        if need:
            print(f"estimate: {need} single-core workers finish the cities in {busiest:.1f} s (target "
                  f"{args.target:g} s), from these per-city times")
        else:
            big = [(v, c) for v, c in secs if v > args.target]
            rest = [v for v, _ in secs if v <= args.target]
            n_rest, t_rest = workers_for(rest, args.target)
            print(f"estimate: no worker count reaches {args.target:g} s: {len(big)} cities take longer alone ("
                  + ", ".join(f"{c} {v:.0f} s" for v, c in big) + f"); the other {len(rest)} cities need "
                  f"{n_rest} single-core workers to finish in {t_rest:.1f} s")
    if 1 in walls:
        for n, w in sorted(walls.items()):
            if n > 1:
                print(f"\nscaling 1 -> {n} workers: {walls[1]:.1f} s -> {w:.1f} s, speed-up {walls[1] / w:.2f}x, "
                      f"efficiency T1 / (n Tn) = {walls[1] / (n * w):.2f}")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What omnifill decides, as digests: for holding a restructuring to "behaviour unchanged".

Runs a fixed set of jobs whose answers depend only on their inputs (no clock), and prints one
SHA-256 digest per job, of its output serialised canonically:

- ``candidates``: the kernel's candidate CSR for the demo orders (indptr, stores, ETAs);
- ``decisions``: every demo order routed in file order, reserving: each decision's
  ``to_dict()`` (cost, rows, breakdown, explanation);
- ``plan-greedy``: the demo backlog re-planned with the greedy policy: rows and summary;
- ``plan-optimal``: a 300-order contended backlog (``synthetic_city``, seed 5) re-planned
  with one worker and a seed (CP-SAT runs on deterministic time; HiGHS's answer is taken
  only when proven, which on this instance it is within the limit): rows and summary;
- ``day``: the demo day simulated under ``online`` and ``online+reroute``: per-order KPIs;
- ``cli-help``: ``omnifill --help`` and every command's ``--help``.

Timings are left out of every summary. Run it before a change and after, on one machine:

    python benchmarks/behaviour_snapshot.py --out before.json
    python benchmarks/behaviour_snapshot.py --compare before.json

``--compare`` prints the jobs whose digest changed and exits 1 if any did.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import sys

import numpy as np

import omnifill
from omnifill import bench
from omnifill.cli import _parser
from omnifill.io import json_default
from omnifill.planner import plan
from omnifill.scenarios import demo_paths, synthetic_city


def digest(obj) -> str:
    text = json.dumps(obj, sort_keys=True, default=json_default, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def timeless(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in ("timings_s", "city_timings_s", "versions")}


def jobs() -> dict[str, str]:
    p = demo_paths()
    net = omnifill.Network.from_files(p["stores"], p["inventory"])
    orders = omnifill.OrderBatch.from_file(p["orders"], net)
    out = {}
    c = net.candidates(orders.lat, orders.lon, orders.promise_min)
    out["candidates"] = hashlib.sha256(c.indptr.tobytes() + c.store_index.tobytes() + c.eta_min.tobytes()).hexdigest()
    router = omnifill.Router(net)
    out["decisions"] = digest([router.route(omnifill.Order.from_batch(orders, i, net.store_ids)).to_dict()
                               for i in range(len(orders))])
    g = plan(net, orders, policy="greedy")
    out["plan-greedy"] = digest({"rows": g.rows, "summary": timeless(g.summary)})
    city = synthetic_city(seed=5, n_stores=40, n_orders=300, n_skus=200, n_warehouses=1, mean_stock=0.5)
    cnet = omnifill.Network.from_tables(city.stores, city.inventory)
    corders = omnifill.OrderBatch.from_tables(city.orders, cnet)
    o = plan(cnet, corders, time_limit_s=20, seed=0, threads=1)
    out["plan-optimal"] = digest({"rows": o.rows, "summary": timeless(o.summary)})
    print(f"# plan-optimal: {o.summary['solver_status']}, objective {o.summary['objective']:,.0f}", file=sys.stderr)
    sc = bench.load_scenario("demo")
    dnet = bench.network_of(sc)
    batch, arrival = bench.day_orders(sc, dnet)
    days = {}
    for policy in ("online", "online+reroute"):
        r = bench.simulate(dnet, batch, arrival, policy=policy, time_limit_s=0.5)
        days[policy] = [np.nan_to_num(r.eta).tolist(), r.packages.tolist(), r.transfers.tolist(),
                        r.parcels.tolist(), r.unfilled.tolist(), r.moved.tolist(), r.cost.tolist()]
    out["day"] = digest(days)
    helps = []
    os.environ["COLUMNS"] = "100"  # argparse wraps its help to the terminal's width
    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for cmd in [None, *sub.choices]:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit):
            _parser().parse_args(["--help"] if cmd is None else [cmd, "--help"])
        helps.append(buf.getvalue())
    out["cli-help"] = digest(helps)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="write the digests to this JSON file")
    ap.add_argument("--compare", help="compare with the digests in this JSON file; exit 1 on a difference")
    args = ap.parse_args(argv)
    got = jobs()
    for k, v in got.items():
        print(f"{k:<14} {v}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(got, fh, indent=2)
    if args.compare:
        with open(args.compare) as fh:
            want = json.load(fh)
        changed = [k for k in want if want[k] != got.get(k)]
        print("unchanged" if not changed else "CHANGED: " + ", ".join(changed))
        return 1 if changed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Load a chain's files, find every order's candidate stores and what each can fill.

Runs on the bundled demo city:  python examples/candidates.py
"""

import numpy as np

import omnifill
from omnifill.scenarios import demo_paths

paths = demo_paths()
network = omnifill.Network.from_files(paths["stores"], paths["inventory"])  # or config="omnifill.toml"
orders = omnifill.OrderBatch.from_file(paths["orders"], network)

# every order's stores whose direct ETA fits its promise, nearest first (CSR arrays)
cand = network.candidates(orders.lat, orders.lon, orders.promise_min)
cov = network.coverage(cand, orders)

i = int(np.argmax(cand.counts))  # the best-served order
stores, etas = cand.of(i)
n_lines = orders.line_indptr[i + 1] - orders.line_indptr[i]
print(f"order {orders.order_id[i]} ({n_lines} lines, promise {orders.promise_min[i]:.0f} min):")
for k, (s, eta) in enumerate(zip(stores[:8], etas[:8])):
    m = cov.mask(i, k)
    lines = [j for j in range(n_lines) if m >> j & 1]
    print(f"  {network.store_ids[s]}  ETA {eta:5.1f} min  can fill lines {lines}")
print(f"{cov.full.mean():.1%} of orders have a single store in time that holds every line")

"""An order service using the online router from several threads, on the bundled demo city.

What a checkout path does with omnifill:
- one Router per network, shared by every worker thread;
- route(order) as each order arrives: the decision reserves its stock and store capacity;
- a cancelled order is released (its units and capacity come back);
- a shipped order is completed (its units leave the store's on-hand count);
- a store that finds a shelf empty rejects the line: reject() re-routes it at once, with
  the order's other packages kept, and keeps the next orders off that shelf;
- the stores' systems push stock counts with update_stock; a store that goes offline is
  closed, and the orders holding stock there are released and routed again.

Run:  python examples/order_service.py
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from omnifill import Network, OrderBatch
from omnifill.model import Order
from omnifill.router import Router
from omnifill.scenarios import demo_paths


def main() -> None:
    paths = demo_paths()
    network = Network.from_files(paths["stores"], paths["inventory"])
    batch = OrderBatch.from_file(paths["orders"], network)
    incoming = [Order.from_batch(batch, i, network.store_ids).to_dict() for i in range(len(batch))]
    router = Router(network)
    rng = random.Random(7)
    log_lock = threading.Lock()
    counts = {"routed": 0, "cancelled": 0, "shipped": 0, "late": 0, "rejected": 0}

    def handle(order: dict) -> None:
        # the checkout: an order arrives as JSON, the decision comes back with its rows
        decision = router.route(order)
        # a few minutes later a store picking it finds a shelf empty (3% of orders here)
        filled = [r for r in decision.rows if r["mode"] in ("deliver", "pickup")]
        if filled and rng.random() < 0.03:
            row = filled[0]
            decision = router.reject(decision.order_id, row["source_id"], [row["sku"]], reason="not_in_stock",
                                     elapsed_min=4.0)
            with log_lock:
                counts["rejected"] += 1
        with log_lock:
            counts["routed"] += 1
            counts["late"] += not decision.on_time
        # later in its life: some customers cancel, the rest are picked and shipped
        if rng.random() < 0.05:
            router.release(decision.order_id)
            with log_lock:
                counts["cancelled"] += 1
        else:
            router.complete(decision.order_id)
            with log_lock:
                counts["shipped"] += 1

    def stock_feed() -> None:
        # a store's system reports a recount now and then
        for _ in range(50):
            store = rng.choice(list(network.store_ids[:60]))
            router.update_stock(store, "SKU00001", rng.randint(0, 20))
            time.sleep(0.001)

    t0 = time.perf_counter()
    feeder = threading.Thread(target=stock_feed)
    feeder.start()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(handle, incoming[:1500]))
    feeder.join()

    # a store goes offline: release what it holds and route those orders again
    open_orders = incoming[1500:]
    held = [router.route(o) for o in open_orders]
    store = held[0].rows[0]["source_id"] or network.store_ids[0]
    affected = router.close_store(store)
    rerouted = []
    for oid in affected:
        router.release(oid)
        order = next(o for o in open_orders if o["order_id"] == oid)
        rerouted.append(router.route(order))
    elapsed = time.perf_counter() - t0

    print(f"{counts['routed']:,} orders routed by 4 threads, {counts['rejected']} lines rejected by their store "
          f"and re-routed, {counts['cancelled']} cancelled, {counts['shipped']:,} shipped, {counts['late']} late; "
          f"then {len(held)} more held")
    print(f"store {store} went offline: {len(affected)} orders released and routed again, now from "
          + ", ".join(sorted({r['source_id'] or 'nowhere' for d in rerouted for r in d.rows})[:5]))
    d = rerouted[0] if rerouted else held[0]
    print(f"for example {d.order_id}: {d.explanation['chosen']}, cost {d.cost:.1f}, "
          f"runner-up {d.explanation['runner_up']['option'] if d.explanation['runner_up'] else 'none'}")
    print(f"stock still reserved: {sum(router.reserved().values()):,} units for {len(router.holding())} orders; "
          f"{elapsed:.2f} s in all")


if __name__ == "__main__":
    main()

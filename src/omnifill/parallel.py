"""Executors: in-process, a local Dask cluster, or an existing Dask cluster.

omnifill never builds a cluster of its own, and never starts processes on other machines:
``local`` starts a Dask ``LocalCluster`` on this machine (one single-threaded worker process
per core, so a task's solver and option search have a core to themselves); an address or a
scheduler file connects to a cluster the user started (``dask scheduler`` / ``dask worker``,
dask-kubernetes, dask-jobqueue). What omnifill hands the planner is a plain
``concurrent.futures.Executor`` (Dask's ``Client.get_executor``), so the planner works the
same on a ``ProcessPoolExecutor``. Only plain data crosses to a worker: a task's arguments
and results are numpy arrays, pyarrow tables and dicts.

Dask comes from the ``dask`` extra: ``pip install 'omnifill[dask]'``.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

SCHEDULERS = ("none", "local")


class SchedulerError(RuntimeError):
    """The scheduler asked for cannot be used (Dask missing, no cluster at the address)."""


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextmanager
def executor_for(scheduler: str = "none", scheduler_file=None, n_workers: int | None = None, *, log=None):
    """Yield the executor for ``scheduler`` (None for ``none``: in-process), closed after.

    scheduler: ``none``, ``local`` (a LocalCluster of ``n_workers`` processes, default one per
    core), or a scheduler address such as ``tcp://10.0.0.5:8786``; scheduler_file: the JSON
    file ``dask scheduler --scheduler-file`` writes (instead of an address). log: called with
    one line saying where the work runs."""
    say = log or (lambda msg: print(msg, file=sys.stderr))
    if scheduler_file is None and scheduler in (None, "none"):
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SchedulerError("a Dask scheduler needs the dask extra: pip install 'omnifill[dask]'") from None
    cluster = None
    try:
        if scheduler_file is not None:
            if not os.path.exists(scheduler_file):
                raise SchedulerError(f"--scheduler-file {scheduler_file}: file not found")
            client = Client(scheduler_file=str(scheduler_file), timeout="20s")
        elif scheduler == "local":
            cluster = LocalCluster(n_workers=n_workers or cores(), threads_per_worker=1, processes=True,
                                   dashboard_address=":0")
            client = Client(cluster)
        elif "://" in str(scheduler) or ":" in str(scheduler):
            client = Client(str(scheduler), timeout="20s")
        else:
            raise SchedulerError(f"--scheduler {scheduler!r}: expected none, local, or an address such as "
                                 "tcp://HOST:8786")
    except SchedulerError:
        if cluster is not None:
            cluster.close()
        raise
    except (OSError, TimeoutError) as e:
        if cluster is not None:
            cluster.close()
        where = scheduler_file if scheduler_file is not None else scheduler
        raise SchedulerError(f"cannot reach the Dask scheduler at {where}: {e}") from None
    try:
        n = len(client.scheduler_info(n_workers=-1).get("workers", {}))
        address = client.scheduler.address if client.scheduler is not None else where
        say(f"omnifill: Dask scheduler {address}, {n} worker{'s' if n != 1 else ''}"
            + (f", dashboard {client.dashboard_link}" if cluster is not None and client.dashboard_link else ""))
        yield client.get_executor(pure=False)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

"""Processes for a fit's jampy work (refinement maps, certificates) on dask.distributed.

A fit opens one :class:`JampyPool` for all its rounds: single-threaded worker processes
(:func:`jaxjam.core.cluster.subprocess_client`), or a client the caller already has (a survey's
cluster). With ``workers=0`` the work runs in this process, one call after the other.
"""

from __future__ import annotations

import contextlib

__all__ = ["JAMPY_PRIORITY", "JampyPool", "jampy_pool"]

#: dask priority of the jampy calls a fit submits from inside a worker (a survey's fits are
#: submitted at priority 0): a free worker thread runs them before it starts another fit
JAMPY_PRIORITY = 10


def _on_worker() -> bool:
    """Whether this code runs inside a dask worker's task."""
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return False
    return True


@contextlib.contextmanager
def _seceded(inside: bool):
    """Leave the worker's thread pool while waiting (when ``inside`` a task), then rejoin."""
    if not inside:
        yield
        return
    from distributed import rejoin, secede

    secede()
    try:
        yield
    finally:
        rejoin()


class JampyPool:
    """Maps a function over argument tuples, on a dask client or in this process.

    Parameters
    ----------
    client : dask.distributed.Client or None
        ``None`` runs serially in this process.
    """

    def __init__(self, client=None):
        self.client = client

    @property
    def n_workers(self) -> int:
        if self.client is None:
            return 1
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def map(self, fn, args: list[tuple], label: str = "jampy", progress: bool = False) -> list:
        """``[fn(*a) for a in args]``, in order, with a progress bar on stderr."""
        from tqdm.auto import tqdm

        bar = tqdm(total=len(args), desc=label, unit="call", disable=not progress, leave=False)
        try:
            if self.client is None:
                out = []
                for a in args:
                    out.append(fn(*a))
                    bar.update()
                return out
            from dask.distributed import as_completed

            inside = _on_worker()
            # a fit running as a survey task (jaxjam survey) submits its jampy calls ahead of
            # the queued fits, then gives up its worker thread while it waits (dask's secede/
            # rejoin), so that its calls and others' can run there: with every worker busy
            # with a fit, a fit that held its thread would wait for ever
            futures = [self.client.submit(fn, *a, pure=False, retries=1,
                                          priority=JAMPY_PRIORITY if inside else 0)
                       for a in args]  # fmt: skip
            with _seceded(inside):
                for _ in as_completed(futures):
                    bar.update()
                return self.client.gather(futures)
        finally:
            bar.close()


@contextlib.contextmanager
def jampy_pool(workers: int | None = None, client=None):
    """A :class:`JampyPool`: on ``client`` if given; in this process for ``workers=0``; else
    on a new LocalCluster of ``workers`` processes (default: all cores), closed on exit."""
    if client is not None:
        yield JampyPool(client)
        return
    if workers == 0:
        yield JampyPool(None)
        return
    from jaxjam.core.cluster import subprocess_client

    with subprocess_client(workers) as c:
        yield JampyPool(c)

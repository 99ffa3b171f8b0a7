"""Processes for a fit's jampy work (refinement maps, certificates) on dask.distributed.

A fit opens one :class:`JampyPool` for all its rounds: single-threaded worker processes
(:func:`jaxjam.cluster.subprocess_client`), or a client the caller already has (a survey's
cluster). With ``workers=0`` the work runs in this process, one call after the other.
"""

from __future__ import annotations

import contextlib

__all__ = ["JampyPool", "jampy_pool"]


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

            futures = [self.client.submit(fn, *a, pure=False, retries=1) for a in args]
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
    from jaxjam.cluster import subprocess_client

    with subprocess_client(workers) as c:
        yield JampyPool(c)

"""The dask.distributed cluster of jaxjam's parallel work (training-set generation, the jampy
maps of refinement and certification): a LocalCluster of single-threaded processes, or an
existing scheduler."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings

__all__ = ["MALLOC_ENV", "SCHEDULER_TIMEOUT", "SINGLE_THREAD_ENV", "SchedulerUnreachableError",
           "available_cores", "capped_workers", "dask_client", "subprocess_client"]  # fmt: skip

#: seconds to wait for an existing dask scheduler to answer (dask's own default is 30 s)
SCHEDULER_TIMEOUT = 20.0

SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    # jampy's workers import jaxjam (hence JAX): keep them off any accelerator
    "JAX_PLATFORMS": "cpu",
}


#: glibc malloc settings of the workers (see :func:`dask_client`).
MALLOC_ENV = {
    "MALLOC_ARENA_MAX": "1",
    "MALLOC_MMAP_MAX_": "0",
    "MALLOC_TRIM_THRESHOLD_": "17179869184",
}


class SchedulerUnreachableError(ConnectionError):
    """An existing dask scheduler's address cannot be used: nothing answers there in time, or
    the address is not one."""


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def capped_workers(workers: int | None) -> tuple[int, str | None]:
    """The number of local worker processes to start for ``workers`` asked for.

    Parameters
    ----------
    workers : int or None
        Processes asked for (``None``: one per core).

    Returns
    -------
    n : int
        ``workers``, at most :func:`available_cores` (each worker is a single-threaded
        process: more of them than cores only compete for the cores, and each holds its own
        JAX and jampy in memory).
    message : str or None
        Why ``n`` is less than ``workers``; ``None`` when it is not.
    """
    cores = available_cores()
    if workers is None or workers <= cores:
        return workers or cores, None
    return cores, (f"{workers} workers asked for, but this machine has {cores} cores: starting "
                   f"{cores} (more single-threaded workers than cores would only compete for "
                   "them; to use more machines, give a dask scheduler)")  # fmt: skip


def _connect(scheduler: str, timeout: float):
    """A ``Client`` of the scheduler at ``scheduler``, or :class:`SchedulerUnreachableError`."""
    from dask.distributed import Client

    try:
        return Client(scheduler, timeout=timeout)
    except ValueError as exc:  # no port, an unknown scheme
        raise SchedulerUnreachableError(
            f"{scheduler!r} is not a dask scheduler address ({exc}): give one like "
            "tcp://HOST:8786, as the scheduler prints it"
        ) from None
    except OSError as exc:  # refused, no such host, no answer: dask retries until the timeout
        why = "" if str(exc).startswith("Timed out") else f" ({exc})"
        raise SchedulerUnreachableError(
            f"cannot reach the dask scheduler at {scheduler} within {timeout:g} s{why}: check "
            "that the scheduler is running and that its address and port are right (it prints "
            "them when it starts), or give it longer to answer (--scheduler-timeout SECONDS)"
        ) from None


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None,
                accelerator: bool = False, scheduler_timeout: float | None = None):  # fmt: skip
    """A ``dask.distributed.Client``: on ``scheduler`` when given, else on a LocalCluster of
    ``workers`` single-threaded processes (default: all cores; at most that, with a warning).

    The workers' JAX runs on the CPU (:data:`SINGLE_THREAD_ENV`) unless ``accelerator``
    (a survey's fits), where it may use a GPU, without preallocating its memory (several
    workers can share one device).

    Parameters
    ----------
    workers : int, optional
        Processes of the LocalCluster, capped at :func:`available_cores`
        (:func:`capped_workers`, which says why in a ``UserWarning``).
    scheduler : str, optional
        Address of an existing scheduler (``tcp://HOST:PORT``) to use instead.
    accelerator : bool
        Let the workers' JAX use an accelerator.
    scheduler_timeout : float, optional
        Seconds to wait for ``scheduler`` to answer (default: :data:`SCHEDULER_TIMEOUT`).

    Raises
    ------
    SchedulerUnreachableError
        When ``scheduler`` is not an address or does not answer within ``scheduler_timeout``.
    """

    import dask
    from dask.distributed import Client, LocalCluster

    # distributed's import sets its loggers' levels from its config, before the
    # "distributed.logging" setting below can reach it: the scheduler's and nannies' INFO
    # lines would break the callers' progress bars. The workers get the setting.
    log = logging.getLogger("distributed")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        if scheduler:
            timeout = SCHEDULER_TIMEOUT if scheduler_timeout is None else scheduler_timeout
            with _connect(scheduler, timeout) as client:
                yield client
            return
        n, why = capped_workers(workers)
        if why:
            warnings.warn(why, stacklevel=3)
        environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
        environ.update(SINGLE_THREAD_ENV)
        if accelerator:
            environ.pop("JAX_PLATFORMS")
            environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
        # dask's default MALLOC_TRIM_THRESHOLD_=65536 makes glibc return memory to the OS after
        # every large free; jampy allocates ~15 MB matrices per call and runs 25% slower with it.
        environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        # jampy at the v2 labels' size (4,096 nodes × nlos 120) allocates arrays of hundreds of
        # MB per call; glibc mapped each freshly (the task runs in a thread, whose arena maps
        # large blocks) and 35% of the time went to page faults. One arena that serves them from
        # the heap and keeps it: 16 v2 samples on 2 workers in 77 s instead of 120 s, ~1.6 GB
        # per worker, bit-identical stores.
        # (not for a survey's JAX fits, whose XLA threads would share the one arena)
        malloc = {} if accelerator else MALLOC_ENV
        environ.update(malloc)
        settings = {
            "distributed.nanny.pre-spawn-environ": environ,
            # The worker's statistical profiler samples every thread's stack every 10 ms; with
            # Python-heavy tasks (mgefit) on 2 cores it costs ~20% of the throughput.
            "distributed.worker.profile.enabled": False,
            "distributed.logging.distributed": "error",
        }
        saved = {k: os.environ.get(k) for k in malloc}
        # glibc reads these when a process starts: the spawned workers inherit them from here
        # (pre-spawn-environ alone was measured to leave them without effect)
        os.environ.update(malloc)
        with _restored(saved), dask.config.set(settings):  # noqa: SIM117
            with LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster, Client(cluster) as client:  # fmt: skip
                yield client
    finally:
        log.setLevel(level)


@contextlib.contextmanager
def _restored(saved: dict):
    """Put these environment variables back as they were on exit."""
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def subprocess_client(workers: int | None = None):
    """A ``dask.distributed.Client`` on ``workers`` single-threaded worker processes started as
    fresh interpreters (``distributed.deploy.subprocess.SubprocessCluster``).

    Unlike a LocalCluster's spawned processes, these do not re-import the caller's ``__main__``,
    so a plain script that calls :func:`jaxjam.inference.fit` needs no
    ``if __name__ == "__main__"`` guard. The workers inherit :data:`SINGLE_THREAD_ENV`.
    ``workers`` is capped at :func:`available_cores`, with a warning (:func:`capped_workers`).
    """
    from dask.distributed import Client
    from distributed.deploy.subprocess import SubprocessCluster

    n, why = capped_workers(workers)
    if why:
        warnings.warn(why, stacklevel=3)
    saved = {k: os.environ.get(k) for k in SINGLE_THREAD_ENV}
    os.environ.update(SINGLE_THREAD_ENV)  # read by the children at start-up, not by this process
    # as in dask_client: distributed's INFO lines (each process it starts, each stream it
    # closes) would break the caller's progress bars and bury the fit's own messages
    log = logging.getLogger("distributed")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with _restored(saved):
            cluster = SubprocessCluster(n_workers=n, worker_class="distributed.Worker",
                                        worker_kwargs={"nthreads": 1}, dashboard_address=":0",
                                        silence_logs=40)  # fmt: skip
        with cluster, Client(cluster) as client:
            client.wait_for_workers(n, timeout=120)
            yield client
    finally:
        log.setLevel(level)

"""Executors: where corpus tasks run. One small contract, as engines have for models:

    executor.run(tasks, hooks) -> iterator of (task, SourceResult), in the order they finish

``hooks.should_stop()`` is polled (Ctrl-C): sources in flight then end as ``interrupted`` and no
new one starts. ``hooks.started(task)`` is called in the driver just before a task is handed out,
``hooks.frames(task, n)`` as frames are done where the executor can tell. The runner does not
know which executor runs; Ray is imported only inside :class:`RayExecutor` (``ray_executor``).
"""
from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from auvid.corpus.plan import SourceTask
from auvid.process import FAILED, INTERRUPTED, SourceResult

log = logging.getLogger(__name__)


@dataclass
class Hooks:
    should_stop: Callable[[], bool] = lambda: False
    started: Callable[[SourceTask], None] = lambda task: None
    frames: Callable[[SourceTask, int], None] = lambda task, n: None


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers(sources: int, per_worker_mb: int = 400) -> int:
    """What the machine can feed: one worker per core, no more than there are sources, and no
    more than the free memory holds (a worker peaks near 250 MB on 640x480 video)."""
    workers = min(usable_cores(), max(1, sources))
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                workers = min(workers, max(1, int(line.split()[1]) // 1024 // per_worker_mb))
    except OSError:
        pass
    return workers


class InlineExecutor:
    """Sources one after another in this process: no start-up cost, no isolation (a segfault in a
    decoder ends the run; a re-run resumes). For notebooks, debugging and the baseline."""

    name = "inline"

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads

    def run(self, tasks: list[SourceTask], hooks: Hooks) -> Iterator[tuple[SourceTask, SourceResult]]:
        from auvid.corpus.worker import EngineCache, run_task

        engines = EngineCache()
        for task in tasks:
            if hooks.should_stop():
                return
            hooks.started(task)
            yield task, run_task(task, engines, hooks.should_stop,
                                 lambda frames, total, task=task: hooks.frames(task, frames), threads=self.threads)


def _pool_worker(connection, threads: int) -> None:
    """A pool process: its own engine and pipeline, tasks in over a pipe, results out.

    SIGINT only sets a flag (checked after each frame): the driver forwards Ctrl-C, and a
    terminal sends it to the whole process group too; either way the source in hand ends as
    ``interrupted`` with its rows kept in ``.partial`` files.
    """
    import threading

    import cv2

    from auvid.corpus.worker import EngineCache, run_task

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    cv2.setNumThreads(threads)
    engines = EngineCache()
    while True:
        try:
            task = connection.recv()
        except EOFError:
            return
        if task is None:
            return
        result = run_task(task, engines, stop.is_set, lambda frames, total: connection.send(("frames", frames)),
                          threads=threads)
        connection.send(("done", result))


class ProcessPoolExecutor:
    """``workers`` long-lived processes, each with its own pipeline and ``threads`` ORT threads.

    Not concurrent.futures' pool: that one breaks as a whole when a worker dies and cannot say
    which source killed it. Here each process has its own pipe; a process that dies (segfault,
    OOM kill) fails the one source it held, and a fresh process takes its place.
    """

    name = "process pool"

    def __init__(self, workers: int, threads: int | None = None, stop_grace_s: float = 60.0) -> None:
        self.workers = max(1, workers)
        self.threads = threads or max(1, usable_cores() // self.workers)
        self.stop_grace_s = stop_grace_s

    def _start(self, context):
        parent, child = context.Pipe()
        process = context.Process(target=_pool_worker, args=(child, self.threads), daemon=True,
                                  name="auvid-worker")
        process.start()
        child.close()
        return _Slot(process, parent)

    def run(self, tasks: list[SourceTask], hooks: Hooks) -> Iterator[tuple[SourceTask, SourceResult]]:
        import multiprocessing
        from multiprocessing.connection import wait

        context = multiprocessing.get_context("spawn")  # no fork of a process running threads
        pending = list(reversed(tasks))
        slots = [self._start(context) for _ in range(min(self.workers, len(tasks)))]
        stopping_since = None
        try:
            while True:
                if hooks.should_stop() and stopping_since is None:
                    stopping_since = time.monotonic()
                    pending.clear()
                    for slot in slots:
                        if slot.task is not None:
                            slot.interrupt()
                for slot in slots:
                    if slot.task is None and pending and slot.alive:
                        slot.give(pending.pop(), hooks)
                busy = [slot for slot in slots if slot.task is not None]
                if not busy:
                    return
                if stopping_since is not None and time.monotonic() - stopping_since > self.stop_grace_s:
                    for slot in busy:
                        yield slot.task, SourceResult(slot.task.source, INTERRUPTED,
                                                      error="interrupted (the worker did not stop in time)")
                        slot.kill()
                        slot.task = None
                    return
                ready = wait([s.connection for s in busy] + [s.process.sentinel for s in busy], timeout=0.2)
                for slot in busy:
                    finished = self._collect(slot, ready, hooks)
                    if finished is not None:
                        yield finished
                        if not slot.alive and (pending or stopping_since is None):
                            slots[slots.index(slot)] = self._start(context)
        finally:
            for slot in slots:
                slot.close()

    def _collect(self, slot: "_Slot", ready: list, hooks: Hooks):
        """The slot's finished task and result, if it has one now (a dead process fails its task)."""
        if slot.connection in ready:
            try:
                while slot.connection.poll():
                    kind, payload = slot.connection.recv()
                    if kind == "frames":
                        hooks.frames(slot.task, payload)
                    else:
                        task, slot.task = slot.task, None
                        return task, payload
            except (EOFError, OSError):
                pass  # the process died mid-message: handled as a crash below
        if slot.process.sentinel in ready or not slot.process.is_alive():
            slot.process.join(timeout=1)
            if slot.process.exitcode is None:
                return None
            task, slot.task = slot.task, None
            slot.alive = False
            return task, SourceResult(task.source, FAILED, error=f"the worker process crashed ({_describe_exit(slot.process.exitcode)}) "
                                      "while analysing this source")
        return None


class _Slot:
    """One worker process, its pipe and the task it holds."""

    def __init__(self, process, connection) -> None:
        self.process = process
        self.connection = connection
        self.task: SourceTask | None = None
        self.alive = True

    def give(self, task: SourceTask, hooks: Hooks) -> None:
        hooks.started(task)
        self.task = task
        self.connection.send(task)

    def interrupt(self) -> None:
        if self.process.is_alive():
            os.kill(self.process.pid, signal.SIGINT)

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.alive = False

    def close(self) -> None:
        if self.process.is_alive() and self.task is None:
            try:
                self.connection.send(None)
            except OSError:
                pass
            self.process.join(timeout=5)
        if self.process.is_alive():
            self.kill()
        self.connection.close()


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def make_executor(kind: str = "local", workers: int | None = None, threads: int | None = None,
                  ray_address: str | None = None, gpus_per_task: float = 0.0, sources: int = 1 << 30):
    """``local`` with ``workers`` 0: inline; ``local`` otherwise: a process pool; ``ray``: Ray tasks."""
    if kind == "ray":
        from auvid.corpus.ray_executor import RayExecutor

        return RayExecutor(address=ray_address, local_cpus=workers or default_workers(sources), cpus_per_task=threads or 1,
                           gpus_per_task=gpus_per_task)
    if kind == "inline" or (kind == "local" and workers == 0):
        return InlineExecutor(threads=threads)
    if kind in ("local", "pool"):
        return ProcessPoolExecutor(workers or default_workers(sources), threads=threads)
    from auvid.errors import ConfigError

    raise ConfigError(f"unknown executor {kind!r} (local, ray)")

"""Executors: where corpus tasks run. One small contract, as engines have for models:

    executor.run(tasks, hooks) -> iterator of (task, SourceResult), in the order they finish

``hooks.should_stop()`` is polled (Ctrl-C): sources in flight then end as ``interrupted`` and no
new one starts. ``hooks.started(task)`` is called in the driver just before a task is handed out
(through :func:`prepare`: an OSError there, outputs that cannot be made, fails that source alone),
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
from typing import TYPE_CHECKING

from auvid.corpus.plan import SourceTask
from auvid.commands.process import FAILED, INTERRUPTED, SourceResult

if TYPE_CHECKING:  # annotations only: nothing heavy is imported at run time
    from auvid.corpus.ray_executor import RayExecutor

log = logging.getLogger(__name__)


@dataclass
class Hooks:
    should_stop: Callable[[], bool] = lambda: False
    started: Callable[[SourceTask], None] = lambda task: None
    frames: Callable[[SourceTask, int], None] = lambda task, n: None


MAX_HANDOFFS = 3


def prepare(task: SourceTask, hooks: Hooks) -> SourceResult | None:
    """``hooks.started(task)``; the task's failed result when its outputs cannot be prepared (a
    file where its folder should be, no permission), so that one source fails and the rest run."""
    try:
        hooks.started(task)
    except OSError as exc:
        reason = f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else str(exc)
        return SourceResult(task.source, FAILED, error=f"its outputs cannot be written ({reason})")
    return None


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
            failed = prepare(task, hooks)
            if failed is not None:
                yield task, failed
                continue
            yield task, run_task(task, engines, hooks.should_stop,
                                 lambda frames, total, task=task: hooks.frames(task, frames), threads=self.threads)


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

    def _start(self) -> "_Slot":
        import subprocess
        import sys
        from multiprocessing.connection import Connection
        from pathlib import Path

        task_read, task_write = os.pipe()
        result_read, result_write = os.pipe()
        root = str(Path(__file__).resolve().parent.parent.parent)  # the workers run this very auvid
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
        process = subprocess.Popen([sys.executable, "-m", "auvid.corpus.pool_worker", str(task_read), str(result_write),
                                    str(self.threads)], pass_fds=(task_read, result_write), env=env,
                                   stdin=subprocess.DEVNULL)
        os.close(task_read)
        os.close(result_write)
        return _Slot(process, Connection(task_write, readable=False), Connection(result_read, writable=False))

    def run(self, tasks: list[SourceTask], hooks: Hooks) -> Iterator[tuple[SourceTask, SourceResult]]:
        from multiprocessing.connection import wait

        pending = list(reversed(tasks))
        slots = [self._start() for _ in range(min(self.workers, len(tasks)))]
        stopping_since = None
        handoffs: dict[str, int] = {}  # workers found dead when handed a source, per source
        try:
            while True:
                if hooks.should_stop() and stopping_since is None:
                    stopping_since = time.monotonic()
                    pending.clear()
                    for slot in slots:
                        if slot.task is not None:
                            slot.interrupt()
                for i, slot in enumerate(slots):
                    while slot.task is None and pending and slot.alive:  # until this worker holds one
                        task = pending.pop()
                        failed = prepare(task, hooks)
                        if failed is not None:
                            yield task, failed
                            continue
                        try:
                            slot.give(task)
                        except OSError:  # it died while idle: a fresh one takes the task next round
                            slot.task = None
                            slot.kill()
                            handoffs[task.source] = handoffs.get(task.source, 0) + 1
                            if handoffs[task.source] >= MAX_HANDOFFS:  # workers that die on start: stop retrying
                                yield task, SourceResult(task.source, FAILED, error="no worker process could take "
                                                         f"this source ({MAX_HANDOFFS} died before it started)")
                            else:
                                pending.append(task)
                            slots[i] = self._start()
                            break
                busy = [slot for slot in slots if slot.task is not None]
                if not busy and not pending:
                    return
                if stopping_since is not None and time.monotonic() - stopping_since > self.stop_grace_s:
                    for slot in busy:
                        yield slot.task, SourceResult(slot.task.source, INTERRUPTED,
                                                      error="interrupted (the worker did not stop in time)")
                        slot.kill()
                        slot.task = None
                    return
                ready = wait([s.results for s in busy], timeout=0.2)  # a dead worker's pipe reads as EOF
                for slot in busy:
                    finished = self._collect(slot, ready, hooks)
                    if finished is not None:
                        yield finished
                        if not slot.alive and (pending or stopping_since is None):
                            slots[slots.index(slot)] = self._start()
        finally:
            for slot in slots:
                slot.close()

    def _collect(self, slot: "_Slot", ready: list, hooks: Hooks):
        """The slot's finished task and result, if it has one now (a dead process fails its task)."""
        if slot.results not in ready:
            return None
        try:
            while slot.results.poll():
                kind, payload = slot.results.recv()
                if kind == "frames":
                    hooks.frames(slot.task, payload)
                else:
                    task, slot.task = slot.task, None
                    return task, payload
            return None
        except (EOFError, OSError):
            pass  # the worker is gone: its end of the pipe closed with it
        code = slot.process.wait()
        task, slot.task = slot.task, None
        slot.alive = False
        return task, SourceResult(task.source, FAILED, error=f"the worker process crashed ({_describe_exit(code)}) "
                                  "while analysing this source")


class _Slot:
    """One worker process, its two pipes and the task it holds."""

    def __init__(self, process, tasks, results) -> None:
        self.process = process
        self.tasks = tasks
        self.results = results
        self.task: SourceTask | None = None
        self.alive = True

    def give(self, task: SourceTask) -> None:
        self.task = task
        self.tasks.send(task)

    def interrupt(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.alive = False

    def close(self) -> None:
        if self.process.poll() is None and self.task is None:
            try:
                self.tasks.send(None)
                self.process.wait(timeout=5)
            except Exception:  # already gone, or not stopping: killed below
                pass
        if self.process.poll() is None:
            self.kill()
        self.tasks.close()
        self.results.close()


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def make_executor(kind: str = "local", workers: int | None = None, threads: int | None = None,
                  ray_address: str | None = None, gpus_per_task: float = 0.0,
                  sources: int = 1 << 30) -> "InlineExecutor | ProcessPoolExecutor | RayExecutor":
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

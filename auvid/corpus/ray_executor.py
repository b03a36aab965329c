"""The Ray executor: one Ray task per source, on a local Ray instance or a running cluster.

Workers need auvid and its runtime dependencies installed, but no shared file system: the driver
sends each source's bytes with its task (through Ray's object store) and writes the outputs from
the bytes the task returns. ``ray`` is imported here only, so the rest of auvid never needs it.
"""
from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from auvid.corpus.executors import Hooks, prepare
from auvid.corpus.plan import SourceTask
from auvid.commands.process import FAILED, INTERRUPTED, SourceResult

log = logging.getLogger(__name__)

_ENGINES = None  # per Ray worker process: Ray reuses workers, so the model loads once per process


def _analyze_remote(task: SourceTask, payload: dict[str, bytes]) -> tuple[SourceResult, dict[str, bytes]]:
    """In a Ray worker: rebuild the source in a temporary folder, analyse it, return the bytes of
    every file written (file name -> bytes: outputs, final or ``.partial``, and sidecars)."""
    import dataclasses

    from auvid.corpus.worker import EngineCache, run_task

    global _ENGINES
    if _ENGINES is None:
        _ENGINES = EngineCache()
    with tempfile.TemporaryDirectory(prefix="auvid-ray-") as scratch:
        root = Path(scratch)
        source_name = Path(task.source).name
        if len(payload) == 1 and "" in payload:
            source = root / "in" / source_name
            source.parent.mkdir()
            source.write_bytes(payload[""])
        else:  # an image folder: name -> bytes
            source = root / "in" / source_name
            source.mkdir(parents=True)
            for name, data in payload.items():
                (source / name).write_bytes(data)
        (root / "out").mkdir()
        outputs = {kind: str(root / "out" / Path(path).name) for kind, path in task.outputs.items()}
        local = dataclasses.replace(task, source=str(source), outputs=outputs)
        result = run_task(local, _ENGINES)
        result.error = result.error.replace(str(source), task.source)  # the user's name, not the scratch copy's
        # every file the task wrote: outputs (final or .partial) and sidecars such as --calibrate's
        files = {path.name: path.read_bytes() for path in sorted((root / "out").iterdir()) if path.is_file()}
        return result, files


def _payload(task: SourceTask) -> dict[str, bytes]:
    """The source's bytes: one file under key "", or an image folder's files by name."""
    from auvid.io.sources import IMAGE_SUFFIXES

    path = Path(task.source)
    if path.is_dir():
        return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    return {"": path.read_bytes()}


def _write_outputs(task: SourceTask, result: SourceResult, files: dict[str, bytes]) -> None:
    """The driver's half: the returned files beside the task's CSV, each written to a temporary
    name first, so no final name ever holds a half-written file."""
    folder = Path(task.outputs["csv"]).parent
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, data in files.items():
        target = folder / name
        temporary = folder / f".{name}.{os.getpid()}.tmp"
        temporary.write_bytes(data)
        os.replace(temporary, target)
        written[name] = str(target)
    names = {Path(p).name for p in task.outputs.values()}
    result.outputs = [path for name, path in written.items() if name in names or name.removesuffix(".partial") in names]
    result.calibration = next((path for name, path in written.items() if name.endswith(".calibration.json")), None)
    result.source = task.source


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds on a cluster address nobody answers at: ray.init would retry for minutes."""
    import socket

    from auvid.errors import ConfigError

    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" and other forms Ray resolves itself
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(f"cannot join the Ray cluster at {address}: nothing answers there ({exc.strerror or exc}); "
                          "start it with `ray start --head` or leave out --ray-address for a local Ray") from None


class RayExecutor:
    """Sources as Ray tasks; ``address`` None starts a local instance (no dashboard) with
    ``local_cpus`` CPUs. Each task asks for ``cpus_per_task`` CPUs (its ORT threads) and
    ``gpus_per_task`` GPUs; a task whose worker dies is retried ``max_retries`` times."""

    name = "ray"

    def __init__(self, address: str | None = None, local_cpus: int = 1, cpus_per_task: int = 1,
                 gpus_per_task: float = 0.0, max_retries: int = 2) -> None:
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.local_cpus = local_cpus
        self.cpus_per_task = cpus_per_task
        self.gpus_per_task = gpus_per_task
        self.max_retries = max_retries

    def _connect(self):
        try:
            import ray
        except ImportError:
            from auvid.errors import ConfigError

            raise ConfigError("--executor ray needs Ray: pip install 'auvid[ray]'") from None
        if ray.is_initialized():
            return ray, False
        if self.address:
            _check_reachable(self.address)
            try:
                ray.init(address=self.address, logging_level=logging.WARNING, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as exc:
                from auvid.errors import ConfigError

                cause = exc.__cause__ or exc
                reason = str(cause).strip().splitlines()[-1][:300] if str(cause).strip() else type(cause).__name__
                raise ConfigError(f"cannot join the Ray cluster at {self.address}: {reason} (is `ray start --head` "
                                  "running there, and does this machine have the cluster's auth token?)") from None
        else:
            # A local instance runs this very auvid (a checkout or an install): its workers get
            # the driver's import path.
            root = str(Path(__file__).resolve().parent.parent.parent)
            path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
            ray.init(num_cpus=self.local_cpus, include_dashboard=False, logging_level=logging.ERROR,
                     log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
        return ray, True

    def run(self, tasks: list[SourceTask], hooks: Hooks) -> Iterator[tuple[SourceTask, SourceResult]]:
        ray, started_here = self._connect()
        try:
            import dataclasses

            remote = ray.remote(_analyze_remote).options(
                num_cpus=self.cpus_per_task, num_gpus=self.gpus_per_task, max_retries=self.max_retries,
                retry_exceptions=False)
            slots = max(1, int(ray.cluster_resources().get("CPU", 1) // self.cpus_per_task))
            window = 2 * slots  # bounded: the driver holds at most this many sources' bytes
            pending = list(reversed(tasks))
            in_flight: dict = {}
            while pending or in_flight:
                if hooks.should_stop():
                    for ref, task in in_flight.items():
                        ray.cancel(ref)
                        yield task, SourceResult(task.source, INTERRUPTED,
                                                 error="interrupted (Ray tasks return no partial rows)")
                    return
                while pending and len(in_flight) < window:
                    task = pending.pop()
                    failed = prepare(task, hooks)
                    if failed is not None:
                        yield task, failed
                        continue
                    if task.missing:
                        yield task, SourceResult(task.source, FAILED, error=f"{task.source}: no such file or folder")
                        continue
                    try:
                        payload = _payload(task)
                    except OSError as exc:
                        yield task, SourceResult(task.source, FAILED, error=f"{task.source}: cannot read ({exc.strerror})")
                        continue
                    threads = dataclasses.replace(task.options, threads=task.options.threads or self.cpus_per_task)
                    in_flight[remote.remote(dataclasses.replace(task, options=threads), payload)] = task
                if not in_flight:
                    continue
                ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.2)
                for ref in ready:
                    task = in_flight.pop(ref)
                    try:
                        result, files = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
                        error = f"the Ray task failed after {self.max_retries} retries ({type(exc).__name__}: {reason})"
                        yield task, SourceResult(task.source, FAILED, error=error)
                        continue
                    _write_outputs(task, result, files)
                    hooks.frames(task, result.frames)
                    yield task, result
        finally:
            if started_here:
                ray.shutdown()


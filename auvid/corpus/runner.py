"""A corpus run: plan, resume check, an executor, the summary kept on disk, and the exit code.

Exit codes (also in the README): 0 every source ok, 3 some had no face, 2 some failed,
130 interrupted (the highest that applies, in the order 130 > 2 > 3 > 0).
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from auvid.corpus.executors import Hooks, make_executor
from auvid.corpus.plan import SourceTask, make_tasks
from auvid.corpus.summary import Summary, SummaryRow
from auvid.errors import OutputError
from auvid.utils.interrupt import GracefulInterrupt
from auvid.commands.process import FAILED, INTERRUPTED, NO_FACE, OK, SourceResult, remove_stale_outputs

if TYPE_CHECKING:  # annotations only: nothing heavy is imported at run time
    from auvid.pipeline import AnalyzerOptions

log = logging.getLogger(__name__)
SKIPPED = "skipped"


@dataclass
class CorpusReport:
    """What a corpus run did: this run's rows (planned order), timing, and the exit code."""

    rows: list[SummaryRow]
    summary_path: Path
    seconds: float
    executor: str
    interrupted: bool = False
    not_started: int = 0
    analysed: list[SourceResult] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        statuses = {row.status for row in self.rows}
        if self.interrupted or INTERRUPTED in statuses:
            return 130
        if FAILED in statuses or self.not_started:  # a source neither run nor refused is a failure
            return 2
        if NO_FACE in statuses or any(r.status == SKIPPED and r.faces == 0 for r in self.rows):
            return 3
        return 0

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row.status] = counts.get(row.status, 0) + 1
        return counts


def _key(task: SourceTask) -> str:
    """A source's row key: its absolute path (symlinks kept: the name the user gave)."""
    return os.path.abspath(task.source)


def is_complete(previous: SummaryRow | None, task: SourceTask) -> bool:
    """Resume may skip ``task``: its last run finished on the same bytes, with the same model and
    options, into the same files, and those files are there under their final names."""
    if previous is None or previous.status not in (OK, NO_FACE, SKIPPED):
        return False
    if previous.settings != task.settings or previous.outputs != task.outputs:
        return False
    fingerprint = task.fingerprint
    if (previous.source_size, previous.source_mtime_ns) != (fingerprint.get("size"), fingerprint.get("mtime_ns")):
        return False
    return all(Path(p).is_file() for p in task.outputs.values())


def _row(task: SourceTask, result: SourceResult) -> SummaryRow:
    if result.status == INTERRUPTED and not result.error:
        result.error = (f"interrupted (Ctrl-C) after frame {result.frames}; the rows so far are in "
                        f"{task.outputs['csv']}.partial")
    return SummaryRow(source=_key(task), status=result.status, frames=result.frames,
                      faces=result.faces, face_ids=result.face_ids, seconds=result.seconds, fps=result.fps,
                      error=result.error, warning="; ".join(result.warnings), outputs=task.outputs,
                      source_size=task.fingerprint.get("size"), source_mtime_ns=task.fingerprint.get("mtime_ns"),
                      settings=task.settings)


def run_corpus(sources: list[str], out_dir: str | Path, options: "AnalyzerOptions", kinds: tuple[str, ...] = ("csv",),
               max_frames: int | None = None, fps: float = 30.0, executor: str = "local", workers: int | None = None,
               ray_address: str | None = None, force: bool = False,
               view: Callable[..., object] | None = None) -> CorpusReport:
    """Analyse every source into ``out_dir``; returns the report (the summary is on disk too).

    ``view``: a progress view (see :mod:`auvid.corpus.view`), or None for none. Ctrl-C stops
    after the frame in hand: finished CSVs stay, the sources in flight keep ``.partial`` files
    and are marked ``interrupted``, and the same call again resumes.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    tasks = make_tasks(sources, out, options, kinds, max_frames=max_frames, fps=fps)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create the folder ({exc.strerror})") from None
    if not os.access(out, os.W_OK):
        raise OutputError(f"{out}: folder is not writable")
    summary = Summary(out)
    rows: dict[str, SummaryRow] = {}
    to_run = []
    for task in tasks:
        key = _key(task)
        previous = summary.previous(key)
        if not force and is_complete(previous, task):
            skipped = SummaryRow(**{**previous.__dict__, "status": SKIPPED, "source": key})
            rows[key] = skipped
            summary.record(skipped)
        else:
            to_run.append(task)
    gpus = 1.0 if options.backend == "tensorrt" else 0.0
    runner = make_executor(executor, workers=workers, threads=options.threads, ray_address=ray_address,
                           gpus_per_task=gpus, sources=len(to_run)) if to_run else None
    if view is not None:
        view.start(len(tasks), len(tasks) - len(to_run), getattr(runner, "name", "-"))
    stop = GracefulInterrupt()
    in_flight: dict[str, SourceTask] = {}
    analysed: list[SourceResult] = []
    interrupted = False

    def started(task: SourceTask) -> None:
        remove_stale_outputs(list(task.outputs.values()))
        for path in map(Path, task.outputs.values()):
            path.parent.mkdir(parents=True, exist_ok=True)
        in_flight[task.source] = task

    frames_seen: dict[str, int] = {}

    def frames(task: SourceTask, count: int) -> None:
        frames_seen[task.source] = count
        if view is not None:
            view.frames(task.source, count)

    started_at = time.perf_counter()
    stop.install()
    try:
        if runner is not None:
            for task, result in runner.run(to_run, Hooks(lambda: stop.requested, started, frames)):
                in_flight.pop(task.source, None)
                row = _row(task, result)
                rows[row.source] = row
                summary.record(row)
                analysed.append(result)
                if view is not None:
                    view.finished(task, row)
    except KeyboardInterrupt:  # a second Ctrl-C: stop waiting for workers
        interrupted = True
    finally:
        stop.restore()
        for task in in_flight.values():
            error = f"interrupted (a second Ctrl-C); the rows so far are in {task.outputs['csv']}.partial"
            row = _row(task, SourceResult(task.source, INTERRUPTED, frames=frames_seen.get(task.source, 0), error=error))
            rows[row.source] = row
            summary.record(row)
        summary.flush()
        if view is not None:
            view.stop()
    interrupted = interrupted or stop.requested
    ordered = [rows[_key(t)] for t in tasks if _key(t) in rows]
    return CorpusReport(ordered, summary.path, time.perf_counter() - started_at, getattr(runner, "name", "-"),
                        interrupted=interrupted, not_started=len(tasks) - len(ordered), analysed=analysed)

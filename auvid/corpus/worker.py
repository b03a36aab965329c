"""Running one corpus task wherever an executor puts it: in the driver, a pool process or a Ray
task. The same function in all three, so their CSVs are the same bytes."""
from __future__ import annotations

import dataclasses
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from auvid.corpus.plan import SourceTask
from auvid.commands.process import FAILED, SourceResult, analyze_source

if TYPE_CHECKING:  # annotations only: nothing heavy is imported at run time
    from auvid.pipeline import AnalyzerOptions
    from engines.base import Engine

log = logging.getLogger(__name__)

# Test hook (documented in README "Corpus"): a worker given a source whose file name contains
# this text kills itself with SIGSEGV, as a decoder crash on a hostile file would.
CRASH_HOOK = "AUVID_TEST_CRASH_ON"


class EngineCache:
    """One activated engine per (backend, model, threads) for the life of a worker process:
    loading the model is the one cost worth sharing between a worker's sources."""

    def __init__(self) -> None:
        self._engines: dict[tuple, object] = {}

    def get(self, options: "AnalyzerOptions") -> "Engine":
        from engines.select import open_engine

        key = (options.backend, options.model, options.threads)
        if key not in self._engines:
            self._engines[key] = open_engine(options.backend, options.model, threads=options.threads)
        return self._engines[key]


def run_task(task: SourceTask, engines: EngineCache | None = None, should_stop: Callable[[], bool] | None = None,
             on_progress: Callable[[int, int | None], None] | None = None,
             threads: int | None = None) -> SourceResult:
    """Analyse ``task``'s source into its outputs; every failure becomes a ``failed`` result."""
    from auvid.errors import AuvidError

    if task.missing:
        return SourceResult(task.source, FAILED, error=f"{task.source}: no such file or folder")
    crash_on = os.environ.get(CRASH_HOOK)
    if crash_on and crash_on in Path(task.source).name:
        os.kill(os.getpid(), signal.SIGSEGV)
    options = task.options
    if threads and not options.threads:
        options = dataclasses.replace(options, threads=threads)
    try:
        engine = (engines or EngineCache()).get(options)
        return analyze_source(task.source, task.outputs["csv"], options, jsonl=task.outputs.get("jsonl"),
                              overlay=task.outputs.get("overlay"), max_frames=task.max_frames, fps=task.fps,
                              engine=engine, should_stop=should_stop, on_progress=on_progress)
    except AuvidError as exc:
        return SourceResult(task.source, FAILED, error=str(exc))
    except Exception as exc:  # a bug or a library failing on a hostile file: that source fails, the corpus goes on
        log.debug("%s failed", task.source, exc_info=True)
        return SourceResult(task.source, FAILED, error=f"{type(exc).__name__}: {exc}".splitlines()[0][:300])

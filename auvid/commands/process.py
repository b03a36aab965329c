"""One source (a video file or an image folder) through the pipeline into CSV/JSONL/overlay files.

:func:`analyze_source` does the work and returns a :class:`SourceResult` without printing, so the
single-file ``auvid process --out`` and the corpus runner (:mod:`auvid.corpus`) share one code
path: a clip's CSV is byte-identical whichever of them wrote it. :func:`run_process` is the
single-file command: progress bar, summary table, warnings and exit code around it.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from auvid.errors import InputError, OutputError
from auvid.utils.interrupt import GracefulInterrupt
from auvid.pipeline import Analyzer, AnalyzerOptions
from auvid.utils.stats import StageTimes

if TYPE_CHECKING:  # annotations only: nothing heavy is imported at run time
    from auvid.io.sources import ImageFolderSource, VideoFileSource

log = logging.getLogger(__name__)

# Statuses a source can end in (the corpus adds "skipped" for sources a resume did not redo).
OK, NO_FACE, FAILED, INTERRUPTED = "ok", "no_face", "failed", "interrupted"


@dataclass
class SourceResult:
    """What one source gave: counts, time, the files written and why it ended as it did."""

    source: str
    status: str
    frames: int = 0
    faces: int = 0
    face_ids: list[int] = field(default_factory=list)
    seconds: float = 0.0
    model_load_s: float = 0.0
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    stages_ms: dict = field(default_factory=dict)
    backend: str = ""
    bad_packets: int = 0
    corrupt_frames: int = 0
    ended_early: str | None = None
    calibration: str | None = None  # --calibrate: the sidecar saying how the CSV was calibrated

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def open_file_source(path: Path, fps: float = 30.0, max_frames: int | None = None) -> "VideoFileSource | ImageFolderSource":
    """A video file or an image folder (not cameras: those are `auvid live`'s)."""
    from auvid.io.sources import ImageFolderSource, VideoFileSource

    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    return (ImageFolderSource(path, fps=fps, max_frames=max_frames) if path.is_dir()
            else VideoFileSource(path, max_frames=max_frames))


def analyze_source(source_spec: str | Path, out: str | Path, options: AnalyzerOptions, jsonl: str | Path | None = None,
                   overlay: str | Path | None = None, max_frames: int | None = None, fps: float = 30.0,
                   engine=None, should_stop: Callable[[], bool] | None = None,
                   on_progress: Callable[[int, int | None], None] | None = None) -> SourceResult:
    """Analyse one source into its output files and say how it went.

    Raises :class:`~auvid.errors.AuvidError` for what stops it before the first frame (missing or
    unreadable source, unwritable output, bad model); everything after that is in the result.
    ``engine``: an activated engine to reuse (a corpus worker loads the model once), else one is
    opened from ``options``. ``should_stop`` is polled after each frame (Ctrl-C); ``on_progress``
    gets (frames done, frames expected or None) every 10 frames.
    """
    from auvid.io.sinks import CsvSink, JsonlSink
    from auvid.io.sources import Prefetch

    path = Path(source_spec)
    source = open_file_source(path, fps=fps, max_frames=max_frames)
    check_outputs([out, jsonl, overlay], path)
    load_start = time.perf_counter()
    analyzer = Analyzer(options, engine=engine)
    load_seconds = time.perf_counter() - load_start
    remove_stale_outputs([out, jsonl, overlay])
    sinks = [CsvSink(out, analyzer.intensity_aus, analyzer.occurrence_aus)]
    complete = False
    try:
        if jsonl:
            sinks.append(JsonlSink(jsonl, analyzer.intensity_aus, analyzer.occurrence_aus))
        if overlay:
            from auvid.io.overlay import OverlaySink

            sinks.append(OverlaySink(overlay, source.fps, analyzer.intensity_aus))
        times = StageTimes()
        total = min(source.frame_count or 0, max_frames or 10**12) or None
        interrupted = False
        error: BaseException | None = None
        frames = faces = 0
        face_ids: set[int] = set()
        started = time.perf_counter()
        requested = should_stop or (lambda: False)
        try:
            stream = analyzer.run(_calibration_input(options, Prefetch(source), requested),
                                  batch_frames=options.batch_frames)
            if overlay and options.calibrate == "offline":  # offline-calibrated results come without images
                from auvid.stages.calibrate import with_images

                stream = with_images(stream, open_file_source(path, fps=fps, max_frames=max_frames))
            for result in stream:
                write_start = time.perf_counter()
                for sink in sinks:
                    sink.write(result)
                result.timings["write"] = time.perf_counter() - write_start
                times.add_frame(result.timings)
                frames += 1
                faces += len(result.faces)
                face_ids.update(f.face.face_id for f in result.faces)
                if on_progress is not None and frames % 10 == 0:
                    on_progress(frames, total)
                if requested() and options.calibrate != "offline":  # offline: Ctrl-C ended the source
                    break
        except KeyboardInterrupt:
            interrupted = True
        except InputError as exc:
            error = exc
        interrupted = interrupted or requested()
        elapsed = time.perf_counter() - started
        complete = not interrupted and error is None and frames > 0
    finally:
        written = [sink.close(complete) for sink in sinks]
    calibration = None
    if analyzer.calibrator is not None and frames:  # --calibrate: a sidecar says so, and how
        from auvid.stages.calibrate import write_sidecar

        calibration = str(write_sidecar(written[0], analyzer.calibrator))
    stats = source.stats
    if interrupted:
        status = INTERRUPTED
    elif error is not None or frames == 0:
        status = FAILED
    else:
        status = OK if faces else NO_FACE
    result = SourceResult(
        source=str(path), status=status, frames=frames, faces=faces, face_ids=sorted(face_ids), seconds=elapsed,
        model_load_s=load_seconds, error=str(error) if error is not None else
        (f"{path}: no frame could be decoded" if frames == 0 and not interrupted else ""),
        outputs=[str(p) for p in written], stages_ms=times.table(), backend=analyzer.engine.description,
        bad_packets=stats.bad_packets, corrupt_frames=stats.corrupt_frames, ended_early=stats.ended_early,
        calibration=calibration)
    result.warnings = _warnings(result, path.name, source.frame_count if not path.is_dir() else 0, max_frames)
    return result


def _calibration_input(options: AnalyzerOptions, frames, requested: Callable[[], bool]):
    """Offline calibration yields rows only once the source ends: Ctrl-C then ends the source."""
    if options.calibrate != "offline":
        return frames
    from auvid.stages.calibrate import until

    return until(requested, frames)


def _warnings(result: SourceResult, name: str, declared_frames: int, max_frames: int | None) -> list[str]:
    """Damage the source had, in words: the rows are kept, but the user should know."""
    warnings = []
    if result.bad_packets:
        warnings.append(f"{result.bad_packets} undecodable packet(s) skipped in {name}")
    if result.corrupt_frames:
        warnings.append(f"{result.corrupt_frames} frame(s) of {name} were damaged "
                        "(decoded with concealed errors); their rows are kept")
    if result.ended_early:
        warnings.append(f"the stream ends early ({result.ended_early}); {result.frames} frame(s) analysed")
    elif (result.status in (OK, NO_FACE) and declared_frames and not max_frames
          and result.frames < 0.9 * declared_frames):
        warnings.append(f"{name} ends at frame {result.frames} of the {declared_frames} its header declares "
                        "(truncated?)")
    return warnings


def run_process(source_spec: str, out: str, options: AnalyzerOptions, jsonl: str | None = None,
                overlay: str | None = None, max_frames: int | None = None, fps: float = 30.0,
                quiet: bool = False) -> int:
    """``auvid process SOURCE --out FILE``: one source, a progress bar, a summary; the exit code."""
    from rich.console import Console

    console = Console(stderr=True)
    progress = task = None
    started = time.perf_counter()

    def show(frames: int, total: int | None) -> None:
        nonlocal progress, task
        if progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[fps]:.0f} fps"), TimeRemainingColumn(), console=console,
                                transient=True)
            task = progress.add_task(Path(source_spec).name, total=total, fps=0.0)
            progress.start()
        progress.update(task, completed=frames, fps=frames / (time.perf_counter() - started))

    stop = GracefulInterrupt()
    stop.install()
    try:
        result = analyze_source(source_spec, out, options, jsonl=jsonl, overlay=overlay, max_frames=max_frames,
                                fps=fps, should_stop=lambda: stop.requested,
                                on_progress=show if not quiet and console.is_terminal else None)
    finally:
        stop.restore()
        if progress is not None:
            progress.stop()
    if not quiet:
        print_summary(console, result)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    if result.status == INTERRUPTED:
        print(f"auvid: interrupted after frame {result.frames}: the rows so far are in "
              f"{', '.join(result.outputs)}", file=sys.stderr)
        return 130
    if result.status == FAILED:
        print(f"auvid: error: {result.error}", file=sys.stderr)
        return 2
    if result.status == NO_FACE:
        print(f"auvid: no face found in {result.frames} frames of {Path(source_spec).name}: {out} has success=0 "
              "rows only", file=sys.stderr)
        return 3
    return 0


def remove_stale_outputs(outputs: list) -> None:
    """Remove an earlier run's outputs (and their ``--calibrate`` sidecars) before a new run
    writes its ``.partial`` files: an old complete-looking file must not outlive an interrupted redo."""
    for output in outputs:
        for path in (Path(output), Path(str(output) + ".calibration.json")) if output else ():
            if path.is_file():  # a path that cannot be a file is left for the writer's own error
                path.unlink()


def check_outputs(outputs: list, source: Path | None) -> None:
    """Refuse output paths that cannot be written, before any work is done (``source`` None: a
    camera, which no output can overwrite)."""
    given = [Path(output) for output in outputs if output]
    for target in given:
        if sum(other.resolve() == target.resolve() for other in given) > 1:
            raise OutputError(f"{target}: given for two outputs; each output needs its own file")
    for target in given:
        if source is not None and target.resolve() == source.resolve():
            raise OutputError(f"{target}: refusing to overwrite the input")
        if target.is_dir():
            raise OutputError(f"{target}: is a folder; give a file name")
        if not target.parent.exists():
            raise OutputError(f"{target}: folder {target.parent} does not exist")
        if not os.access(target.parent, os.W_OK):
            raise OutputError(f"{target}: folder {target.parent} is not writable")


def print_summary(console, result: SourceResult) -> None:
    from rich.table import Table

    status = "interrupted" if result.status == INTERRUPTED else "done"
    console.print(f"[bold]{status}[/]: {result.frames} frames, {result.faces} faces "
                  f"(ids {result.face_ids or '-'}) in {result.seconds:.1f} s = "
                  f"[bold]{result.fps:.1f} fps[/]; model load {result.model_load_s:.2f} s; {result.backend}")
    table = Table(title="per-stage time per frame (ms)", show_edge=False)
    table.add_column("stage")
    for q in ("p50", "p95", "p99"):
        table.add_column(q, justify="right")
    for stage, values in result.stages_ms.items():
        table.add_row(stage, *(f"{values[q]:.2f}" for q in ("p50", "p95", "p99")))
    console.print(table)
    for output in result.outputs:
        console.print(f"wrote {output}")
    if result.calibration:
        console.print(f"calibrated per person (offline, whole track per face id); baselines in {result.calibration}")

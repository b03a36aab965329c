"""``auvid process``: a video or image folder through the pipeline into CSV/JSONL/overlay files."""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from auvid.errors import InputError, OutputError
from auvid.interrupt import GracefulInterrupt
from auvid.pipeline import Analyzer, AnalyzerOptions
from auvid.stats import StageTimes

log = logging.getLogger(__name__)


def run_process(source_spec: str, out: str, options: AnalyzerOptions, jsonl: str | None = None,
                overlay: str | None = None, max_frames: int | None = None, fps: float = 30.0,
                quiet: bool = False) -> int:
    from rich.console import Console

    from auvid.sinks import CsvSink, JsonlSink
    from auvid.sources import ImageFolderSource, Prefetch, VideoFileSource

    console = Console(stderr=True)
    path = Path(source_spec)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    source = (ImageFolderSource(path, fps=fps, max_frames=max_frames) if path.is_dir()
              else VideoFileSource(path, max_frames=max_frames))
    _check_outputs([out, jsonl, overlay], path)
    load_start = time.perf_counter()
    analyzer = Analyzer(options)
    load_seconds = time.perf_counter() - load_start
    sinks = [CsvSink(out, analyzer.intensity_aus, analyzer.occurrence_aus)]
    if jsonl:
        sinks.append(JsonlSink(jsonl, analyzer.intensity_aus, analyzer.occurrence_aus))
    if overlay:
        from auvid.overlay import OverlaySink

        sinks.append(OverlaySink(overlay, source.fps, analyzer.intensity_aus))
    times = StageTimes()
    total = min(source.frame_count or 0, max_frames or 10**12) or None
    interrupted = False
    error: BaseException | None = None
    frames = faces = 0
    face_ids: set[int] = set()
    started = time.perf_counter()
    progress = None
    if not quiet and console.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[fps]:.0f} fps"), TimeRemainingColumn(), console=console,
                            transient=True)
        task = progress.add_task(path.name, total=total, fps=0.0)
        progress.start()
    stop = GracefulInterrupt()
    try:
        stop.install()
        stream = analyzer.run(_calibration_input(options, Prefetch(source), stop), batch_frames=options.batch_frames)
        if overlay and options.calibrate == "offline":  # offline-calibrated results come without images
            from auvid.calibrate import with_images

            stream = with_images(stream, ImageFolderSource(path, fps=fps, max_frames=max_frames) if path.is_dir()
                                 else VideoFileSource(path, max_frames=max_frames))
        for result in stream:
            write_start = time.perf_counter()
            for sink in sinks:
                sink.write(result)
            result.timings["write"] = time.perf_counter() - write_start
            times.add_frame(result.timings)
            frames += 1
            faces += len(result.faces)
            face_ids.update(f.face.face_id for f in result.faces)
            if progress is not None and frames % 10 == 0:
                progress.update(task, completed=frames, fps=frames / (time.perf_counter() - started))
            if stop.requested and options.calibrate != "offline":  # offline: Ctrl-C ended the source
                break
    except KeyboardInterrupt:
        interrupted = True
    except InputError as exc:
        error = exc
    finally:
        stop.restore()
        if progress is not None:
            progress.stop()
    interrupted = interrupted or stop.requested
    elapsed = time.perf_counter() - started
    complete = not interrupted and error is None and frames > 0
    written = [sink.close(complete) for sink in sinks]
    summary = {
        "source": str(path), "frames": frames, "faces": faces, "face_ids": sorted(face_ids),
        "seconds": elapsed, "fps": frames / elapsed if elapsed > 0 else 0.0, "model_load_s": load_seconds,
        "bad_packets": source.stats.bad_packets, "corrupt_frames": source.stats.corrupt_frames, "backend": analyzer.engine.description,
        "stages_ms": times.table(), "outputs": [str(p) for p in written], "interrupted": interrupted,
    }
    if analyzer.calibrator is not None and frames:  # --calibrate: the summary and a sidecar say so
        from auvid.calibrate import write_sidecar

        summary["calibration"] = str(write_sidecar(written[0], analyzer.calibrator))
    if not quiet:
        print_summary(console, summary)
    if source.stats.bad_packets:
        console.print(f"[yellow]warning:[/] {source.stats.bad_packets} undecodable packet(s) skipped in {path.name}")
    if source.stats.corrupt_frames:
        console.print(f"[yellow]warning:[/] {source.stats.corrupt_frames} frame(s) of {path.name} were damaged "
                      "(decoded with concealed errors); their rows are kept")
    if source.stats.ended_early:
        console.print(f"[yellow]warning:[/] the stream ends early ({source.stats.ended_early}); "
                      f"{frames} frame(s) analysed")
    if interrupted:
        print(f"auvid: interrupted after frame {frames}: the rows so far are in {', '.join(map(str, written))}",
              file=sys.stderr)
        return 130
    if error is not None:
        print(f"auvid: error: {error}", file=sys.stderr)
        return 2
    if frames == 0:
        print(f"auvid: error: {path}: no frame could be decoded", file=sys.stderr)
        return 2
    if faces == 0:
        print(f"auvid: no face found in {frames} frames of {path.name}: {out} has success=0 rows only",
              file=sys.stderr)
        return 3
    return 0


def _calibration_input(options: AnalyzerOptions, frames, stop: GracefulInterrupt):
    """Offline calibration yields rows only once the source ends: Ctrl-C then ends the source."""
    if options.calibrate != "offline":
        return frames
    from auvid.calibrate import until

    return until(lambda: stop.requested, frames)


def _check_outputs(outputs: list[str | None], source: Path) -> None:
    for output in outputs:
        if not output:
            continue
        target = Path(output)
        if target.resolve() == source.resolve():
            raise OutputError(f"{target}: refusing to overwrite the input")
        if target.is_dir():
            raise OutputError(f"{target}: is a folder; give a file name")
        if not target.parent.exists():
            raise OutputError(f"{target}: folder {target.parent} does not exist")
        import os

        if not os.access(target.parent, os.W_OK):
            raise OutputError(f"{target}: folder {target.parent} is not writable")


def print_summary(console, summary: dict) -> None:
    from rich.table import Table

    status = "interrupted" if summary["interrupted"] else "done"
    console.print(f"[bold]{status}[/]: {summary['frames']} frames, {summary['faces']} faces "
                  f"(ids {summary['face_ids'] or '-'}) in {summary['seconds']:.1f} s = "
                  f"[bold]{summary['fps']:.1f} fps[/]; model load {summary['model_load_s']:.2f} s; {summary['backend']}")
    table = Table(title="per-stage time per frame (ms)", show_edge=False)
    table.add_column("stage")
    for q in ("p50", "p95", "p99"):
        table.add_column(q, justify="right")
    for stage, values in summary["stages_ms"].items():
        table.add_row(stage, *(f"{values[q]:.2f}" for q in ("p50", "p95", "p99")))
    console.print(table)
    for output in summary["outputs"]:
        console.print(f"wrote {output}")
    if summary.get("calibration"):
        console.print(f"calibrated per person (offline, whole track per face id); baselines in {summary['calibration']}")

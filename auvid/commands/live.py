"""``auvid live``: a camera (or a file replayed in real time) analysed as it comes.

The capture thread always offers only the newest frame; frames the analyser had no time for are
dropped and counted, so latency stays bounded. Latency is measured per frame from the moment the
source delivered it to the moment its traces were emitted.
"""
from __future__ import annotations

import logging
import sys
import time
from collections import deque
from pathlib import Path

from auvid.errors import InputError
from auvid.utils.interrupt import GracefulInterrupt
from auvid.pipeline import Analyzer, AnalyzerOptions
from auvid.utils.stats import StageTimes, percentiles

log = logging.getLogger(__name__)


def open_live_source(camera: str, realtime: bool, width, height, fps, max_frames):
    from auvid.io.sources import CameraSource, ImageFolderSource, LatestFrame, RealtimeReplay, VideoFileSource

    path = Path(camera)
    if realtime:
        if not path.exists():
            raise InputError(f"{camera}: no such file to replay (--realtime replays a video file)")
        inner = ImageFolderSource(path, max_frames=max_frames) if path.is_dir() else VideoFileSource(path, max_frames=max_frames)
        return LatestFrame(RealtimeReplay(inner))
    if path.is_file():
        raise InputError(f"{camera} is a file: add --realtime to replay it as a camera, or use `auvid process`")
    return LatestFrame(CameraSource(camera, width, height, fps, max_frames))


class LiveView:
    """The rich terminal view: per face a bar per AU, fps, latency and drops."""

    def __init__(self, intensity_aus: list[str], window: int = 300) -> None:
        self.intensity_aus = intensity_aus
        self.latency = deque(maxlen=window)
        self.stages = StageTimes(window=window)
        self.emitted = deque(maxlen=window)
        self.last = None
        self.dropped = 0

    def update(self, result, latency_ms: float, dropped: int) -> None:
        self.latency.append(latency_ms)
        self.stages.add_frame(result.timings)
        self.emitted.append(result.emitted_at)
        self.last = result
        self.dropped = dropped

    def fps(self) -> float:
        if len(self.emitted) < 2:
            return 0.0
        return (len(self.emitted) - 1) / max(self.emitted[-1] - self.emitted[0], 1e-9)

    def __rich_console__(self, console, options):
        """Fits the width it is given: as many face columns as fit (3 on 80 columns), shorter
        bars on a narrow terminal, and a note of the faces left out."""
        from rich.table import Table
        from rich.text import Text

        width = options.max_width
        lat = percentiles(self.latency, (50, 99))
        yield Text.assemble(("auvid live ", "bold"), f"{self.fps():5.1f} fps  latency p50 {lat['p50']:.1f} ms "
                            f"p99 {lat['p99']:.1f} ms  dropped {self.dropped}")
        stage_line = "  ".join(f"{k} {v['p50']:.1f}" for k, v in self.stages.table().items() if k != "decode")
        yield Text(f"stages p50 ms: {stage_line}", style="dim")
        faces = self.last.faces if self.last else []
        if not faces:
            yield Text("no face", style="yellow")
            return
        bar = max(3, min(10, width - 11))  # "AU01 " + bar + " 0.0"
        column = bar + 11 + 2
        shown = faces[: max(1, min(3, width // column))]
        grid = Table.grid(padding=(0, 2))
        for _ in shown:
            grid.add_column(no_wrap=True)
        grid.add_row(*(Text(f"face {f.face.face_id}" + (" calibrating" if f.calibrated is False else ""), style="bold")
                       for f in shown))
        for au_index, au in enumerate(self.intensity_aus):
            row = []
            for face in shown:
                value = float(face.intensity[au_index])
                filled = int(round(min(max(value, 0.0), 5.0) / 5.0 * bar))
                row.append(Text.assemble(f"{au} ", ("█" * filled, "green"), ("·" * (bar - filled), "dim"), f" {value:.1f}"))
            grid.add_row(*row)
        yield grid
        if len(faces) > len(shown):
            yield Text(f"+{len(faces) - len(shown)} more face(s) not shown (wider terminal to see them)", style="dim")


def run_live(camera: str, options: AnalyzerOptions, realtime: bool = False, out: str | None = None,
             show: bool = False, width=None, height=None, camera_fps=None, duration=None, max_frames=None,
             slow_ms: float = 0.0, jsonl: str | None = None) -> int:
    from rich.console import Console
    from rich.live import Live

    from auvid.io.gui import Window, display_problem
    from auvid.io.sinks import CsvSink

    console = Console(stderr=True)
    if show and display_problem():
        raise InputError(f"--show needs a display: {display_problem()}; "
                         "run without --show, or use `auvid process --overlay out.mp4`")
    from auvid.commands.process import check_outputs, remove_stale_outputs

    # before the camera opens and the model loads: a replayed file is never overwritten, and a bad
    # output path is one line, not a traceback after the model loaded
    check_outputs([out, jsonl], Path(camera) if realtime else None)
    source = open_live_source(camera, realtime, width, height, camera_fps, max_frames)
    analyzer = Analyzer(options)
    # opened before the CSV, so a window that cannot open leaves no file behind
    window = Window("auvid").open() if show else None
    inner = source.source
    inner = getattr(inner, 'source', inner) if not hasattr(inner, 'width') else inner
    granted = f"{getattr(inner, 'width', '?')}x{getattr(inner, 'height', '?')} @ {source.fps:.1f} fps"
    console.print(f"source {camera}: {granted}; {analyzer.engine.description}")
    remove_stale_outputs([out, jsonl])
    sink = CsvSink(out, analyzer.intensity_aus, analyzer.occurrence_aus, flush_every=1) if out else None
    jsonl_sink = _jsonl_sink(jsonl, analyzer)
    view = LiveView(analyzer.intensity_aus)
    latencies: list[float] = []
    frames = 0
    interrupted = False
    failure = None
    started = time.perf_counter()
    # Ctrl-C sets a flag the loop checks after each frame (a second one aborts): an exception raised
    # at an arbitrary point could land in a finalizer, where Python prints and drops it.
    stop = GracefulInterrupt()
    try:
        stop.install()
        with Live(view, console=console, refresh_per_second=8, transient=False, redirect_stderr=False) as live:
            for result in analyzer.run(source, batch_frames=1, threaded=False):
                if slow_ms:
                    time.sleep(slow_ms / 1000.0)
                    result.emitted_at = time.perf_counter()
                if sink:
                    sink.write(result)
                if jsonl_sink:
                    jsonl_sink.write(result)
                latency = (result.emitted_at - result.captured_at) * 1000.0
                latencies.append(latency)
                frames += 1
                view.update(result, latency, source.stats.dropped)
                if window and not _show(window, result, analyzer.intensity_aus):
                    break  # q, Esc or the window closed: stop like Ctrl-C (rows kept, summary), exit 0
                if duration and time.perf_counter() - started >= duration:
                    break
                if stop.requested:
                    break
            live.update(view)
    except KeyboardInterrupt:
        interrupted = True
    except InputError as exc:
        failure = str(exc)
    finally:
        stop.restore()
        if window:
            window.close()
    interrupted = interrupted or stop.requested
    elapsed = time.perf_counter() - started
    written = sink.close(complete=True) if sink else None
    written_jsonl = jsonl_sink.close(complete=True) if jsonl_sink else None
    lat = percentiles(latencies)
    if not console.is_terminal:
        console.line()  # a non-terminal Live leaves its last frame without a newline
    console.print(f"{'interrupted' if interrupted else 'stopped'} after {elapsed:.1f} s: {frames} frames analysed, "
                  f"{source.stats.dropped} dropped; latency p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms, "
                  f"p99 {lat['p99']:.1f} ms" + (f"; wrote {written}" if written else "")
                  + (f", {written_jsonl}" if written_jsonl else ""))
    _calibration_sidecars(analyzer, [written, written_jsonl], frames, console)
    ended = source.stats.ended_early
    if failure or (ended and not realtime):
        print(f"auvid: error: {failure or ended}; what was recorded is kept", file=sys.stderr)
        return 2
    return 130 if interrupted else 0


def _jsonl_sink(path: str | None, analyzer: Analyzer):
    if not path:
        return None
    from auvid.io.sinks import JsonlSink

    return JsonlSink(path, analyzer.intensity_aus, analyzer.occurrence_aus)


def _calibration_sidecars(analyzer: Analyzer, written: list, frames: int, console) -> None:
    """--calibrate: a sidecar beside each recording says it is calibrated, with each face's baseline."""
    if analyzer.calibrator is None or not frames:
        return
    from auvid.stages.calibrate import write_sidecar

    for path in filter(None, written):
        write_sidecar(path, analyzer.calibrator)
    settle = analyzer.calibrator.settings.settle_seconds
    console.print(f"calibrated per person (live: running baseline, settled after {settle:g} s of a visible face; "
                  "earlier rows are marked calibrated: false in the JSONL)")


def _show(window, result, intensity_aus) -> bool:
    """The frame with boxes, ids and AU bars; False once the user asked the window to stop."""
    from auvid.io.overlay import draw

    if result.image is None:
        return True
    return window.show(draw(result.image, result, intensity_aus))

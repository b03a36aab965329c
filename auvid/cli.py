"""The ``auvid`` command line. Heavy modules (cv2, onnxruntime, torch) are imported inside each
command, so ``auvid --help`` is instant; user errors become one line on stderr and exit != 0."""
from __future__ import annotations

import functools
import logging
import sys

import click

from auvid import __version__

log = logging.getLogger("auvid")


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if verbose < 2:
        import os

        # Without -v auvid's own one-line errors say what failed; OpenCV's backend probing
        # ("Camera index out of range") would only repeat it in its own words.
        os.environ.setdefault("OPENCV_LOG_LEVEL", "FATAL" if verbose == 0 else "ERROR")
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's own chatter, inside OpenCV


class PositiveNumber(click.ParamType):
    """A finite number above zero (frame rates, durations): 0, negatives, nan and inf are refused
    on the command line rather than giving garbage timestamps or a division by zero later."""

    name = "number"

    def convert(self, value, param, ctx):
        import math

        number = click.FLOAT.convert(value, param, ctx)
        if not (math.isfinite(number) and number > 0):
            self.fail(f"{value!r} is not a positive number", param, ctx)
        return number


POSITIVE = PositiveNumber()


def user_errors(fn):
    """Turn AuvidError (and a few OS errors the user causes) into one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from auvid.errors import AuvidError

        try:
            return fn(*args, **kwargs)
        except AuvidError as exc:
            click.echo(f"auvid: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("auvid: interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:
            sys.exit(1)
        except OSError as exc:  # a path the user gave that the system refuses: one line, not a traceback
            logging.getLogger("auvid").debug("OS error", exc_info=True)  # -vv shows where it came from
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"auvid: error: {where}{exc.strerror or exc}", err=True)
            sys.exit(2)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="auvid")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Facial Action Unit (AU) intensity traces from video, per frame and per face."""
    _setup_logging(verbose)


def _runtime_options(fn):
    options = [
        click.option("--backend", type=click.Choice(["auto", "onnxruntime", "tensorrt", "torch"]), default="auto",
                     show_default=True, help="Inference backend; auto picks TensorRT where an engine and GPU exist."),
        click.option("--model", type=click.Path(dir_okay=False), default=None,
                     help="Model file (.onnx with its .json, .engine, or .pt for --backend torch). Default: the shipped model."),
        click.option("--models-dir", type=click.Path(file_okay=False), default=None, envvar="AUVID_MODELS_DIR",
                     help="Folder holding face_detection_yunet_2023mar.onnx (else it is fetched once into the cache)."),
        click.option("--no-smooth", is_flag=True, help="Raw per-frame scores, no temporal smoothing."),
        click.option("--detect-every", type=click.IntRange(1), default=15, show_default=True,
                     help="Search the whole frame for new faces every N frames (tracked faces are refreshed every frame)."),
        click.option("--no-tracking", is_flag=True, help="Detect on every full frame (slower; a baseline)."),
        click.option("--landmarks", type=click.Choice(["yunet", "fan"]), default="yunet", show_default=True,
                     help="Landmarks for alignment: YuNet's 5 points, or face-alignment's 68 (needs auvid[fan])."),
        click.option("--threads", type=click.IntRange(1), default=None, help="Inference threads (default 1)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _analyzer_options(backend, model, models_dir, no_smooth, detect_every, no_tracking, landmarks, threads, batch_frames,
                      calibrate=None):
    from auvid.pipeline import AnalyzerOptions

    return AnalyzerOptions(backend=backend, model=model, models_dir=models_dir, smooth=not no_smooth,
                           detect_every=detect_every, tracking=not no_tracking, landmarks=landmarks,
                           threads=threads, batch_frames=batch_frames, calibrate=calibrate)


CALIBRATE_HELP = ("Remove each person's neutral baseline per AU, as OpenFace's default (dynamic) output does: "
                  "compare people, or compare with OpenFace. {how}")


@main.command()
@click.argument("sources", metavar="SOURCE...", nargs=-1, required=True)
@click.option("--out", "-o", type=click.Path(), default=None, help="OpenFace-style CSV to write (one SOURCE).")
@click.option("--out-dir", "-d", type=click.Path(file_okay=False), default=None,
              help="Corpus mode: DIR/<relative path>/<stem>.csv per video, and DIR/auvid-summary.csv.")
@click.option("--jsonl", type=click.Path(dir_okay=False), default=None, help="Also write one JSON object per frame (with --out).")
@click.option("--overlay", type=click.Path(dir_okay=False), default=None,
              help="Also write the video with boxes, ids and AU bars (with --out).")
@click.option("--also", type=click.Choice(["jsonl", "overlay"]), multiple=True,
              help="With --out-dir: also write <stem>.jsonl / <stem>.overlay.mp4 per source (repeatable).")
@click.option("--max-frames", type=click.IntRange(1), default=None, help="Stop after N frames (per source).")
@click.option("--fps", type=POSITIVE, default=30.0, show_default=True, help="Frame rate for an image folder (images carry no time).")
@click.option("--batch-frames", type=click.IntRange(1), default=8, show_default=True, help="Frames whose faces share one inference call.")
@click.option("--workers", "-j", type=click.IntRange(0), default=None,
              help="With --out-dir: worker processes (default: one per core; 0: in this process, no crash isolation).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="With --out-dir: local processes, or Ray tasks (needs auvid[ray]).")
@click.option("--ray-address", envvar="RAY_ADDRESS", default=None,
              help="Ray cluster to join (e.g. 10.0.0.1:6379; env RAY_ADDRESS); default: start a local Ray instance.")
@click.option("--force", is_flag=True, help="With --out-dir: redo every source, even those a previous run finished.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary table.")
@click.option("--calibrate", is_flag=True, help=CALIBRATE_HELP.format(
    how="Baselines come from each face's whole track, so rows are written when the video ends."))
@_runtime_options
@user_errors
def process(sources, out, out_dir, jsonl, overlay, also, max_frames, fps, batch_frames, workers, executor, ray_address,
            force, quiet, calibrate, **runtime):
    """Analyse videos or image folders and write AU traces as CSV.

    One SOURCE with --out FILE; any number of files, folders (searched recursively) and glob
    patterns with --out-dir DIR, which also writes DIR/auvid-summary.csv and resumes where a
    previous run stopped. Exit code: 0 all ok, 3 some had no face, 2 some failed, 130 interrupted.
    """
    from auvid.errors import ConfigError

    options = _analyzer_options(batch_frames=batch_frames, calibrate="offline" if calibrate else None, **runtime)
    if out and out_dir:
        raise ConfigError("give --out FILE (one source) or --out-dir DIR (any number), not both")
    if not out and not out_dir:
        raise ConfigError("give --out FILE for one source, or --out-dir DIR for several")
    if out:
        if len(sources) > 1:
            raise ConfigError(f"--out takes one source ({len(sources)} given); for several use --out-dir DIR")
        if also or force or workers is not None or executor != "local":
            raise ConfigError("--also, --force, --workers and --executor apply to --out-dir runs")
        from auvid.commands.process import run_process

        sys.exit(run_process(sources[0], out, options, jsonl=jsonl, overlay=overlay, max_frames=max_frames, fps=fps,
                             quiet=quiet))
    if jsonl or overlay:
        raise ConfigError("with --out-dir, ask for JSONL or overlay files with --also jsonl / --also overlay")
    from rich.console import Console

    from auvid.corpus.runner import run_corpus
    from auvid.corpus.view import CorpusView, print_report

    console = Console(stderr=True)
    report = run_corpus(list(sources), out_dir, options, kinds=("csv", *dict.fromkeys(also)), max_frames=max_frames,
                        fps=fps, executor=executor, workers=workers, ray_address=ray_address, force=force,
                        view=None if quiet else CorpusView(console))
    if not quiet:
        print_report(console, report)
    elif report.exit_code == 130:
        click.echo("auvid: interrupted: finished CSVs are kept; run the same command again to resume", err=True)
    sys.exit(report.exit_code)


@main.command()
@click.option("--camera", "-c", default="0", show_default=True, help="Camera index, device path, stream URL, or a video file with --realtime.")
@click.option("--realtime", is_flag=True, help="Replay a video file at its own frame rate, as a camera would deliver it.")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default=None, help="Record the traces to this CSV.")
@click.option("--jsonl", type=click.Path(dir_okay=False), default=None, help="Also record one JSON object per frame.")
@click.option("--calibrate", is_flag=True, help=CALIBRATE_HELP.format(
    how="A running baseline per face, complete after 3 s of visible face; earlier rows are marked "
        "calibrated: false in --jsonl."))
@click.option("--show", is_flag=True, help="Also show a window with boxes, ids and AU bars (needs a display).")
@click.option("--width", type=int, default=None, help="Requested camera width.")
@click.option("--height", type=int, default=None, help="Requested camera height.")
@click.option("--camera-fps", type=POSITIVE, default=None, help="Requested camera frame rate.")
@click.option("--duration", type=POSITIVE, default=None, help="Stop after this many seconds.")
@click.option("--max-frames", type=click.IntRange(1), default=None, help="Stop after N frames.")
@click.option("--slow-ms", type=float, default=0.0, hidden=True, help="Add this many ms per frame (tests drop counting).")
@_runtime_options
@user_errors
def live(camera, realtime, out, jsonl, calibrate, show, width, height, camera_fps, duration, max_frames, slow_ms,
         **runtime):
    """Analyse a camera live, with a terminal view of AU bars, fps and latency."""
    from auvid.commands.live import run_live

    options = _analyzer_options(batch_frames=1, calibrate="live" if calibrate else None, **runtime)
    sys.exit(run_live(camera, options, realtime=realtime, out=out, show=show, width=width, height=height,
                      camera_fps=camera_fps, duration=duration, max_frames=max_frames, slow_ms=slow_ms, jsonl=jsonl))


@main.command()
@click.argument("csv_path", metavar="CSV", type=click.Path(dir_okay=False))
@click.option("--out", "-o", type=click.Path(dir_okay=False), required=True, help="PNG to write.")
@click.option("--aus", default=None, help="Comma-separated AUs to show, e.g. AU01,AU12 (default: all intensities).")
@click.option("--face", "face_ids", multiple=True, type=int, help="Only these face ids (repeatable).")
@click.option("--ymax", type=float, default=None,
              help="Top of the intensity axis (default: the largest value shown, rounded up; 5 = full FACS scale).")
@user_errors
def plot(csv_path, out, aus, face_ids, ymax):
    """Plot AU intensity traces from an auvid/OpenFace CSV."""
    from auvid.io.plot import plot_traces

    path = plot_traces(csv_path, out, aus.split(",") if aus else None, list(face_ids) or None, ymax)
    click.echo(f"wrote {path}")


@main.command()
@click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False), default=None,
              help="YAML/TOML training config (default: the shipped model's config).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config value, e.g. train.epochs=2.")
@click.option("--resume", is_flag=True, help="Continue the run in the config's out folder.")
@click.option("--export/--no-export", default=True, show_default=True, help="Export the final checkpoint to ONNX.")
@user_errors
def train(config_path, overrides, resume, export):
    """Train the two-view MLCR AU model."""
    from auvid.commands.training import run_train

    run_train(config_path, overrides, resume, export)


@main.command("eval")
@click.argument("model", required=False)
@click.option("--data", type=click.Choice(["heldout", "afar", "benchmark"]), default="heldout", show_default=True,
              help="heldout: people the model never saw, through the runtime path, vs the teacher; "
                   "afar: AFAR's human-coded frames; benchmark: BP4D/DISFA/EmotioNet fold checkpoints (--fold), "
                   "per-fold and mean rows.")
@click.option("--split", type=click.Choice(["validation", "test"]), default="validation", show_default=True,
              help="Person group (trainer/data/splits.yaml): validation for decisions, test for published figures.")
@click.option("--fold", "folds", multiple=True, type=click.Path(dir_okay=False), metavar="CHECKPOINT",
              help="With --data benchmark: one fold's checkpoint (.pt), repeated for each fold.")
@click.option("--data-root", type=click.Path(file_okay=False), default="../shared/data", show_default=True)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Write the metrics here.")
@click.option("--backend", type=click.Choice(["auto", "onnxruntime", "tensorrt", "torch"]), default="auto", show_default=True)
@click.option("--calibrate", is_flag=True,
              help="Judge against the teacher's dynamic (person-calibrated) output, without and with --calibrate.")
@user_errors
def evaluate(model, data, split, folds, data_root, json_out, backend, calibrate):
    """Agreement with the teacher (pooled, within-clip, clip-mean floor), AFAR's human codes, or benchmark folds."""
    if data == "benchmark":
        from auvid.commands.eval_folds import run_fold_eval

        run_fold_eval(list(folds) + ([model] if model else []), data_root, json_out)
        return
    from auvid.commands.evaluation import run_eval

    if calibrate and data != "heldout":
        from auvid.errors import ConfigError

        raise ConfigError("--calibrate needs --data heldout (AFAR's frames are stills, with no track to calibrate)")
    run_eval(model, data, data_root, split, json_out, backend, calibrate=calibrate)


@main.command("build-engine")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None, help="Checkpoint (.pt); default: the shipped model's.")
@click.option("--precision", type=click.Choice(["fp16", "fp32", "int8"]), default="fp16", show_default=True,
              help="fp16/fp32: TensorRT engine (GPU). int8: ONNX Runtime graph for CPUs, needs --calibration.")
@click.option("--calibration", multiple=True, metavar="VIDEO|FOLDER",
              help="int8: face videos whose crops set the activation ranges (repeatable; folders searched).")
@click.option("--models-dir", type=click.Path(file_okay=False), default=None, envvar="AUVID_MODELS_DIR",
              help="Folder holding the YuNet detector (int8 calibration; default: download and cache).")
@click.option("--batch", default=None,
              help="TensorRT batch profile min:opt:max (default: the pipeline's batch sizes, 1:8:39).")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Output folder (default: engines/).")
@click.option("--workspace-mb", type=int, default=1024, show_default=True)
@click.option("--mirror/--no-mirror", default=True, show_default=True,
              help="Average each face with its mirror image (as the shipped model does); --no-mirror runs half "
                   "the network per face but follows faces less closely (validation within-clip PCC 0.587 vs 0.598).")
@click.option("--force", is_flag=True, help="Rebuild the ONNX models and the engine even if up to date.")
@user_errors
def build_engine(checkpoint, precision, calibration, models_dir, batch, out, workspace_mb, mirror, force):
    """Export the model to ONNX (FP32 + FP16) and build a TensorRT engine where a GPU exists.

    The shipped model needs only auvid[tensorrt]; another --checkpoint needs auvid[train]."""
    from auvid.commands.build import run_build

    sys.exit(run_build(checkpoint, precision, batch, out, workspace_mb, force, mirror, calibration, models_dir))


@main.command()
@click.option("--quick", is_flag=True, help="A few seconds per figure (CI); the full run repeats more.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="JSON results file.")
@click.option("--video", type=click.Path(dir_okay=False), default=None, help="Clip to benchmark (default: the 640x480 webcam clip).")
@user_errors
def bench(quick, out, video):
    """Measure throughput and per-stage latency (see benchmarks/)."""
    from benchmarks.run import main as bench_main

    sys.exit(bench_main(quick=quick, out=out, video=video))


if __name__ == "__main__":
    main()

"""The benchmark: model-only throughput per backend and batch, offline pipeline throughput
(tracking on, and detection on every frame as the baseline), live latency at 30 fps, per-stage
times, CPU use and peak RSS. Every figure is the median of ``repeats`` runs with its spread."""
from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
# The shared data beside the checkout, or where AUVID_SHARED_DATA / AUVID_MODELS_DIR point (as the
# tests read them): on a lent GPU machine the clips and YuNet travel inside the checkout.
SHARED = Path(os.environ.get("AUVID_SHARED_DATA", REPO.parent / "shared" / "data"))
DEFAULT_VIDEO = SHARED / "videos" / "2015-10-15-15-14.avi"
MODELS_DIR = Path(os.environ.get("AUVID_MODELS_DIR", SHARED / "models"))


def machine() -> dict:
    import cv2
    import onnxruntime

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "onnxruntime": onnxruntime.__version__, "opencv": cv2.__version__}
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    return info


def spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def model_throughput(batches=(1, 8, 32), seconds: float = 2.0) -> dict:
    """Faces per second of the model alone, per backend and batch size."""
    from engines.onnxrt import OnnxRuntimeEngine
    from engines.select import DEFAULT_CHECKPOINT, DEFAULT_MODEL, shipped_int8_graph

    engines = {"onnxruntime-fp32-1thread": lambda: OnnxRuntimeEngine(DEFAULT_MODEL, threads=1),
               "onnxruntime-fp32-2threads": lambda: OnnxRuntimeEngine(DEFAULT_MODEL, threads=2)}
    int8 = shipped_int8_graph()
    if int8 is not None:  # what `auvid process` runs on a CPU
        engines["onnxruntime-int8-1thread"] = lambda: OnnxRuntimeEngine(int8, threads=1)
        engines["onnxruntime-int8-2threads"] = lambda: OnnxRuntimeEngine(int8, threads=2)
    try:
        import torch

        from engines.torch_backend import TorchEngine

        def torch_eager():
            torch.set_num_threads(2)
            return TorchEngine(DEFAULT_CHECKPOINT, device="cpu", half=False)

        engines["torch-eager-fp32 (baseline)"] = torch_eager
        if torch.cuda.is_available():
            engines["torch-cuda-fp32-eager"] = lambda: TorchEngine(DEFAULT_CHECKPOINT, device="cuda", half=False,
                                                                   cuda_graph_batches=())
            engines["torch-cuda-fp16-eager"] = lambda: TorchEngine(DEFAULT_CHECKPOINT, device="cuda", half=True,
                                                                   cuda_graph_batches=())
            # what `auvid process --backend torch` runs on a GPU: graphs at 1, 8, 32 (128 in chunks)
            engines["torch-cuda-fp16-graphs"] = lambda: TorchEngine(DEFAULT_CHECKPOINT, device="cuda", half=True)
    except ImportError:
        pass
    from engines.tensorrt_backend import tensorrt_available

    if tensorrt_available()[0]:
        from engines.manifest import Manifest, manifest_path_for
        from engines.select import find_tensorrt_engine
        from engines.tensorrt_backend import TensorRTEngine

        path = find_tensorrt_engine(Manifest.load(manifest_path_for(DEFAULT_MODEL)).checkpoint_sha256)
        if path:
            engines["tensorrt"] = lambda: TensorRTEngine(path)
    results = {}
    for name, make in engines.items():
        engine = make().activate()
        size = engine.input_size
        results[name] = {}
        for batch in batches:
            pixels = np.random.default_rng(0).uniform(0, 255, (batch, 1, size, size)).astype(np.float32)
            for _ in range(3):
                engine.infer(pixels)
            samples = []
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline or len(samples) < 5:
                start = time.perf_counter()
                engine.infer(pixels)
                samples.append(time.perf_counter() - start)
            median = statistics.median(samples)
            results[name][str(batch)] = {"ms_per_call": median * 1000, "faces_per_s": batch / median,
                                         "p99_ms": float(np.percentile(samples, 99) * 1000)}
        engine.deactivate()
    return results


def offline(video: Path, tracking: bool, max_frames: int | None, backend: str = "onnxruntime") -> dict:
    """One run of the offline pipeline (what `auvid process` does, sinks included)."""
    from auvid.pipeline import Analyzer, AnalyzerOptions
    from auvid.io.sinks import CsvSink
    from auvid.io.sources import Prefetch, VideoFileSource
    from auvid.utils.stats import StageTimes

    load_start = time.perf_counter()
    analyzer = Analyzer(AnalyzerOptions(backend=backend, tracking=tracking, models_dir=str(MODELS_DIR)))
    load = time.perf_counter() - load_start
    out = Path("/tmp") / f"auvid-bench-{os.getpid()}.csv"
    sink = CsvSink(out, analyzer.intensity_aus, analyzer.occurrence_aus)
    times = StageTimes()
    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    frames = faces = 0
    for result in analyzer.run(Prefetch(VideoFileSource(video, max_frames=max_frames))):
        t = time.perf_counter()
        sink.write(result)
        result.timings["write"] = time.perf_counter() - t
        times.add_frame(result.timings)
        frames += 1
        faces += len(result.faces)
    elapsed = time.perf_counter() - start
    cpu_end = resource.getrusage(resource.RUSAGE_SELF)
    sink.close()
    out.unlink(missing_ok=True)
    cpu = (cpu_end.ru_utime - cpu_start.ru_utime) + (cpu_end.ru_stime - cpu_start.ru_stime)
    return {"frames": frames, "faces": faces, "seconds": elapsed, "fps": frames / elapsed,
            "faces_per_s": faces / elapsed, "model_load_s": load, "cpu_cores_busy": cpu / elapsed,
            "stages_ms": times.table(), "full_detections": analyzer.tracker.full_detections}


def live(video: Path, max_frames: int | None, model: str | None = None, backend: str = "onnxruntime") -> dict:
    """Camera-to-trace latency with the clip replayed at its own rate, batch 1 (`auvid live`)."""
    from auvid.pipeline import Analyzer, AnalyzerOptions
    from auvid.io.sources import LatestFrame, RealtimeReplay, VideoFileSource
    from auvid.utils.stats import StageTimes, percentiles

    analyzer = Analyzer(AnalyzerOptions(backend=backend, models_dir=str(MODELS_DIR), model=model))
    source = LatestFrame(RealtimeReplay(VideoFileSource(video, max_frames=max_frames)))
    latencies, times = [], StageTimes()
    for result in analyzer.run(source, batch_frames=1, threaded=False):
        latencies.append((result.emitted_at - result.captured_at) * 1000)
        times.add_frame(result.timings)
    return {"frames": len(latencies), "dropped": source.stats.dropped, "latency_ms": percentiles(latencies),
            "stages_ms": times.table(), "samples": latencies}


def peak_rss_of_cli(video: Path, max_frames: int | None) -> dict:
    """Peak RSS and wall time of `auvid process` as a user runs it, in its own process."""
    out = Path("/tmp") / f"auvid-bench-rss-{os.getpid()}.csv"
    report = out.with_suffix(".rss")
    command = [sys.executable, "-m", "benchmarks.peak_rss", str(report), "process", str(video), "--out", str(out), "--quiet"]
    if max_frames:
        command += ["--max-frames", str(max_frames)]
    env = dict(os.environ, AUVID_MODELS_DIR=str(MODELS_DIR))
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, cwd=REPO, capture_output=True)
    wall = time.perf_counter() - start
    rss_kb = int(report.read_text())
    out.unlink(missing_ok=True)
    report.unlink(missing_ok=True)
    return {"peak_rss_mb": rss_kb / 1024, "wall_s_including_startup": wall}


def auvid_command() -> list[str]:
    """The installed `auvid` script beside this interpreter, else ``python -m auvid.cli`` (a
    checkout run without installing it, as on a lent GPU machine)."""
    script = Path(sys.executable).parent / "auvid"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "auvid.cli"]


def user_timed(video: Path, model: str | None, max_frames: int | None, backend: str | None = None) -> float:
    """Frames per second of `auvid process` as a user times it: the whole command in its own
    process, start-up and model load included."""
    out = Path("/tmp") / f"auvid-bench-user-{os.getpid()}.csv"
    command = [*auvid_command(), "process", str(video), "--out", str(out), "--quiet"]
    command += ["--model", model] if model else []
    command += ["--backend", backend] if backend else []
    command += ["--max-frames", str(max_frames)] if max_frames else []
    start = time.perf_counter()
    subprocess.run(command, check=True, env=dict(os.environ, AUVID_MODELS_DIR=str(MODELS_DIR)), cwd=REPO,
                   capture_output=True)
    wall = time.perf_counter() - start
    frames = sum(1 for _ in out.open()) - 1
    out.unlink(missing_ok=True)
    return frames / wall


def compare_models(video: Path, other: str, repeats: int, max_frames: int | None, live_frames: int | None) -> dict:
    """The shipped model against another (the previous default, say) in one run, alternating so
    that the machine's drift falls on both: user-timed `auvid process` fps and live latency."""
    user = {"shipped": [], "other": []}
    latency = {"shipped": [], "other": []}
    for _ in range(repeats):
        for name, model in (("shipped", None), ("other", other)):
            user[name].append(user_timed(video, model, max_frames))
            latency[name].append(live(video, live_frames, model)["latency_ms"]["p99"])
    from engines.manifest import sha256_file

    result = {"other_model": other, "other_sha256": sha256_file(Path(other)),
              "user_timed_fps": {k: spread(v) for k, v in user.items()},
              "live_p99_ms": {k: spread(v) for k, v in latency.items()}}
    result["fps_ratio_shipped_over_other"] = (result["user_timed_fps"]["shipped"]["median"]
                                              / result["user_timed_fps"]["other"]["median"])
    return result


def main(quick: bool = False, out: str | None = None, video: str | None = None, repeats: int | None = None,
         compare_model: str | None = None) -> int:
    from rich.console import Console

    from engines.manifest import sha256_file
    from engines.select import DEFAULT_MODEL, default_onnx_model

    console = Console()
    clip = Path(video) if video else DEFAULT_VIDEO
    if not clip.is_file():
        print(f"auvid bench: error: {clip}: no such clip (the shared data is expected at ../shared/data)", file=sys.stderr)
        return 2
    repeats = repeats or (1 if quick else 3)
    max_frames = 150 if quick else None
    live_frames = 90 if quick else None
    results = {"machine": machine(), "video": str(clip), "model_sha256": sha256_file(DEFAULT_MODEL),
               "pipeline_model": default_onnx_model().name,  # the graph `auvid process` runs here
               "mode": "quick" if quick else "full", "repeats": repeats,
               "created": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    console.print(f"[bold]auvid benchmark[/] ({results['mode']}) on {results['machine']['cpu']} "
                  f"x{results['machine']['cores']}; clip {clip.name}")
    results["model"] = model_throughput(seconds=0.5 if quick else 3.0)
    runs_on = [offline(clip, True, max_frames) for _ in range(repeats)]
    runs_off = [offline(clip, False, max_frames) for _ in range(repeats)]
    results["offline"] = {
        "tracking": {"fps": spread([r["fps"] for r in runs_on]), "faces_per_s": spread([r["faces_per_s"] for r in runs_on]),
                     "model_load_s": spread([r["model_load_s"] for r in runs_on]),
                     "cpu_cores_busy": spread([r["cpu_cores_busy"] for r in runs_on]),
                     "stages_ms": runs_on[len(runs_on) // 2]["stages_ms"], "frames": runs_on[0]["frames"]},
        "detect_every_frame (baseline)": {"fps": spread([r["fps"] for r in runs_off]),
                                          "stages_ms": runs_off[len(runs_off) // 2]["stages_ms"]},
    }
    results["offline"]["speedup_tracking_vs_detect_every_frame"] = (
        results["offline"]["tracking"]["fps"]["median"] / results["offline"]["detect_every_frame (baseline)"]["fps"]["median"])
    live_runs = [live(clip, live_frames) for _ in range(1 if quick else max(1, repeats - 1))]
    results["live"] = {"latency_ms": {q: spread([r["latency_ms"][q] for r in live_runs]) for q in ("p50", "p95", "p99")},
                       "dropped": [r["dropped"] for r in live_runs], "frames": [r["frames"] for r in live_runs],
                       "stages_ms": live_runs[-1]["stages_ms"]}
    results["process_cli"] = peak_rss_of_cli(clip, max_frames)
    if compare_model:
        results["model_comparison"] = compare_models(clip, compare_model, repeats, max_frames, live_frames)
    print_tables(console, results)
    plot_path = None
    if not quick:
        plot_path = plot_stages(runs_on[len(runs_on) // 2], live_runs[-1], Path(out).with_suffix(".png") if out else
                                REPO / "benchmarks" / "results" / "latest.png")
        results["plot"] = str(plot_path)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(results, indent=2, default=float))
        console.print(f"wrote {out}" + (f" and {plot_path}" if plot_path else ""))
    return 0


def print_tables(console, results: dict) -> None:
    from rich.table import Table

    model = Table(title="model only: faces/s (ms per call)")
    model.add_column("backend")
    for batch in ("1", "8", "32"):
        model.add_column(f"batch {batch}", justify="right")
    for name, per_batch in results["model"].items():
        model.add_row(name, *(f"{per_batch[b]['faces_per_s']:.0f} ({per_batch[b]['ms_per_call']:.2f})" for b in ("1", "8", "32")))
    console.print(model)
    offline = results["offline"]
    on, off = offline["tracking"], offline["detect_every_frame (baseline)"]
    console.print(f"offline `auvid process` ({on['frames']} frames): [bold]{on['fps']['median']:.1f} fps[/] "
                  f"(min {on['fps']['min']:.1f}, max {on['fps']['max']:.1f}, {on['fps']['runs']} runs), "
                  f"{on['faces_per_s']['median']:.1f} faces/s, {on['cpu_cores_busy']['median']:.2f} cores busy, "
                  f"model load {on['model_load_s']['median']:.2f} s; detect-every-frame baseline "
                  f"{off['fps']['median']:.1f} fps -> tracking x{offline['speedup_tracking_vs_detect_every_frame']:.2f}")
    stages = Table(title="per-stage ms per frame: offline p50 / p99 | live p50 / p99")
    for column in ("stage", "offline p50", "offline p99", "live p50", "live p99"):
        stages.add_column(column, justify="right")
    for stage, values in on["stages_ms"].items():
        live_values = results["live"]["stages_ms"].get(stage, {"p50": float("nan"), "p99": float("nan")})
        stages.add_row(stage, *(_ms(v) for v in (values["p50"], values["p99"], live_values["p50"], live_values["p99"])))
    console.print(stages)
    lat = results["live"]["latency_ms"]
    console.print(f"live at the clip's rate, batch 1: latency p50 {lat['p50']['median']:.1f} ms, p95 "
                  f"{lat['p95']['median']:.1f} ms, p99 {lat['p99']['median']:.1f} ms; dropped "
                  + ", ".join(f"{d} of {d + f}" for d, f in zip(results["live"]["dropped"], results["live"]["frames"]))
                  + " frames" + (" (per run)" if len(results["live"]["frames"]) > 1 else ""))
    console.print(f"`auvid process` peak RSS {results['process_cli']['peak_rss_mb']:.0f} MB "
                  f"(wall {results['process_cli']['wall_s_including_startup']:.1f} s incl. start-up)")
    comparison = results.get("model_comparison")
    if comparison:
        fps, p99 = comparison["user_timed_fps"], comparison["live_p99_ms"]
        console.print(f"shipped vs {comparison['other_model']} (alternating, {fps['shipped']['runs']} runs each): "
                      f"user-timed `auvid process` {fps['shipped']['median']:.1f} vs {fps['other']['median']:.1f} fps "
                      f"(x{comparison['fps_ratio_shipped_over_other']:.2f}); live p99 {p99['shipped']['median']:.1f} vs "
                      f"{p99['other']['median']:.1f} ms")


def plot_stages(offline_run: dict, live_run: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    stages = list(offline_run["stages_ms"])
    axes[0].bar(stages, [offline_run["stages_ms"][s]["p50"] for s in stages], label="p50")
    axes[0].bar(stages, [offline_run["stages_ms"][s]["p99"] - offline_run["stages_ms"][s]["p50"] for s in stages],
                bottom=[offline_run["stages_ms"][s]["p50"] for s in stages], alpha=0.4, label="p50 to p99")
    axes[0].set_ylabel("ms per frame")
    axes[0].set_title("offline: per-stage time")
    axes[0].legend()
    axes[0].tick_params(axis="x", rotation=30)
    axes[1].hist(live_run["samples"], bins=50)
    for q, style in ((50, "-"), (99, "--")):
        axes[1].axvline(np.percentile(live_run["samples"], q), color="k", ls=style, label=f"p{q}")
    axes[1].set_xlabel("camera-to-trace latency (ms)")
    axes[1].set_title("live at 30 fps, batch 1")
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _ms(value: float) -> str:
    return "-" if value != value else f"{value:.2f}"  # NaN: the stage does not run in that mode


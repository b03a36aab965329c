"""The GPU benchmark (`python -m benchmarks --gpu`): model-only throughput of every backend the
machine has, its CPU ONNX Runtime graphs measured in the same run as the baseline, and
`auvid process` / live latency with ``--backend torch`` (CUDA FP16) against the CPU default,
alternating so that the machine's drift falls on both. TensorRT joins where it is installed and
an engine for the shipped model is built."""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from benchmarks.run import DEFAULT_VIDEO, live, machine, model_throughput, offline, spread, user_timed

log = logging.getLogger(__name__)
BACKENDS = ("onnxruntime", "torch")  # the CPU default, then the checkpoint on CUDA


def main(out: str | None = None, video: str | None = None, repeats: int = 3, live_frames: int = 300) -> int:
    from rich.console import Console

    from auvid.errors import ModelError
    from engines.cuda_buffers import cuda_device

    console = Console()
    clip = Path(video) if video else DEFAULT_VIDEO
    try:
        gpu = cuda_device(0)
    except ModelError as exc:
        log.error("auvid bench --gpu: error: %s", exc)
        return 2
    results = {"machine": machine(), "gpu": gpu, "video": str(clip), "repeats": repeats,
               "created": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    console.print(f"[bold]auvid GPU benchmark[/] on {results['gpu']['gpu']} (sm {results['gpu']['compute_capability']}), "
                  f"{results['machine']['cpu']} x{results['machine']['cores']}")
    results["model"] = model_throughput(batches=(1, 8, 32, 128), seconds=2.0)
    fps = {backend: [] for backend in BACKENDS}
    for _ in range(repeats):
        for backend in BACKENDS:
            fps[backend].append(user_timed(clip, None, None, backend=backend))
    results["user_timed_fps"] = {backend: spread(values) for backend, values in fps.items()}
    results["user_timed_ratio_torch_cuda_over_onnxruntime"] = (results["user_timed_fps"]["torch"]["median"]
                                                               / results["user_timed_fps"]["onnxruntime"]["median"])
    runs = {backend: [offline(clip, True, None, backend) for _ in range(2)] for backend in BACKENDS}
    results["in_process"] = {backend: {"fps": spread([r["fps"] for r in rs]), "model_load_s": spread([r["model_load_s"] for r in rs]),
                                       "infer_ms": rs[-1]["stages_ms"].get("infer"),
                                       "frames": rs[-1]["frames"]} for backend, rs in runs.items()}
    results["live_latency_ms"] = {backend: live(clip, live_frames, backend=backend)["latency_ms"] for backend in BACKENDS}
    results["live_frames"] = live_frames
    for name, batches in results["model"].items():
        console.print(f"{name:32s} " + "  ".join(f"b{b}: {r['faces_per_s']:9.0f} faces/s" for b, r in batches.items()))
    for backend in BACKENDS:
        u, lat = results["user_timed_fps"][backend], results["live_latency_ms"][backend]
        inside = results["in_process"][backend]
        console.print(f"auvid process --backend {backend:12s} {u['median']:6.1f} fps (min {u['min']:.1f}, max {u['max']:.1f});"
                      f" in process {inside['fps']['median']:.1f} fps after a {inside['model_load_s']['median']:.2f} s load;"
                      f" live p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(results, indent=2, default=float))
        console.print(f"wrote {out}")
    return 0


def render(results: dict) -> str:
    """benchmarks/GPU.md from a results file: ``python -m benchmarks.gpu FILE > benchmarks/GPU.md``."""
    m, gpu = results["machine"], results["gpu"]
    lines = ["# auvid on a GPU", "",
             f"Run {results['created']} with `python -m benchmarks --gpu --out FILE` on {gpu['gpu']} "
             f"(sm {gpu['compute_capability']}, driver CUDA {gpu['driver_cuda']}), {m['cpu']} x{m['cores']}; "
             f"Python {m['python']}, torch {m.get('torch')}, ONNX Runtime {m['onnxruntime']} (CPU provider only), "
             f"OpenCV {m['opencv']}; clip `{Path(results['video']).name}`. TensorRT was not installed (not on that "
             "machine and not reachable from it), so no engine figure is here. Every figure comes from this one run; "
             "the CPU backends on the same machine (ONNX Runtime's graphs; torch eager, the main benchmark's "
             "baseline) are the reference.", "",
             "## Model only: faces/s (ms per call)", "",
             "| backend | " + " | ".join(f"batch {b}" for b in next(iter(results["model"].values()))) + " |",
             "|---|" + "---|" * len(next(iter(results["model"].values())))]
    for name, batches in results["model"].items():
        lines.append(f"| {name} | " + " | ".join(f"{r['faces_per_s']:,.0f} ({r['ms_per_call']:.2f})" for r in batches.values()) + " |")
    lines += ["", "`torch-cuda-fp16-graphs` is what `auvid process --backend torch` runs on a GPU: one CUDA graph "
              "per batch of 1, 8 and 32, a call padded to the smallest that holds it, batch 128 in chunks of 32.", "",
              "## `auvid process` and `auvid live`", "",
              "| backend | user-timed `auvid process` fps | in-process fps | infer ms/frame p50 | live p50 ms | live p99 ms |",
              "|---|---|---|---|---|---|"]
    for backend in BACKENDS:
        u, inside, live_ms = results["user_timed_fps"][backend], results["in_process"][backend], results["live_latency_ms"][backend]
        label = "onnxruntime (CPU, the INT8 graph)" if backend == "onnxruntime" else "torch (CUDA FP16, graphs)"
        lines.append(f"| {label} | {u['median']:.1f} [{u['min']:.1f}-{u['max']:.1f}] | "
                     f"{inside['fps']['median']:.1f} [{inside['fps']['min']:.1f}-{inside['fps']['max']:.1f}] | "
                     f"{inside['infer_ms']['p50']:.2f} | {live_ms['p50']:.1f} | {live_ms['p99']:.1f} |")
    ratio_inside = results["in_process"]["torch"]["fps"]["median"] / results["in_process"]["onnxruntime"]["fps"]["median"]
    # gpu-h200.json predates the recorded frame count: 842 is that clip's (2015-10-15-15-14.avi) length
    frames = results["in_process"]["torch"].get("frames", 842)
    start_up = frames / results["user_timed_fps"]["torch"]["median"] - frames / results["in_process"]["torch"]["fps"]["median"]
    lines += ["", f"In process (after start-up), torch on CUDA runs the pipeline x{ratio_inside:.2f} as fast as the CPU "
              f"default; timed as a user runs it on this {frames}-frame clip it is "
              f"x{results['user_timed_ratio_torch_cuda_over_onnxruntime']:.2f}: its start-up (importing torch, starting "
              f"CUDA, capturing the graphs; {start_up:.1f} s, the difference of the two timings, not timed apart) is "
              "longer than the whole clip takes on the CPU. Use `--backend torch` on a GPU for long videos (a "
              "corpus run on a GPU was not measured); the CPU default stays the right choice for short clips. User-timed fps: medians of "
              f"{results['repeats']} alternating runs [min-max]; in-process: 2 runs; live: one run of "
              f"{results.get('live_frames', 300)} frames replayed at the clip's 30 fps."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(json.loads(Path(sys.argv[1]).read_text())), end="")

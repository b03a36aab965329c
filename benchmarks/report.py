"""Turns a results JSON from ``python -m benchmarks`` into the results page (benchmarks/README.md)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

HEADER = """# auvid benchmarks

Reproduce with one command (about {minutes} minutes on this machine):

```
make bench-full
# = python -m benchmarks --out benchmarks/results/latest.json   (figures, JSON, the plot)
#   (this page's model comparison: add --compare-model PREVIOUS.onnx)
#   python -m benchmarks.report benchmarks/results/latest.json > benchmarks/README.md   (this page)
```

`make bench` (`--quick`) is the short CI mode: a few seconds per figure, printed, nothing asserted.
Figures are medians over {repeats} runs with min-max in brackets; baselines are measured in the same
run, since these machines are noisy: torch eager beside ONNX Runtime, and the pipeline with
detection on every frame beside tracking.
"""


def targets(results: dict) -> list[str]:
    """The issue's targets for this 2-core machine beside what this run measured."""
    fps = results["offline"]["tracking"]["fps"]["median"]
    p99 = results["live"]["latency_ms"]["p99"]["median"]
    dropped = sum(results["live"]["dropped"])
    rss = results["process_cli"]["peak_rss_mb"]

    def mark(ok: bool) -> str:
        return "met" if ok else "**not met**"

    return ["## Targets (2-core CPU, default model, ONNX Runtime)", "",
            "| target | measured | |", "|---|---|---|",
            f"| `auvid process` on the 640x480 clip >= 200 fps | {fps:.0f} fps | {mark(fps >= 200)} |",
            f"| `auvid live` replayed at 30 fps: p99 <= 33 ms, no dropped frames | p99 {p99:.1f} ms, {dropped} dropped | "
            f"{mark(p99 <= 33 and dropped == 0)} |",
            f"| peak RSS < 500 MB | {rss:.0f} MB | {mark(rss < 500)} |", "",
            "For scale (figures quoted in the project's issue, not measured in this run: OpenFace is not installed "
            "here): OpenFace 2.0.6 runs this clip at about 50-53 fps on this machine kind with ~490 MB peak RSS; "
            "py-feat reports 9 fps on CPU.", ""]


def render(results: dict) -> str:
    machine = results["machine"]
    lines = [HEADER.format(minutes="3-4", repeats=results["repeats"]).rstrip(), "",
             f"Latest run: {results['created']}, mode {results['mode']}, clip `{Path(results['video']).name}`.", "",
             f"Machine: {machine['cpu']}, {machine['cores']} cores; Python {machine['python']}, ONNX Runtime "
             f"{machine['onnxruntime']}, OpenCV {machine['opencv']}, torch {machine.get('torch', '-')}; "
             f"GPU: {machine.get('cuda') or 'none'}. Model sha256 `{results['model_sha256'][:16]}...`"
             f"{' (the pipeline ran ' + results['pipeline_model'] + ')' if results.get('pipeline_model') else ''}.", "",
             *targets(results), "## Offline: `auvid process` end to end", ""]
    on, off = results["offline"]["tracking"], results["offline"]["detect_every_frame (baseline)"]

    def s(d: dict, digits: int = 1) -> str:
        return f"{d['median']:.{digits}f} [{d['min']:.{digits}f}-{d['max']:.{digits}f}]"

    lines += ["| pipeline | fps | faces/s | CPU cores busy | model load s |", "|---|---|---|---|---|",
              f"| tracking (default) | {s(on['fps'])} | {s(on['faces_per_s'])} | {s(on['cpu_cores_busy'], 2)} | "
              f"{s(on['model_load_s'], 2)} |",
              f"| detect every frame (baseline) | {s(off['fps'])} | - | - | - |", "",
              f"Tracking vs detecting every frame: x{results['offline']['speedup_tracking_vs_detect_every_frame']:.2f}. "
              f"`auvid process` as a user runs it (own process, start-up included): "
              f"{results['process_cli']['wall_s_including_startup']:.1f} s wall, peak RSS "
              f"**{results['process_cli']['peak_rss_mb']:.0f} MB**.", "",
              "## Per-stage time per frame (ms)", "",
              "| stage | offline p50 | offline p99 | live p50 | live p99 |", "|---|---|---|---|---|"]
    for stage, values in on["stages_ms"].items():
        live = results["live"]["stages_ms"].get(stage)
        lines.append(f"| {stage} | {values['p50']:.2f} | {values['p99']:.2f} | "
                     f"{live['p50']:.2f} | {live['p99']:.2f} |" if live else
                     f"| {stage} | {values['p50']:.2f} | {values['p99']:.2f} | - | - |")
    lat = results["live"]["latency_ms"]
    lines += ["", "Offline stages overlap in three threads (decode; detect/track/align; infer/smooth/write), so "
              "their sum exceeds the wall time per frame. `infer` is the frame's share of a batched call.", "",
              "## Live: camera timestamp to trace, the clip replayed at its own rate, batch 1", "",
              f"p50 {s(lat['p50'])} ms, p95 {s(lat['p95'])} ms, **p99 {s(lat['p99'])} ms**; dropped frames "
              + ", ".join(f"{d} of {d + f}" for d, f in zip(results['live']['dropped'], results['live']['frames']))
              + " (one figure per run).",
              "", "## Model only: faces/s (ms per call)", "", "| backend | batch 1 | batch 8 | batch 32 |", "|---|---|---|---|"]
    for name, per_batch in results["model"].items():
        lines.append(f"| {name} | " + " | ".join(f"{per_batch[b]['faces_per_s']:.0f} ({per_batch[b]['ms_per_call']:.2f})"
                                                 for b in ("1", "8", "32")) + " |")
    comparison = results.get("model_comparison")
    if comparison:
        fps, p99 = comparison["user_timed_fps"], comparison["live_p99_ms"]
        lines += ["", "## Shipped model vs the previous one, same run", "",
                  f"`--compare-model` with the previous default model (sha256 `{comparison['other_sha256'][:16]}...`), "
                  "the two alternating so the machine's drift falls on both; `auvid process` timed as a user "
                  "runs it (its own process, start-up and model load included).", "",
                  "| model | user-timed `auvid process` fps | live p99 ms |", "|---|---|---|",
                  f"| shipped ({results.get('pipeline_model', 'default')}) | {s(fps['shipped'])} | {s(p99['shipped'])} |",
                  f"| previous ({Path(comparison['other_model']).name}) | {s(fps['other'])} | {s(p99['other'])} |", "",
                  f"Ratio shipped / previous: x{comparison['fps_ratio_shipped_over_other']:.2f}; gaps of a few percent "
                  "are of the size of this machine's run-to-run spread (the ranges above)."]
    if results.get("plot"):
        lines += ["", f"![per-stage time and live latency distribution](results/{Path(results['plot']).name})"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(json.loads(Path(sys.argv[1]).read_text())), end="")

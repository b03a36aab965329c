"""Probe for issue #11: what ONNX Runtime static INT8 (QDQ) buys the shipped graph on this CPU.

``python -m benchmarks.int8_probe [--model FP32.onnx] [--int8 INT8.onnx]`` quantizes ``auvid-default.onnx``
or the given graph (``engines.quantize``: weights int8 per channel, activations uint8, calibrated on
512 training-group crops from the trainer's crop cache), or takes the INT8 graph given, then
runs fp32 and int8 on every validation-group crop: model-only faces/s (1 thread, batch 8, 3 s)
and within-clip / pooled PCC against the teacher, plus the largest int8-fp32 difference. A
measurement to size a bigger model against the speed bar, not a shipped path; nothing is written
to the repository (the quantized graph goes to a temporary folder).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def main(model: str | None = None, int8: str | None = None) -> None:
    import onnxruntime as ort

    from auvid.stages.align import downsize
    from engines.manifest import Manifest, manifest_path_for
    from engines.quantize import quantize_int8
    from trainer import datasets
    from trainer.config import load_config
    from trainer.metrics import pcc, summarize_traces, trace_report

    config = load_config(REPO / "trainer" / "configs" / "default.yaml")
    config["data"]["fer"] = False
    data = datasets.build(config, REPO)
    fp32 = Path(model) if model else REPO / "auvid" / "models" / "default" / "auvid-default.onnx"
    name, size = "pixels", Manifest.load(manifest_path_for(fp32)).input_size
    if int8 is None:  # quantize here, on training crops from the trainer's cache
        rng = np.random.default_rng(0)
        calibration = downsize(data.train.crops[rng.choice(len(data.train), 512, replace=False)], size)
        int8_path = Path(tempfile.mkdtemp(prefix="auvid-int8-")) / "int8.onnx"
        quantize_int8(fp32, int8_path, calibration, calibration_note="512 train-group crops")
    else:
        int8_path = Path(int8)
        if not Manifest.load(manifest_path_for(int8_path)).quantized_from(Manifest.load(manifest_path_for(fp32))):
            raise SystemExit(f"{int8_path.name} was not quantized from {fp32.name}: name its FP32 graph with --model")
    crops = downsize(data.val.crops, size).astype(np.float32)[:, None]
    aus = list(data.val.intensity_aus)
    reference = None
    for path in (fp32, int8_path):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        intensity = np.concatenate([session.run(None, {name: crops[i:i + 8]})[1] for i in range(0, len(crops), 8)])
        start, faces = time.perf_counter(), 0
        while time.perf_counter() - start < 3:
            session.run(None, {name: crops[:8]})
            faces += 8
        traces = summarize_traces(trace_report(intensity, data.val.intensity, data.val.source, aus))
        pooled = np.mean([pcc(intensity[:, j], data.val.intensity[:, j]) for j in range(len(aus))])
        line = (f"{path.name}: {faces / (time.perf_counter() - start):.0f} faces/s (1 thread, batch 8); validation "
                f"within-clip {traces['mean_within_pcc']:.3f}, pooled {pooled:.3f}")
        if reference is not None:
            line += f"; |int8 - fp32| intensity max {np.abs(intensity - reference).max():.3f}, mean {np.abs(intensity - reference).mean():.4f}"
        reference = intensity
        print(line, flush=True)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="an FP32 ONNX with its manifest (default: the shipped model)")
    parser.add_argument("--int8", help="an INT8 graph of that model to measure instead of quantizing one here "
                        "(the shipped auvid-default.int8.onnx, say)")
    args = parser.parse_args()
    main(args.model, args.int8)

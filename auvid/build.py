"""``auvid build-engine``: fused ONNX (FP32 and FP16) from a checkpoint, then a TensorRT engine
where TensorRT and an NVIDIA GPU exist. Prints what it built and its measured latency."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from auvid.errors import ModelError

log = logging.getLogger(__name__)


def _latency_ms(engine, batch: int, size: int, repeats: int = 30) -> float:
    pixels = np.random.default_rng(0).uniform(0, 255, (batch, 1, size, size)).astype(np.float32)
    for _ in range(3):
        engine.infer(pixels)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        engine.infer(pixels)
        samples.append((time.perf_counter() - start) * 1000)
    return float(np.median(samples))


def run_build(checkpoint: str | None, precision: str, batch_spec: str, out: str | None, workspace_mb: int,
              force: bool, mirror: bool = True) -> int:
    import click

    from engines.export import export_onnx
    from engines.manifest import Manifest, manifest_path_for, sha256_file
    from engines.onnxrt import OnnxRuntimeEngine
    from engines.select import DEFAULT_CHECKPOINT, ENGINES_DIR
    from engines.tensorrt_backend import tensorrt_available
    from engines.trt_build import parse_batch

    batch = parse_batch(batch_spec)
    checkpoint_path = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
    if not checkpoint_path.is_file():
        raise ModelError(f"{checkpoint_path}: no such checkpoint")
    out_dir = Path(out) if out else ENGINES_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    sha = sha256_file(checkpoint_path)
    stem = f"{checkpoint_path.stem}-{sha[:8]}" + ("" if mirror else "-nomirror")
    built = {}
    for variant in ("fp32", "fp16"):
        target = out_dir / f"{stem}.{variant}.onnx"
        manifest_file = manifest_path_for(target)
        up_to_date = (target.is_file() and manifest_file.is_file() and not force
                      and Manifest.load(manifest_file).checkpoint_sha256 == sha)
        if not up_to_date:
            export_onnx(checkpoint_path, target, precision=variant, mirror=mirror, model_name=checkpoint_path.stem)
        built[variant] = target
        with OnnxRuntimeEngine(target) as engine:
            b1 = _latency_ms(engine, 1, engine.input_size)
            bopt = _latency_ms(engine, batch["opt"], engine.input_size)
            where = engine.description
        # Plain output, not rich: paths must not be wrapped or read as markup.
        click.echo(f"{'kept' if up_to_date else 'built'} {target} (ONNX {variant}): "
                   f"{b1:.2f} ms at batch 1, {bopt:.2f} ms at batch {batch['opt']} on {where}")
    ok, why = tensorrt_available()
    if not ok:
        click.echo(f"auvid: error: the TensorRT step needs an NVIDIA GPU with the `tensorrt` extra installed "
                   f"({why}); the ONNX models above run on ONNX Runtime (--model {built['fp32']})", err=True)
        return 4
    from engines.tensorrt_backend import TensorRTEngine
    from engines.trt_build import build_engine

    engine_path = build_engine(built["fp32"], built["fp16"], out_dir, precision, batch, workspace_mb, stem)
    with TensorRTEngine(engine_path) as engine:
        b1 = _latency_ms(engine, 1, engine.input_size)
        bopt = _latency_ms(engine, batch["opt"], engine.input_size)
    click.echo(f"built {engine_path} (TensorRT {precision}, batch {batch_spec}): {b1:.3f} ms at batch 1, "
               f"{bopt:.3f} ms at batch {batch['opt']}")
    return 0

"""``auvid build-engine``: fused ONNX (FP32 and FP16), then a TensorRT engine where TensorRT and
an NVIDIA GPU exist, or (``--precision int8``) an ONNX Runtime INT8 graph calibrated on face
videos, for CPUs. Prints what it built or kept and its measured latency.

The shipped model needs no torch: its ONNX (with a manifest naming the checkpoint) is the
starting point and the FP16 graph is derived with ``onnx`` alone, so ``auvid[tensorrt]`` is all
the GPU path installs. Another checkpoint is traced with torch (``auvid[train]``).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from auvid.errors import ModelError, OutputError

log = logging.getLogger(__name__)

# The pipeline's calls to the engine: offline, faces from up to `batch_frames` frames, flushed
# once 32 or more are waiting (auvid.pipeline.Analyzer.run), so a call holds at most
# 31 + max_faces; live, one frame: up to max_faces. The profile covers all without a split.
PIPELINE_FLUSH_FACES = 32


def default_batch_spec() -> str:
    """min:opt:max from the pipeline's own batch sizes (1:8:39 with the default options)."""
    from auvid.pipeline import AnalyzerOptions

    options = AnalyzerOptions()
    return f"1:{options.batch_frames}:{PIPELINE_FLUSH_FACES - 1 + options.max_faces}"


def _latency_ms(engine, batch: int, size: int, repeats: int = 30) -> float:
    pixels = np.random.default_rng(0).integers(0, 256, (batch, 1, size, size), dtype=np.uint8)
    for _ in range(3):
        engine.infer(pixels)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        engine.infer(pixels)
        samples.append((time.perf_counter() - start) * 1000)
    return float(np.median(samples))


def exported_onnx_for(checkpoint: Path, checkpoint_sha: str, mirror: bool) -> Path | None:
    """The FP32 ONNX already exported from ``checkpoint`` beside it (the shipped model's), if its
    manifest names this checkpoint and mirroring and the file is intact."""
    from engines.manifest import Manifest

    candidate = checkpoint.with_suffix(".onnx")
    if not candidate.is_file():
        return None
    try:
        manifest = Manifest.for_model(candidate, "onnxruntime", "ONNX Runtime")
    except ModelError as exc:
        log.info("not starting from %s: %s", candidate, exc)
        return None
    fits = (manifest.checkpoint_sha256 == checkpoint_sha and manifest.mirror_averaged == mirror
            and manifest.precision == "fp32")
    return candidate if fits else None


def _onnx_up_to_date(target: Path, checkpoint_sha: str, mirror: bool, precision: str) -> bool:
    from engines.manifest import Manifest

    if not target.is_file():
        return False
    try:
        manifest = Manifest.for_model(target, "onnxruntime", "ONNX Runtime")
    except ModelError:
        return False
    return (manifest.checkpoint_sha256 == checkpoint_sha and manifest.mirror_averaged == mirror
            and manifest.precision == precision)


CALIBRATION_NEEDED = ("--precision int8 needs --calibration VIDEO|FOLDER: face videos like the ones you will "
                      "analyse (INT8 ranges are measured on real crops)")


def calibration_videos(specs: tuple[str, ...] | list[str]) -> list[Path]:
    """The videos named by files, folders and globs (as ``auvid process`` reads them)."""
    from auvid.corpus.plan import discover
    from auvid.errors import InputError

    if not specs:
        raise InputError(CALIBRATION_NEEDED)
    found = discover(list(specs))
    missing = [str(d.path) for d in found if d.missing]
    if missing:
        raise InputError(f"--calibration: {missing[0]}: no such file or folder")
    videos = [d.path for d in found if d.path.is_file()]
    if not videos:
        raise InputError(f"--calibration: no video in {', '.join(specs)}")
    return videos


def build_int8(fp32: Path, out_dir: Path, stem: str, videos: list[Path], force: bool,
               models_dir: str | None = None) -> tuple[Path, bool]:
    """The INT8 graph beside the FP32 one. Kept when it was quantized from this FP32 graph and
    ``videos`` is empty or names the clips it was calibrated on; otherwise (re)built from ``videos``."""
    from engines.manifest import Manifest, int8_path_for
    from engines.quantize import face_crops, quantize_int8

    target = int8_path_for(out_dir / f"{stem}.onnx")
    source = Manifest.for_model(fp32, "onnxruntime", "ONNX Runtime")
    named = sorted(str(v.resolve()) for v in videos)
    if not force and target.is_file():
        try:
            kept = Manifest.for_model(target, "onnxruntime", "ONNX Runtime")
            if kept.quantized_from(source) and (not named or sorted(kept.build.get("calibration_videos", [])) == named):
                return target, True
        except ModelError:
            pass
    if not videos:
        from auvid.errors import InputError

        raise InputError(CALIBRATION_NEEDED)
    crops = face_crops(videos, source.input_size, models_dir=models_dir)
    note = f"{len(crops)} crops from {len(videos)} video(s): " + ", ".join(v.name for v in videos[:5]) + \
        (", ..." if len(videos) > 5 else "")
    return quantize_int8(fp32, target, crops, source.model_name, note, named), False


def run_build(checkpoint: str | None, precision: str, batch_spec: str | None, out: str | None, workspace_mb: int,
              force: bool, mirror: bool = True, calibration: tuple[str, ...] = (), models_dir: str | None = None) -> int:
    import click

    from auvid.errors import InputError
    from engines.manifest import sha256_file
    from engines.onnxrt import OnnxRuntimeEngine
    from engines.select import DEFAULT_CHECKPOINT, ENGINES_DIR
    from engines.tensorrt_backend import tensorrt_available
    from engines.trt_build import parse_batch

    if calibration and precision != "int8":
        raise InputError("--calibration sets INT8 activation ranges: use it with --precision int8")
    # Checked before any graph is built: a typo should not cost the FP32/FP16 builds first.
    videos = calibration_videos(calibration) if calibration else []
    batch_spec = batch_spec or default_batch_spec()
    batch = parse_batch(batch_spec)
    checkpoint_path = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
    if not checkpoint_path.is_file():
        raise ModelError(f"{checkpoint_path}: no such checkpoint")
    out_dir = Path(out) if out else ENGINES_DIR
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot make this folder ({exc.strerror})") from None
    sha = sha256_file(checkpoint_path)
    stem = f"{checkpoint_path.stem}-{sha[:8]}" + ("" if mirror else "-nomirror")
    source = exported_onnx_for(checkpoint_path, sha, mirror)
    built = {}
    for variant in ("fp32", "fp16"):
        target = out_dir / f"{stem}.{variant}.onnx"
        up_to_date = not force and _onnx_up_to_date(target, sha, mirror, variant)
        if not up_to_date:
            if source is not None:
                from engines.export import derive_from_onnx

                derive_from_onnx(source, target, precision=variant, model_name=checkpoint_path.stem)
            else:
                from engines.export import export_onnx

                export_onnx(checkpoint_path, target, precision=variant, mirror=mirror, model_name=checkpoint_path.stem)
        built[variant] = target
        with OnnxRuntimeEngine(target) as engine:
            b1 = _latency_ms(engine, 1, engine.input_size)
            bopt = _latency_ms(engine, batch["opt"], engine.input_size)
            where = engine.description
        # Plain output, not rich: paths must not be wrapped or read as markup.
        click.echo(f"{'kept' if up_to_date else 'built'} {target} (ONNX {variant}): "
                   f"{b1:.2f} ms at batch 1, {bopt:.2f} ms at batch {batch['opt']} on {where}")
    if precision == "int8":  # an ONNX Runtime graph for CPUs; TensorRT builds from FP16/FP32
        target, kept = build_int8(built["fp32"], out_dir, stem, videos, force, models_dir)
        with OnnxRuntimeEngine(target) as engine:
            b1 = _latency_ms(engine, 1, engine.input_size)
            bopt = _latency_ms(engine, batch["opt"], engine.input_size)
            where = engine.description
        click.echo(f"{'kept' if kept else 'built'} {target} (ONNX int8, {engine.manifest.build.get('calibration', '')}): "
                   f"{b1:.2f} ms at batch 1, {bopt:.2f} ms at batch {batch['opt']} on {where}; "
                   f"run it with --model {target}")
        return 0
    ok, why = tensorrt_available()
    if not ok:
        click.echo(f"auvid: error: the TensorRT step needs an NVIDIA GPU with the `tensorrt` extra installed "
                   f"({why}); the ONNX models above run on ONNX Runtime (--model {built['fp32']})", err=True)
        return 4
    from engines.tensorrt_backend import TensorRTEngine
    from engines.trt_build import build_engine

    engine_path, kept = build_engine(built[precision], out_dir, precision, batch, workspace_mb, stem, force)
    with TensorRTEngine(engine_path) as engine:
        b1 = _latency_ms(engine, 1, engine.input_size)
        bopt = _latency_ms(engine, batch["opt"], engine.input_size)
        layers = engine.manifest.build.get("layer_precisions", {})
        where = engine.description
    layer_text = ", ".join(f"{count} {kind}" for kind, count in sorted(layers.items(), key=lambda kv: -kv[1]))
    click.echo(f"{'kept' if kept else 'built'} {engine_path} (TensorRT {precision}, strongly typed, batch {batch_spec}, "
               f"layers: {layer_text or 'not inspected'}): {b1:.3f} ms at batch 1, {bopt:.3f} ms at batch {batch['opt']} "
               f"on {where}")
    return 0

"""Checkpoint -> one fused ONNX graph (normalisation, both views, the GCN-derived classifiers,
view and mirror averaging, sigmoid and intensity heads), FP32 or FP16, with its manifest.

Two routes: :func:`export_onnx` traces a checkpoint (needs torch: ``auvid[train]``);
:func:`derive_from_onnx` starts from an ONNX already exported with its manifest (the shipped
model's) and needs only ``onnx`` (in ``auvid[tensorrt]``), so the GPU path never needs torch.

The GCN only produces classifier weights, which are constant at inference: tracing folds
``Â ReLU(Â W^0 H0) H1`` into one matrix per view, so the exported graph costs no more than
two plain linear heads.
"""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from auvid.errors import ModelError
from engines.manifest import Manifest, manifest_path_for, sha256_file
from engines.onnx_graph import import_onnx, to_fp16

log = logging.getLogger(__name__)

INPUT_NAME = "pixels"
OUTPUT_NAMES = ("occurrence_prob", "intensity")
OPSET = 17


def export_onnx(checkpoint: str | Path, out: str | Path, precision: str = "fp32", mirror: bool = True,
                model_name: str | None = None) -> Path:
    """Write ``out`` (.onnx) and its manifest (.json beside it); return the ONNX path."""
    try:
        import torch
    except ImportError:
        raise ModelError(f"exporting {Path(checkpoint).name} to ONNX needs torch: pip install 'auvid[train]' "
                         "(the shipped model needs only 'auvid[tensorrt]')") from None
    onnx = import_onnx()

    from trainer.checkpoint import load_checkpoint
    from trainer.model import InferenceModel

    if precision not in ("fp32", "fp16"):
        raise ModelError(f"precision must be fp32 or fp16, not {precision!r}")
    checkpoint = Path(checkpoint)
    model, state = load_checkpoint(checkpoint)
    if model.config.reference != "none":
        raise ModelError(f"{checkpoint}: a model with a person reference input (model.reference="
                         f"{model.config.reference}) is an experiment the runtime does not feed yet; score it "
                         "with the trainer (its run's metrics.json)")
    runner = InferenceModel(model, mirror=mirror).eval()
    size = model.config.input_size
    example = torch.rand(2, 1, size, size) * 255
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, traced = tempfile.mkstemp(dir=out.parent, suffix=".traced.onnx.part")
    os.close(fd)
    try:
        with torch.no_grad():
            torch.onnx.export(runner, (example,), traced, input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAMES[0]: {0: "batch"},
                                            OUTPUT_NAMES[1]: {0: "batch"}},
                              opset_version=OPSET, dynamo=False)
        graph = _fold_constants(onnx.load(traced))
    finally:
        os.unlink(traced)
    if precision == "fp16":
        graph = to_fp16(graph)
    graph.producer_name = "auvid"
    _check_and_save(onnx, graph, out)
    import onnxruntime

    manifest = Manifest(
        model_file=out.name,
        model_sha256=sha256_file(out),
        backend="onnxruntime",
        precision=precision,
        occurrence_aus=list(model.config.occurrence_aus),
        intensity_aus=list(model.config.intensity_aus),
        input_size=size,
        input_channels=model.config.in_channels,
        normalization={"scale": 1 / 255, "mean": model.config.mean, "std": model.config.std, "in_graph": True},
        mirror_averaged=mirror,
        checkpoint_sha256=sha256_file(checkpoint),
        backend_version=f"onnxruntime {onnxruntime.__version__}, opset {OPSET}",
        model_name=model_name or out.stem,
    )
    manifest.save(manifest_path_for(out))
    log.info("exported %s (%s, %.1f KiB)", out, precision, out.stat().st_size / 1024)
    return out


def derive_from_onnx(source: str | Path, out: str | Path, precision: str = "fp32", model_name: str | None = None) -> Path:
    """``out`` from an exported FP32 ONNX and its manifest, without torch: the FP32 graph as is,
    or its FP16 conversion. The manifest keeps the source's checkpoint hash and mirroring."""
    import onnxruntime

    onnx = import_onnx()
    if precision not in ("fp32", "fp16"):
        raise ModelError(f"precision must be fp32 or fp16, not {precision!r}")
    source = Path(source)
    source_manifest = Manifest.for_model(source, "onnxruntime", "ONNX Runtime")
    if source_manifest.precision != "fp32":
        raise ModelError(f"{source}: derive from the FP32 graph, this one is {source_manifest.precision}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    graph = onnx.load(str(source))
    if precision == "fp16":
        graph = to_fp16(graph)
        graph.producer_name = "auvid"
    _check_and_save(onnx, graph, out)
    manifest = Manifest(**{**source_manifest.__dict__, "model_file": out.name, "model_sha256": sha256_file(out),
                           "precision": precision, "model_name": model_name or source_manifest.model_name,
                           "backend_version": f"onnxruntime {onnxruntime.__version__}, opset {OPSET}"})
    manifest.save(manifest_path_for(out))
    log.info("derived %s (%s) from %s without torch", out, precision, source.name)
    return out


def _check_and_save(onnx, graph, out: Path) -> None:
    """Check the graph, then write it under a temporary name and rename: never a half-written model."""
    onnx.checker.check_model(graph, full_check=True)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, suffix=".onnx.part")
    os.close(fd)
    try:
        onnx.save(graph, tmp_name)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, out)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def _fold_constants(model):
    """Fold the constant GCN weight computation (and other constant subgraphs) with ORT's
    basic optimisations, so what ships is the plain inference graph."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.onnx", Path(tmp) / "out.onnx"
        onnx.save(model, src)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(dst)
        ort.InferenceSession(str(src), options, providers=["CPUExecutionProvider"])
        return onnx.load(dst)

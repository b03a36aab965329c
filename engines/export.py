"""Checkpoint -> one fused ONNX graph (normalisation, both views, the GCN-derived classifiers,
view and mirror averaging, sigmoid and intensity heads), FP32 or FP16, with its manifest.

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

log = logging.getLogger(__name__)

INPUT_NAME = "pixels"
OUTPUT_NAMES = ("occurrence_prob", "intensity")
OPSET = 17


def export_onnx(checkpoint: str | Path, out: str | Path, precision: str = "fp32", mirror: bool = True,
                model_name: str | None = None) -> Path:
    """Write ``out`` (.onnx) and its manifest (.json beside it); return the ONNX path."""
    import numpy as np
    import onnx
    import torch

    from trainer.checkpoint import load_checkpoint
    from trainer.model import InferenceModel

    if precision not in ("fp32", "fp16"):
        raise ModelError(f"precision must be fp32 or fp16, not {precision!r}")
    checkpoint = Path(checkpoint)
    model, state = load_checkpoint(checkpoint)
    runner = InferenceModel(model, mirror=mirror).eval()
    size = model.config.input_size
    example = torch.rand(2, 1, size, size) * 255
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, suffix=".onnx.part")
    os.close(fd)
    try:
        with torch.no_grad():
            torch.onnx.export(runner, (example,), tmp_name, input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAMES[0]: {0: "batch"},
                                            OUTPUT_NAMES[1]: {0: "batch"}},
                              opset_version=OPSET, dynamo=False)
        graph = onnx.load(tmp_name)
        graph = _fold_constants(graph)
        if precision == "fp16":
            graph = to_fp16(graph)
        graph.producer_name = "auvid"
        onnx.checker.check_model(graph, full_check=True)
        onnx.save(graph, tmp_name)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, out)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
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
    del np
    return out


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


def to_fp16(model):
    """Weights and activations in half precision; the graph's input and outputs stay FP32
    (callers feed float32 pixels and read float32 scores; the casts sit inside the graph).

    Nothing in this graph needs an FP32 island: 0-255 pixels are exact in FP16, batch norms are
    folded into the convolutions, and there is no softmax, log or large reduction; the one
    sensitive spot would be the sigmoid's input, whose FP16 range (+-65504) is ample. Measured:
    at most ~1e-3 from the FP32 model on real faces (tests/test_engines.py)."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    for initializer in graph.initializer:
        if initializer.data_type == onnx.TensorProto.FLOAT:
            initializer.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(initializer).astype(np.float16),
                                                         initializer.name))
    for node in graph.node:
        if node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.name == "value" and attribute.t.data_type == onnx.TensorProto.FLOAT:
                    array = numpy_helper.to_array(attribute.t).astype(np.float16)
                    attribute.t.CopyFrom(numpy_helper.from_array(array))
        if node.op_type == "Cast":
            for attribute in node.attribute:
                if attribute.name == "to" and attribute.i == onnx.TensorProto.FLOAT:
                    attribute.i = onnx.TensorProto.FLOAT16
    # Cast the FP32 input to FP16 at the entrance and the outputs back to FP32 at the exit.
    input_name = graph.input[0].name
    half_input = input_name + "_fp16"
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == input_name:
                node.input[i] = half_input
    casts_in = [helper.make_node("Cast", [input_name], [half_input], to=onnx.TensorProto.FLOAT16, name="input_to_fp16")]
    casts_out = []
    for output in graph.output:
        half = output.name + "_fp16"
        for node in graph.node:
            for i, name in enumerate(node.output):
                if name == output.name:
                    node.output[i] = half
            for i, name in enumerate(node.input):
                if name == output.name:
                    node.input[i] = half
        casts_out.append(helper.make_node("Cast", [half], [output.name], to=onnx.TensorProto.FLOAT, name=f"{output.name}_to_fp32"))
    nodes = casts_in + list(graph.node) + casts_out
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]
    return model

"""The graphs TensorRT is given, checked on the CPU: the FP16 ONNX derived (without torch) from
the shipped model is strongly typed FP16, and its uint8-entrance form computes the same scores."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

from engines.export import derive_from_onnx
from engines.onnx_graph import with_uint8_input
from engines.select import DEFAULT_MODEL

FLOATS = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16}


@pytest.fixture(scope="module")
def derived(tmp_path_factory):
    out = tmp_path_factory.mktemp("derived")
    return {p: derive_from_onnx(DEFAULT_MODEL, out / f"m.{p}.onnx", precision=p) for p in ("fp32", "fp16")}


def tensor_types(model) -> tuple[dict[str, int], set[str]]:
    """Element type of every tensor in the graph (shape inference for the intermediate ones),
    and the names of the declared inputs and outputs."""
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    graph = model.graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.value_info, *graph.input, *graph.output]}
    types.update({t.name: t.data_type for t in graph.initializer})
    for node in graph.node:
        if node.op_type == "Constant":
            types[node.output[0]] = next(a.t.data_type for a in node.attribute if a.name == "value")
    untyped = [o for node in graph.node for o in node.output if o and o not in types]
    assert not untyped, f"no type inferred for {untyped[:5]}"
    return types, {v.name for v in [*graph.input, *graph.output]}


def not_fp16(model) -> list[str]:
    types, declared = tensor_types(model)
    return sorted(name for name, kind in types.items() if kind in FLOATS and kind != onnx.TensorProto.FLOAT16
                  and name not in declared)


def test_the_fp16_onnx_is_strongly_typed_fp16(derived):
    """TensorRT's strongly typed mode runs each layer in its tensors' type: every float tensor
    must be FP16 except the declared float32 I/O (the same check fails on the FP32 graph)."""
    fp16 = onnx.load(derived["fp16"])
    assert not_fp16(fp16) == []
    graph = fp16.graph
    assert [v.type.tensor_type.elem_type for v in [*graph.input, *graph.output]] == [onnx.TensorProto.FLOAT] * 3
    assert sum(1 for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT16) > 50
    assert len(not_fp16(onnx.load(derived["fp32"]))) > 50


def test_the_uint8_entrance_keeps_it_strongly_typed_and_valid(derived):
    for precision in ("fp16", "fp32"):
        model = with_uint8_input(onnx.load(derived[precision]))
        onnx.checker.check_model(model, full_check=True)
        assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert not_fp16(with_uint8_input(onnx.load(derived["fp16"]))) == []


def test_derived_fp32_is_the_shipped_graph(derived):
    assert derived["fp32"].read_bytes() == DEFAULT_MODEL.read_bytes()


def test_uint8_entrance_graph_gives_the_float_graphs_scores_on_real_faces(derived, aligned_faces, tmp_path):
    """What TensorRT parses (uint8 in, FP16 inside) against the FP16 and FP32 ONNX on ONNX
    Runtime, on real aligned faces: identical to the FP16 graph fed the same pixels as float32
    up to FP16 rounding of the cast order, and within the FP16 tolerance of FP32."""
    import cv2
    import onnxruntime as ort

    size = onnx.load(derived["fp32"]).graph.input[0].type.tensor_type.shape.dim[2].dim_value
    crops = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in aligned_faces])[:, None]
    assert crops.dtype == np.uint8
    uint8_path = tmp_path / "u8.onnx"
    onnx.save(with_uint8_input(onnx.load(derived["fp16"])), uint8_path)

    def run(path, pixels):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: pixels})

    u8 = run(uint8_path, crops)
    f16 = run(derived["fp16"], crops.astype(np.float32))
    f32 = run(derived["fp32"], crops.astype(np.float32))
    assert np.abs(u8[0] - f16[0]).max() < 1e-3 and np.abs(u8[1] - f16[1]).max() < 1e-3
    assert np.abs(u8[0] - f32[0]).max() < 0.02 and np.abs(u8[1] - f32[1]).max() < 0.05

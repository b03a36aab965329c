"""Edits of an exported ONNX graph that need only the ``onnx`` package (no torch): the FP16
conversion TensorRT's strongly typed builder takes, and a uint8 entrance for the GPU path.

``onnx`` is in both the ``train`` and the ``tensorrt`` extras, so ``auvid build-engine`` for
the shipped model runs with ``auvid[tensorrt]`` alone.
"""
from __future__ import annotations

from auvid.errors import ModelError

ONNX_MISSING = ("the ONNX graph edits need the onnx package: pip install 'auvid[onnx]' (CPU: FP32/FP16/INT8 graphs) "
                "or 'auvid[tensorrt]' (NVIDIA GPUs)")


def import_onnx():
    """``onnx``, or one line naming the extra that installs it."""
    try:
        import onnx
    except ImportError:
        raise ModelError(ONNX_MISSING) from None
    return onnx


def to_fp16(model):
    """Weights and activations in half precision; the graph's input and outputs stay as declared
    (FP32: callers feed float32 pixels and read float32 scores; the casts sit inside the graph).

    This is what TensorRT's strongly typed mode needs: it runs each layer in the type its ONNX
    tensors carry, so every float tensor here is FP16 except the declared I/O (tests check it).
    Nothing in this graph needs an FP32 island: 0-255 pixels are exact in FP16, batch norms are
    folded into the convolutions, and there is no softmax, log or large reduction; the one
    sensitive spot would be the sigmoid's input, whose FP16 range (+-65504) is ample. Measured:
    at most ~1e-3 from the FP32 model on real faces (tests/engines/test_engines.py)."""
    import numpy as np

    onnx = import_onnx()
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
        casts_out.append(helper.make_node("Cast", [half], [output.name], to=onnx.TensorProto.FLOAT,
                                          name=f"{output.name}_to_fp32"))
    nodes = casts_in + list(graph.node) + casts_out
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]
    return model


def with_uint8_input(model):
    """The same graph taking uint8 pixels: aligned crops are uint8, so the GPU path copies a
    quarter of the bytes and converts on the device. Where the input already feeds only Casts
    (the FP16 graph) the Cast simply starts from uint8; otherwise a Cast to the old type is
    inserted. TensorRT accepts uint8 network inputs converted by a cast to float32/float16
    (``tensorrt.DataType.UINT8`` docs, 10.x and 11.x)."""
    onnx = import_onnx()
    from onnx import helper

    graph = model.graph
    entrance = graph.input[0]
    old_type = entrance.type.tensor_type.elem_type
    if old_type == onnx.TensorProto.UINT8:
        return model
    consumers = [node for node in graph.node if entrance.name in node.input]
    entrance.type.tensor_type.elem_type = onnx.TensorProto.UINT8
    if consumers and all(node.op_type == "Cast" for node in consumers):
        return model
    widened = entrance.name + "_from_uint8"
    for node in consumers:
        for i, name in enumerate(node.input):
            if name == entrance.name:
                node.input[i] = widened
    cast = helper.make_node("Cast", [entrance.name], [widened], to=old_type, name="input_from_uint8")
    nodes = [cast] + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return model

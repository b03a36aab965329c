"""GPU paths: TensorRT build and run, torch CUDA FP16 and CUDA graphs. They skip, with the
reason, on machines without an NVIDIA GPU (CI and the development machines)."""
import numpy as np
import pytest

from engines.select import DEFAULT_CHECKPOINT
from engines.tensorrt_backend import tensorrt_available

torch = pytest.importorskip("torch")
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
trt_ok, trt_why = tensorrt_available()
needs_trt = pytest.mark.skipif(not trt_ok, reason=f"TensorRT unavailable: {trt_why}")


@cuda
def test_torch_cuda_fp16_matches_fp32():
    from engines.torch_backend import TorchEngine

    x = np.random.default_rng(0).uniform(0, 255, (8, 1, 96, 96)).astype(np.float32)
    with TorchEngine(DEFAULT_CHECKPOINT, device="cuda", half=False) as fp32, \
            TorchEngine(DEFAULT_CHECKPOINT, device="cuda", half=True, cuda_graph_batch=8) as fp16:
        a, b = fp32.infer(x), fp16.infer(x)
    assert np.abs(a[1] - b[1]).max() < 0.05 and np.abs(a[0] - b[0]).max() < 0.02


@needs_trt
def test_tensorrt_engine_builds_and_matches_onnxruntime(tmp_path):
    from auvid.build import run_build
    from engines.onnxrt import OnnxRuntimeEngine
    from engines.tensorrt_backend import TensorRTEngine

    assert run_build(str(DEFAULT_CHECKPOINT), "fp16", "1:8:32", str(tmp_path), 1024, True) == 0
    engine_path = next(tmp_path.glob("*.engine"))
    onnx_path = next(tmp_path.glob("*.fp32.onnx"))
    x = np.random.default_rng(0).uniform(0, 255, (8, 1, 96, 96)).astype(np.float32)
    with TensorRTEngine(engine_path) as trt_engine, OnnxRuntimeEngine(onnx_path) as ort_engine:
        a, b = trt_engine.infer(x), ort_engine.infer(x)
    assert np.abs(a[1] - b[1]).max() < 0.05
    assert list(tmp_path.glob("timing.*.cache"))

"""The CUDA side of the TensorRT backend on its own, without TensorRT: pinned host arrays and
device buffers carry real crops to the GPU and back, through cuda-python and through pycuda (its
fallback), and a captured CUDA graph replays the copies with the arrays' new contents. Skips with
CUDA's own reason on a machine without an NVIDIA GPU (CI and the development machines)."""
from __future__ import annotations

import numpy as np
import pytest

from auvid.errors import ModelError
from engines.cuda_buffers import CudaBuffers, cuda_device
from tests.conftest import use_pycuda_buffers

pytestmark = pytest.mark.gpu


def _gpu_or_reason() -> str | None:
    try:
        cuda_device(0)
    except ModelError as exc:
        return str(exc)
    return None


no_gpu = _gpu_or_reason()
needs_gpu = pytest.mark.skipif(no_gpu is not None, reason=f"no usable NVIDIA GPU: {no_gpu}")


@pytest.fixture(params=["cuda-python", "pycuda"])
def buffers(request, monkeypatch):
    if request.param == "pycuda":
        pytest.importorskip("pycuda", reason="pycuda is not installed (optional; cuda-python is the default)")
        use_pycuda_buffers(monkeypatch)
    made = CudaBuffers()
    assert made.kind == request.param
    yield made
    made.close()


@needs_gpu
def test_the_device_names_a_compute_capability():
    device = cuda_device(0)
    major, minor = device["compute_capability"].split(".")
    assert device["gpu"] and int(major) >= 5 and minor.isdigit()


@needs_gpu
def test_crops_go_to_the_gpu_and_back_unchanged(buffers):
    crops = np.random.default_rng(0).integers(0, 256, (7, 1, 96, 96), dtype=np.uint8)
    host_in = buffers.pinned(crops.shape, np.uint8)
    host_out = buffers.pinned(crops.shape, np.uint8)
    host_in[:] = crops
    host_out[:] = 0
    device = buffers.alloc(crops.nbytes)
    buffers.to_device(device, host_in)
    buffers.to_host(host_out, device)
    buffers.synchronize()
    assert np.array_equal(host_out, crops)


@needs_gpu
def test_a_captured_graph_replays_the_copies_with_new_contents(buffers):
    if not buffers.graphs_supported:
        pytest.skip("CUDA graphs are captured through cuda-python only")
    shape = (5, 1, 96, 96)
    host_in, host_out = buffers.pinned(shape, np.uint8), buffers.pinned(shape, np.uint8)
    device = buffers.alloc(int(np.prod(shape)))

    def enqueue():
        buffers.to_device(device, host_in)
        buffers.to_host(host_out, device)

    host_in[:] = 0
    graph = buffers.capture(enqueue)
    for seed in (1, 2):  # a graph reads the pinned arrays at replay, not at capture
        host_in[:] = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
        host_out[:] = 0
        buffers.launch(graph)
        buffers.synchronize()
        assert np.array_equal(host_out, host_in), seed


@needs_gpu
def test_close_frees_everything_and_can_be_repeated(buffers):
    buffers.alloc(1 << 20)
    buffers.pinned((16,), np.float32)
    buffers.close()
    buffers.close()
    assert not buffers._device and not buffers._pinned

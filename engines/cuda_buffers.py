"""Device buffers and async copies for TensorRT: pycuda where it is installed (the design card's
choice), else NVIDIA's cuda-python, which ships wheels (pycuda has none and did not build here)."""
from __future__ import annotations

import numpy as np

from auvid.errors import ModelError


class CudaBuffers:
    """Allocate, copy in, copy out and synchronise on one stream."""

    def __init__(self) -> None:
        try:
            import pycuda.autoinit  # noqa: F401  (creates the context)
            import pycuda.driver as driver

            self.kind = "pycuda"
            self._driver = driver
            self.stream = driver.Stream()
            self.stream_handle = self.stream.handle
        except ImportError:
            try:
                from cuda.bindings import runtime as cudart
            except ImportError:
                try:
                    from cuda import cudart  # cuda-python < 12.6
                except ImportError:
                    raise ModelError("TensorRT needs pycuda or cuda-python: pip install 'auvid[tensorrt]'") from None
            self.kind = "cuda-python"
            self._cudart = cudart
            self.stream_handle = self._check(cudart.cudaStreamCreate())
            self.stream = self.stream_handle
        self._allocations: list = []

    def _check(self, result):
        error, *values = result
        if int(error) != 0:
            raise ModelError(f"CUDA call failed: {error}")
        return values[0] if len(values) == 1 else values

    def alloc(self, nbytes: int) -> int:
        if self.kind == "pycuda":
            allocation = self._driver.mem_alloc(nbytes)
            self._allocations.append(allocation)
            return int(allocation)
        pointer = self._check(self._cudart.cudaMalloc(nbytes))
        self._allocations.append(pointer)
        return int(pointer)

    def to_device(self, pointer: int, array: np.ndarray) -> None:
        if self.kind == "pycuda":
            self._driver.memcpy_htod_async(pointer, array, self.stream)
        else:
            kind = self._cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
            self._check((self._cudart.cudaMemcpyAsync(pointer, array.ctypes.data, array.nbytes, kind, self.stream_handle)[0], None))

    def to_host(self, array: np.ndarray, pointer: int) -> None:
        if self.kind == "pycuda":
            self._driver.memcpy_dtoh_async(array, pointer, self.stream)
        else:
            kind = self._cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
            self._check((self._cudart.cudaMemcpyAsync(array.ctypes.data, pointer, array.nbytes, kind, self.stream_handle)[0], None))

    def synchronize(self) -> None:
        if self.kind == "pycuda":
            self.stream.synchronize()
        else:
            self._check((self._cudart.cudaStreamSynchronize(self.stream_handle)[0], None))

    def free(self) -> None:
        if self.kind == "cuda-python":
            for pointer in self._allocations:
                self._cudart.cudaFree(pointer)
        self._allocations.clear()


def gpu_identity() -> dict:
    """Name and compute capability of GPU 0 (what a TensorRT engine is tied to)."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError:
            import torch

            if not torch.cuda.is_available():
                return {}
            major, minor = torch.cuda.get_device_capability(0)
            return {"gpu": torch.cuda.get_device_name(0), "compute_capability": f"{major}.{minor}"}
    error, props = cudart.cudaGetDeviceProperties(0)
    if int(error) != 0:
        return {}
    name = props.name.decode() if isinstance(props.name, bytes) else str(props.name)
    return {"gpu": name.strip("\x00 "), "compute_capability": f"{props.major}.{props.minor}"}

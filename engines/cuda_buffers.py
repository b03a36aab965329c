"""The CUDA side of the TensorRT backend: which GPU this is (or CUDA's own reason why none is
usable), one stream, device buffers, pinned host arrays, async copies and CUDA graphs.

NVIDIA's cuda-python comes first (it ships wheels; ``cuda.bindings.runtime`` in 12.6+ and 13.x,
where 13 removed the old ``cuda.cudart``). pycuda is used only where cuda-python is missing, and
then only through ``pycuda.autoprimaryctx``: TensorRT runs in the device's *primary* context
(the runtime API's), and ``pycuda.autoinit`` would create a second context whose stream and
buffers the engine cannot use ("invalid resource handle"). Callers create :class:`CudaBuffers`
before deserialising an engine, so the context is current when TensorRT needs it.
"""
from __future__ import annotations

import ctypes
import logging
from typing import Any, Callable

import numpy as np

from auvid.errors import ModelError

log = logging.getLogger(__name__)

CUDA_PYTHON_MISSING = ("TensorRT needs cuda-python for its buffers: pip install 'auvid[tensorrt]' "
                       "(CUDA 13 driver) or 'auvid[tensorrt-cu12]' (CUDA 12 driver)")


def import_cudart():
    """cuda-python's runtime module, or ModelError naming the extra."""
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6, and 13.x
    except ImportError:
        try:
            from cuda import cudart  # cuda-python 12.0-12.5 (removed in 13)
        except ImportError:
            raise ModelError(CUDA_PYTHON_MISSING) from None
    return cudart


def _version(code: int) -> str:
    """CUDA's version integers (12090 -> '12.9')."""
    return f"{code // 1000}.{code % 1000 // 10}" if code else "none"


def error_name(cudart, error) -> str:
    """CUDA's own name for an error (``cudaGetErrorName``), e.g. 'cudaErrorInsufficientDriver'."""
    status, name = cudart.cudaGetErrorName(error)
    if int(status) != 0 or name is None:
        return f"CUDA error {int(error)}"
    return name.decode() if isinstance(name, bytes) else str(name)


def check(cudart, result, what: str):
    """Unpack a cuda-python ``(cudaError_t, *values)`` tuple; raise with CUDA's error name."""
    if not isinstance(result, tuple):
        result = (result,)
    error, *values = result
    if int(error) != 0:
        raise ModelError(f"{what} failed: {error_name(cudart, error)}")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def why_no_device(cudart, error) -> str:
    """One line for a failed ``cudaGetDeviceCount``: CUDA's error name, and for a driver too old
    for this cuda-python, which stack fits the driver that is there."""
    name = error_name(cudart, error)
    _, driver = cudart.cudaDriverGetVersion()
    _, runtime = cudart.cudaRuntimeGetVersion()
    if name == "cudaErrorInsufficientDriver":
        if not driver:
            return f"no NVIDIA driver is installed ({name})"
        return (f"the NVIDIA driver supports CUDA {_version(driver)} but this cuda-python needs CUDA "
                f"{_version(runtime)} ({name}): install the stack for this driver "
                f"(CUDA 12: pip install 'auvid[tensorrt-cu12]') or update the driver")
    if name == "cudaErrorNoDevice":
        return f"no NVIDIA GPU is visible ({name})"
    return f"CUDA cannot reach a GPU ({name}; driver CUDA {_version(driver)}, cuda-python CUDA {_version(runtime)})"


def cuda_device(device: int = 0) -> dict:
    """Name and compute capability of ``device`` (what a TensorRT engine is tied to), or
    ModelError with CUDA's reason. Never swallows the error into 'no GPU'."""
    try:
        cudart = import_cudart()
    except ModelError:
        return _pycuda_device(device)
    error, count = cudart.cudaGetDeviceCount()
    if int(error) != 0:
        raise ModelError(why_no_device(cudart, error))
    if count <= device:
        raise ModelError(f"no NVIDIA GPU is visible (cudaGetDeviceCount: {count})")
    props = check(cudart, cudart.cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
    _, driver = cudart.cudaDriverGetVersion()
    return {"gpu": name.strip("\x00 "), "compute_capability": f"{props.major}.{props.minor}",
            "driver_cuda": _version(driver)}


def _pycuda_device(device: int) -> dict:
    try:
        import pycuda.driver as driver
    except ImportError:
        raise ModelError(CUDA_PYTHON_MISSING) from None
    try:
        driver.init()
        gpu = driver.Device(device)
        major, minor = gpu.compute_capability()
        return {"gpu": gpu.name(), "compute_capability": f"{major}.{minor}",
                "driver_cuda": _version(driver.get_driver_version())}
    except driver.Error as exc:
        raise ModelError(f"CUDA cannot reach a GPU (pycuda: {str(exc).splitlines()[0]})") from None


class CudaBuffers:
    """One stream; device buffers and pinned (page-locked) host arrays; async copies; optional
    CUDA graphs. :meth:`close` frees everything it allocated, in reverse order."""

    def __init__(self) -> None:
        self._device: list = []
        self._pinned: list = []
        self._graphs: list = []
        try:
            self._cudart = import_cudart()
            self.kind = "cuda-python"
        except ModelError:
            self._cudart = None
            try:
                # Retains and pushes the device's primary context, the one TensorRT uses.
                import pycuda.autoprimaryctx  # noqa: F401
                import pycuda.driver as driver
            except ImportError:
                raise ModelError(CUDA_PYTHON_MISSING) from None
            self.kind = "pycuda"
            self._driver = driver
            self._stream = driver.Stream()
            self.stream_handle = int(self._stream.handle)
            return
        cudart = self._cudart
        error, count = cudart.cudaGetDeviceCount()
        if int(error) != 0:
            raise ModelError(why_no_device(cudart, error))
        # cudaSetDevice makes device 0's primary context current on this thread; a non-blocking
        # stream because graph capture cannot use the legacy default stream.
        check(cudart, cudart.cudaSetDevice(0), "cudaSetDevice")
        self._stream = check(cudart, cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking),
                             "cudaStreamCreateWithFlags")
        self.stream_handle = int(self._stream)

    @property
    def graphs_supported(self) -> bool:
        return self.kind == "cuda-python"

    def alloc(self, nbytes: int) -> int:
        """A device buffer of ``nbytes``; its address."""
        if self.kind == "pycuda":
            allocation = self._driver.mem_alloc(nbytes)
            self._device.append(allocation)
            return int(allocation)
        pointer = check(self._cudart, self._cudart.cudaMalloc(nbytes), "cudaMalloc")
        self._device.append(pointer)
        return int(pointer)

    def pinned(self, shape: tuple[int, ...], dtype) -> np.ndarray:
        """A page-locked host array: async copies from pageable memory are staged and serialised
        by the driver, from pinned memory they are real DMA on the stream."""
        dtype = np.dtype(dtype)
        if self.kind == "pycuda":
            array = self._driver.pagelocked_empty(shape, dtype)
            self._pinned.append(array)
            return array
        nbytes = int(np.prod(shape)) * dtype.itemsize
        pointer = check(self._cudart, self._cudart.cudaMallocHost(nbytes), "cudaMallocHost")
        self._pinned.append(int(pointer))
        raw = (ctypes.c_byte * nbytes).from_address(int(pointer))
        return np.frombuffer(raw, dtype=dtype).reshape(shape)

    def to_device(self, pointer: int, array: np.ndarray) -> None:
        if self.kind == "pycuda":
            self._driver.memcpy_htod_async(pointer, array, self._stream)
            return
        kind = self._cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        check(self._cudart, self._cudart.cudaMemcpyAsync(pointer, array.ctypes.data, array.nbytes, kind,
                                                         self._stream), "cudaMemcpyAsync (to GPU)")

    def to_host(self, array: np.ndarray, pointer: int) -> None:
        if self.kind == "pycuda":
            self._driver.memcpy_dtoh_async(array, pointer, self._stream)
            return
        kind = self._cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        check(self._cudart, self._cudart.cudaMemcpyAsync(array.ctypes.data, pointer, array.nbytes, kind,
                                                         self._stream), "cudaMemcpyAsync (to host)")

    def synchronize(self) -> None:
        if self.kind == "pycuda":
            self._stream.synchronize()
            return
        check(self._cudart, self._cudart.cudaStreamSynchronize(self._stream), "cudaStreamSynchronize")

    def capture(self, enqueue: Callable[[], None]) -> Any:
        """A CUDA graph of what ``enqueue`` puts on the stream (cuda-python only). The capture is
        always ended, also when ``enqueue`` raises, so the stream stays usable."""
        cudart = self._cudart
        mode = cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        check(cudart, cudart.cudaStreamBeginCapture(self._stream, mode), "cudaStreamBeginCapture")
        try:
            enqueue()
        finally:
            graph = check(cudart, cudart.cudaStreamEndCapture(self._stream), "cudaStreamEndCapture")
        try:
            graph_exec = check(cudart, cudart.cudaGraphInstantiate(graph, 0), "cudaGraphInstantiate")
        finally:
            cudart.cudaGraphDestroy(graph)
        self._graphs.append(graph_exec)
        return graph_exec

    def launch(self, graph_exec) -> None:
        check(self._cudart, self._cudart.cudaGraphLaunch(graph_exec, self._stream), "cudaGraphLaunch")

    def close(self) -> None:
        """Free graphs, buffers and the stream (after the stream's work is done). Idempotent."""
        if self.kind == "pycuda":
            for allocation in self._device:
                allocation.free()
            for array in self._pinned:
                array.base.free()
            self._device.clear()
            self._pinned.clear()
            return
        cudart = self._cudart
        if self._stream is not None:
            cudart.cudaStreamSynchronize(self._stream)
        for graph_exec in self._graphs:
            cudart.cudaGraphExecDestroy(graph_exec)
        for pointer in self._device:
            cudart.cudaFree(pointer)
        for pointer in self._pinned:
            cudart.cudaFreeHost(pointer)
        self._graphs.clear()
        self._device.clear()
        self._pinned.clear()
        if self._stream is not None:
            cudart.cudaStreamDestroy(self._stream)
            self._stream = None


def gpu_identity() -> dict:
    """Name and compute capability of GPU 0, or {} where none is usable (see :func:`cuda_device`
    for the reason)."""
    try:
        return cuda_device(0)
    except ModelError as exc:
        log.debug("no GPU: %s", exc)
        return {}

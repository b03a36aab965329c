"""TensorRT backend: a serialized engine checked against its manifest, pinned host buffers and
device buffers sized for the engine's own profile max, uint8 crops in (cast inside the graph),
async copies on one stream, optionally one CUDA graph per batch size.

Calls follow the TensorRT 10.x/11.x Python API (``ICudaEngine.num_io_tensors``,
``get_tensor_name/mode/dtype/shape``, ``get_tensor_profile_shape``;
``IExecutionContext.set_input_shape``, ``set_tensor_address`` and ``execute_async_v3``, all three
returning False on failure, which is checked).
"""
from __future__ import annotations

import atexit
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auvid.errors import ModelError
from engines.base import Engine
from engines.manifest import Manifest
from engines.matching import Platform, platform_mismatch

log = logging.getLogger(__name__)

TENSORRT_MISSING = ("the tensorrt package is not installed: pip install 'auvid[tensorrt]' (CUDA 13 driver) "
                    "or 'auvid[tensorrt-cu12]' (CUDA 12 driver), on an NVIDIA machine")
INPUT_NAME = "pixels"
OUTPUT_NAMES = ("occurrence_prob", "intensity")
_DTYPES = {"FLOAT": "float32", "HALF": "float16", "UINT8": "uint8", "INT8": "int8", "INT32": "int32",
           "INT64": "int64", "BOOL": "bool", "BF16": "bfloat16"}


def import_tensorrt():
    """``tensorrt``, or ModelError naming the extra."""
    try:
        import tensorrt
    except ImportError:
        raise ModelError(TENSORRT_MISSING) from None
    except Exception as exc:  # the wheel is there but its libraries do not load
        raise ModelError(f"tensorrt cannot load ({str(exc).splitlines()[0][:160]})") from None
    return tensorrt


def tensorrt_cuda_major() -> int | None:
    """The CUDA major version the installed TensorRT wheel was built for (``tensorrt-cu12``,
    ``tensorrt-cu13``), or None where that cannot be told (a system install)."""
    from importlib import metadata

    for major in (13, 12, 11):
        for name in (f"tensorrt-cu{major}", f"tensorrt-cu{major}-libs"):
            try:
                metadata.version(name)
                return major
            except metadata.PackageNotFoundError:
                continue
    return None


def stack_mismatch(tensorrt_cuda: int | None, driver_cuda: str) -> str | None:
    """Why a TensorRT wheel for CUDA ``tensorrt_cuda`` cannot run on a driver supporting CUDA
    ``driver_cuda`` ('12.4'), or None. TensorRT's own error would only say it failed to
    initialise CUDA."""
    try:
        driver_major = int(driver_cuda.split(".")[0])
    except (ValueError, AttributeError):
        return None
    if tensorrt_cuda is None or tensorrt_cuda <= driver_major:
        return None
    fix = "pip install 'auvid[tensorrt-cu12]'" if driver_major == 12 else "update the driver"
    return (f"TensorRT is installed for CUDA {tensorrt_cuda} but the NVIDIA driver supports CUDA {driver_cuda}: "
            f"{fix}, or update the driver to one for CUDA {tensorrt_cuda}")


def tensorrt_device() -> dict:
    """This GPU (see :func:`engines.cuda_buffers.cuda_device`) after checking that TensorRT
    loads and was built for a CUDA this driver runs; ModelError with the reason otherwise."""
    from engines.cuda_buffers import cuda_device

    import_tensorrt()
    device = cuda_device()
    why = stack_mismatch(tensorrt_cuda_major(), device.get("driver_cuda", ""))
    if why:
        raise ModelError(why)
    return device


def tensorrt_available() -> tuple[bool, str]:
    """(usable, why not): TensorRT importable, a GPU CUDA can reach (else CUDA's own reason),
    and a TensorRT build this driver runs."""
    try:
        tensorrt_device()
    except ModelError as exc:
        return False, str(exc)
    return True, ""


@dataclass(frozen=True)
class TensorIO:
    """One I/O tensor of an engine, as the engine itself reports it."""

    name: str
    is_input: bool
    dtype: str  # numpy name: "uint8", "float32", ...
    shape: tuple[int, ...]  # -1 for the dynamic batch
    profile: tuple[tuple[int, ...], ...] = ()  # inputs: (min, opt, max) shapes of profile 0


def engine_io(engine, trt) -> list[TensorIO]:
    """The engine's I/O tensors (names, modes, dtypes, shapes, profile 0)."""
    tensors = []
    for index in range(engine.num_io_tensors):
        name = engine.get_tensor_name(index)
        is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
        dtype = engine.get_tensor_dtype(name)
        dtype_name = _DTYPES.get(getattr(dtype, "name", str(dtype).split(".")[-1]), str(dtype))
        shape = tuple(int(d) for d in engine.get_tensor_shape(name))
        profile = ()
        if is_input:
            profile = tuple(tuple(int(d) for d in dims) for dims in engine.get_tensor_profile_shape(name, 0))
        tensors.append(TensorIO(name, is_input, dtype_name, shape, profile))
    return tensors


def check_io(tensors: list[TensorIO], manifest: Manifest) -> tuple[int, int]:
    """(min, max) batch of the engine's profile, after checking its I/O is what the manifest
    describes; ModelError naming the first difference otherwise."""
    by_name = {t.name: t for t in tensors}
    expected = {INPUT_NAME, *OUTPUT_NAMES}
    if set(by_name) != expected:
        raise ModelError(f"engine tensors {sorted(by_name)} are not {sorted(expected)}")
    size = manifest.input_size
    pixels = by_name[INPUT_NAME]
    if not pixels.is_input:
        raise ModelError(f"engine tensor {INPUT_NAME!r} is not an input")
    if pixels.dtype != manifest.input_dtype:
        raise ModelError(f"engine input is {pixels.dtype}, the manifest says {manifest.input_dtype}")
    if pixels.shape[1:] != (manifest.input_channels, size, size):
        raise ModelError(f"engine input shape {pixels.shape}, the manifest says (N, {manifest.input_channels}, {size}, {size})")
    if len(pixels.profile) != 3:
        raise ModelError("engine has no optimization profile for its input")
    low, high = pixels.profile[0][0], pixels.profile[2][0]
    widths = {OUTPUT_NAMES[0]: len(manifest.occurrence_aus), OUTPUT_NAMES[1]: len(manifest.intensity_aus)}
    for name, width in widths.items():
        tensor = by_name[name]
        if tensor.is_input or tensor.dtype != "float32" or tensor.shape[1:] != (width,):
            raise ModelError(f"engine output {name} is {tensor.dtype} {tensor.shape}, the manifest says float32 (N, {width})")
    profile = manifest.batch_profile
    if (profile.get("min"), profile.get("max")) != (low, high):
        raise ModelError(f"engine batch profile {low}..{high}, the manifest says {profile.get('min')}..{profile.get('max')}")
    return low, high


def to_input_dtype(pixels: np.ndarray, dtype: np.dtype, out: np.ndarray) -> None:
    """Write ``pixels`` into ``out`` as ``dtype``: uint8 pixels as they are, float pixels
    rounded and clipped to 0-255 for a uint8 engine."""
    if dtype == np.uint8 and pixels.dtype != np.uint8:
        pixels = np.clip(np.rint(pixels), 0, 255)
    np.copyto(out, pixels, casting="unsafe")


class TensorRTEngine(Engine):
    name = "tensorrt"

    def __init__(self, engine_path: str | Path, cuda_graphs: bool | None = None) -> None:
        engine_path = Path(engine_path)
        manifest = Manifest.for_model(engine_path, "tensorrt", "TensorRT")
        trt = import_tensorrt()
        why = platform_mismatch(manifest, Platform(trt.__version__, tensorrt_device()["compute_capability"]))
        if why:
            raise ModelError(f"{engine_path}: {why}; rebuild it here with `auvid build-engine --force`")
        super().__init__(manifest)
        self.engine_path = engine_path
        self._trt = trt
        self.cuda_graphs = cuda_graphs if cuda_graphs is not None else os.environ.get("AUVID_TRT_CUDA_GRAPHS") == "1"
        self._buffers = None

    def activate_impl(self) -> None:
        from engines.cuda_buffers import CudaBuffers

        trt = self._trt
        # The CUDA context first (cuda-python: the primary context; pycuda: autoprimaryctx),
        # then the engine, so both live in the same context.
        self._buffers = CudaBuffers()
        try:
            self._load(trt)
        except BaseException:
            self.deactivate_impl()
            raise
        # The pipeline keeps its engine to the end: free it before interpreter teardown, while
        # TensorRT and the CUDA bindings are still whole.
        atexit.register(self.deactivate)

    def _load(self, trt) -> None:
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if self._engine is None:
            raise ModelError(f"{self.engine_path}: TensorRT could not deserialize it (corrupt, or another version)")
        try:
            self.min_batch, self.max_batch = check_io(engine_io(self._engine, trt), self.manifest)
        except ModelError as exc:
            raise ModelError(f"{self.engine_path}: {exc}; rebuild it with `auvid build-engine --force`") from None
        self._context = self._engine.create_execution_context()
        if self._context is None:
            raise ModelError(f"{self.engine_path}: TensorRT could not create an execution context (GPU memory?)")
        buffers, size = self._buffers, self.input_size
        self._input_dtype = np.dtype(self.manifest.input_dtype)
        self._host_in = buffers.pinned((self.max_batch, 1, size, size), self._input_dtype)
        self._host_out = {OUTPUT_NAMES[0]: buffers.pinned((self.max_batch, len(self.occurrence_aus)), np.float32),
                          OUTPUT_NAMES[1]: buffers.pinned((self.max_batch, len(self.intensity_aus)), np.float32)}
        self._device = {INPUT_NAME: buffers.alloc(self._host_in.nbytes)}
        for name, array in self._host_out.items():
            self._device[name] = buffers.alloc(array.nbytes)
        for name, pointer in self._device.items():
            if not self._context.set_tensor_address(name, pointer):
                raise ModelError(f"TensorRT refused the address of {name!r}")
        self._graphs: dict[int, object] = {}
        if self.cuda_graphs and not buffers.graphs_supported:
            log.info("CUDA graphs need cuda-python; running without")
            self.cuda_graphs = False
        self.description = (f"TensorRT {trt.__version__} ({self.manifest.device.get('gpu', 'GPU')}, {self.manifest.precision}, "
                            f"batch {self.min_batch}-{self.max_batch}, {self._input_dtype.name} in, buffers via {buffers.kind}"
                            + (", CUDA graphs" if self.cuda_graphs else "") + ")")

    def infer_impl(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(pixels)
        if n > self.max_batch:  # above the profile: in profile-sized parts
            parts = [self.infer_impl(pixels[i:i + self.max_batch]) for i in range(0, n, self.max_batch)]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        if n == 0:
            return (np.zeros((0, len(self.occurrence_aus)), np.float32), np.zeros((0, len(self.intensity_aus)), np.float32))
        run = max(n, self.min_batch)  # below the profile's min: pad with blank faces
        host_in = self._host_in[:run]
        to_input_dtype(pixels, self._input_dtype, host_in[:n])
        if run > n:
            host_in[n:] = 0
        size = self.input_size
        if not self._context.set_input_shape(INPUT_NAME, (run, 1, size, size)):
            raise ModelError(f"TensorRT refused input shape ({run}, 1, {size}, {size})")
        buffers = self._buffers
        buffers.to_device(self._device[INPUT_NAME], host_in)
        if self.cuda_graphs:
            self._launch_graph(run)
        elif not self._context.execute_async_v3(buffers.stream_handle):
            raise ModelError("TensorRT execution failed (execute_async_v3 returned False)")
        prob = self._host_out[OUTPUT_NAMES[0]][:run]
        intensity = self._host_out[OUTPUT_NAMES[1]][:run]
        buffers.to_host(prob, self._device[OUTPUT_NAMES[0]])
        buffers.to_host(intensity, self._device[OUTPUT_NAMES[1]])
        buffers.synchronize()
        return prob[:n].copy(), intensity[:n].copy()

    def _launch_graph(self, run: int) -> None:
        """Replay the CUDA graph for this batch size, capturing it on first use. TensorRT may
        defer work after a shape change to the next enqueue, so one plain enqueue runs first."""
        graph = self._graphs.get(run)
        if graph is None:
            buffers = self._buffers
            if not self._context.execute_async_v3(buffers.stream_handle):
                raise ModelError("TensorRT execution failed (execute_async_v3 returned False)")
            buffers.synchronize()

            def enqueue() -> None:
                if not self._context.execute_async_v3(buffers.stream_handle):
                    raise ModelError("TensorRT could not be captured into a CUDA graph")

            graph = self._graphs[run] = buffers.capture(enqueue)
        self._buffers.launch(graph)

    def deactivate_impl(self) -> None:
        """Context and engine go before the memory and stream they use."""
        atexit.unregister(self.deactivate)
        self._host_in = None
        self._host_out = {}
        self._graphs = {}
        self._context = None
        self._engine = None
        self._runtime = None
        if self._buffers is not None:
            self._buffers.close()
            self._buffers = None

"""TensorRT backend: a serialized engine, device buffers sized for the profile's max batch, and
async copies on one stream. Refuses engines built for another GPU, TensorRT or model."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from auvid.errors import ModelError
from engines.base import Engine
from engines.manifest import Manifest


def tensorrt_available() -> tuple[bool, str]:
    """(usable, why not): TensorRT importable and an NVIDIA GPU visible."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False, "the tensorrt package is not installed (pip install 'auvid[tensorrt]' on an NVIDIA machine)"
    from engines.cuda_buffers import gpu_identity

    try:
        identity = gpu_identity()
    except Exception as exc:  # no driver, no device
        return False, f"no usable NVIDIA GPU ({exc})"
    if not identity:
        return False, "no NVIDIA GPU is visible"
    return True, ""


class TensorRTEngine(Engine):
    name = "tensorrt"

    def __init__(self, engine_path: str | Path) -> None:
        engine_path = Path(engine_path)
        manifest = Manifest.for_model(engine_path, "tensorrt", "TensorRT")
        import tensorrt as trt

        from engines.cuda_buffers import gpu_identity

        if manifest.backend_version != f"tensorrt {trt.__version__}":
            raise ModelError(f"{engine_path}: built with {manifest.backend_version}, this is tensorrt "
                             f"{trt.__version__}; rebuild with `auvid build-engine --force`")
        here = gpu_identity()
        if manifest.device and here and manifest.device.get("compute_capability") != here.get("compute_capability"):
            raise ModelError(f"{engine_path}: built for {manifest.device.get('gpu')} (sm {manifest.device.get('compute_capability')}), "
                             f"this GPU is {here.get('gpu')} (sm {here.get('compute_capability')}); rebuild it here")
        super().__init__(manifest)
        self.engine_path = engine_path
        self._trt = trt

    def activate_impl(self) -> None:
        from engines.cuda_buffers import CudaBuffers

        trt = self._trt
        self._logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(self._logger)
        self._engine = runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if self._engine is None:
            raise ModelError(f"{self.engine_path}: TensorRT could not deserialize it (corrupt, or another version)")
        self._context = self._engine.create_execution_context()
        self._buffers = CudaBuffers()
        max_batch = int(self.manifest.batch_profile.get("max", 32))
        size = self.input_size
        self._input_name = "pixels"
        self._host_out = {
            "occurrence_prob": np.empty((max_batch, len(self.occurrence_aus)), np.float32),
            "intensity": np.empty((max_batch, len(self.intensity_aus)), np.float32),
        }
        self._device = {"pixels": self._buffers.alloc(max_batch * size * size * 4)}
        for name, array in self._host_out.items():
            self._device[name] = self._buffers.alloc(array.nbytes)
        for name, pointer in self._device.items():
            self._context.set_tensor_address(name, pointer)
        self.description = f"TensorRT {trt.__version__} ({self.manifest.device.get('gpu', 'GPU')}, " \
                           f"{self.manifest.precision}, buffers via {self._buffers.kind})"

    def infer_impl(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(pixels)
        max_batch = int(self.manifest.batch_profile.get("max", 32))
        if n > max_batch:
            parts = [self.infer_impl(pixels[i:i + max_batch]) for i in range(0, n, max_batch)]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        self._context.set_input_shape(self._input_name, pixels.shape)
        self._buffers.to_device(self._device["pixels"], pixels)
        if not self._context.execute_async_v3(self._buffers.stream_handle):
            raise ModelError("TensorRT execution failed")
        prob = self._host_out["occurrence_prob"][:n]
        intensity = self._host_out["intensity"][:n]
        self._buffers.to_host(prob, self._device["occurrence_prob"])
        self._buffers.to_host(intensity, self._device["intensity"])
        self._buffers.synchronize()
        return prob.copy(), intensity.copy()

    def deactivate_impl(self) -> None:
        self._buffers.free()
        self._context = None
        self._engine = None

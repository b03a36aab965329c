"""ONNX Runtime backend: the embedded default on a CPU, CUDA execution provider where present."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from auvid.errors import ModelError
from engines.base import Engine
from engines.manifest import Manifest

log = logging.getLogger(__name__)


class OnnxRuntimeEngine(Engine):
    name = "onnxruntime"

    def __init__(self, model_path: str | Path, providers: list[str] | None = None, threads: int | None = None) -> None:
        model_path = Path(model_path)
        super().__init__(Manifest.for_model(model_path, "onnxruntime", "ONNX Runtime"))
        self.model_path = model_path
        self.providers = providers
        self.threads = threads
        self._session = None
        self.provider: str | None = None  # the execution provider the session runs on, once active

    def activate_impl(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # A small model: one thread per call is fastest and leaves the other cores to decoding
        # and detection, which run in their own threads.
        options.intra_op_num_threads = self.threads or int(os.environ.get("AUVID_ORT_THREADS", "1"))
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        available = ort.get_available_providers()
        providers = self.providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        try:
            self._session = ort.InferenceSession(str(self.model_path), options, providers=providers)
        except Exception as exc:  # ORT raises its own exception types for bad graphs
            raise ModelError(f"{self.model_path}: ONNX Runtime cannot load it ({str(exc).splitlines()[0][:200]})") from None
        entrance = self._session.get_inputs()[0]
        self._input = entrance.name
        self._input_dtype = {"tensor(uint8)": np.uint8, "tensor(float16)": np.float16}.get(entrance.type, np.float32)
        self._outputs = [o.name for o in self._session.get_outputs()]
        used = self._session.get_providers()[0]
        self.provider = used
        if "CUDAExecutionProvider" in available and used != "CUDAExecutionProvider":
            log.info("ONNX Runtime's CUDA provider is installed but did not start; running on %s", used)
        self.description = f"ONNX Runtime {ort.__version__} ({used}, {self.manifest.precision}, " \
                           f"{options.intra_op_num_threads} thread(s))"

    def infer_impl(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        prob, intensity = self._session.run(self._outputs, {self._input: pixels.astype(self._input_dtype, copy=False)})
        return prob, intensity

    def deactivate_impl(self) -> None:
        self._session = None

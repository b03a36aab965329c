"""PyTorch backend straight from a checkpoint: CPU, or CUDA with FP16 and a CUDA graph for the
fixed-batch hot path. The reference the exported graphs are checked against."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engines.base import Engine
from engines.manifest import Manifest


class TorchEngine(Engine):
    name = "torch"

    def __init__(self, checkpoint: str | Path, device: str | None = None, half: bool | None = None,
                 mirror: bool = True, cuda_graph_batch: int | None = None) -> None:
        import torch

        from trainer.checkpoint import file_sha256, load_checkpoint
        from trainer.model import InferenceModel

        model, _ = load_checkpoint(checkpoint)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.half = bool(half) if half is not None else self.device.startswith("cuda")
        config = model.config
        manifest = Manifest(model_file=Path(checkpoint).name, model_sha256=file_sha256(checkpoint), backend="torch",
                            precision="fp16" if self.half else "fp32", occurrence_aus=list(config.occurrence_aus),
                            intensity_aus=list(config.intensity_aus), input_size=config.input_size,
                            normalization={"scale": 1 / 255, "mean": config.mean, "std": config.std, "in_graph": True},
                            mirror_averaged=mirror, checkpoint_sha256=file_sha256(checkpoint),
                            backend_version=f"torch {torch.__version__}")
        super().__init__(manifest)
        self._torch = torch
        self.module = InferenceModel(model, mirror=mirror).eval().to(self.device)
        if self.half:
            self.module = self.module.half()
        self.cuda_graph_batch = cuda_graph_batch if self.device.startswith("cuda") else None
        self._graph = None

    def activate_impl(self) -> None:
        torch = self._torch
        dtype = torch.float16 if self.half else torch.float32
        self.description = f"torch {torch.__version__} ({self.device}, {'fp16' if self.half else 'fp32'})"
        if self.cuda_graph_batch:
            size = self.input_size
            self._static_in = torch.zeros(self.cuda_graph_batch, 1, size, size, device=self.device, dtype=dtype)
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream), torch.no_grad():
                for _ in range(3):
                    self.module(self._static_in)
            torch.cuda.current_stream().wait_stream(stream)
            self._graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self._graph), torch.no_grad():
                self._static_out = self.module(self._static_in)
            self.description += f", CUDA graph at batch {self.cuda_graph_batch}"

    def infer_impl(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        torch = self._torch
        dtype = torch.float16 if self.half else torch.float32
        with torch.no_grad():
            tensor = torch.from_numpy(pixels).to(self.device, dtype=dtype, non_blocking=True)
            if self._graph is not None and len(pixels) == self.cuda_graph_batch:
                self._static_in.copy_(tensor)
                self._graph.replay()
                prob, intensity = self._static_out
            else:
                prob, intensity = self.module(tensor)
            return prob.float().cpu().numpy(), intensity.float().cpu().numpy()

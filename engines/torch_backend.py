"""PyTorch backend straight from a checkpoint: CPU, or CUDA with FP16 and CUDA graphs. The
reference the exported graphs are checked against.

On CUDA the model is small enough that launching its kernels one by one costs more than running
them (measured on an H200: ~4-5 ms per eager call at batch 1, 8 and 32 alike, 0.67 ms for a graph
at batch 1; benchmarks/GPU.md), so each batch size in ``cuda_graph_batches`` gets one captured
graph and a call is padded up to the smallest graph that holds it. Larger calls run in chunks of
the largest graph: the pipeline's calls hold up to 39 faces (a flush at 32 plus one frame's 8), so
a rare call of 33-39 takes two replays; at batch 128 chunks cost 8.0 ms against 6.8 ms eager.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engines.base import Engine
from engines.manifest import Manifest

DEFAULT_CUDA_GRAPH_BATCHES = (1, 8, 32)  # live (batch 1), one face per frame for 8 frames, the flush at 32


class TorchEngine(Engine):
    name = "torch"

    def __init__(self, checkpoint: str | Path, device: str | None = None, half: bool | None = None,
                 mirror: bool = True, cuda_graph_batches: tuple[int, ...] | None = None) -> None:
        """``cuda_graph_batches``: None for the default buckets on CUDA, () for eager calls."""
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
        on_cuda = self.device.startswith("cuda")
        buckets = DEFAULT_CUDA_GRAPH_BATCHES if cuda_graph_batches is None else cuda_graph_batches
        self.cuda_graph_batches = tuple(sorted(set(buckets))) if on_cuda else ()
        self._graphs: dict[int, tuple] = {}  # batch -> (graph, static input, static outputs)

    @property
    def _dtype(self):  # -> torch.dtype (torch is imported where the engine is made, not here)
        return self._torch.float16 if self.half else self._torch.float32

    def activate_impl(self) -> None:
        torch = self._torch
        self.description = f"torch {torch.__version__} ({self.device}, {'fp16' if self.half else 'fp32'})"
        if not self.cuda_graph_batches:
            return
        size = self.input_size
        with torch.cuda.device(self.device):  # streams and graphs on this engine's GPU, not the current one
            for batch in self.cuda_graph_batches:
                self._capture(batch, size)
        self.description += f", CUDA graphs at batch {', '.join(map(str, self.cuda_graph_batches))}"

    def _capture(self, batch: int, size: int) -> None:
        """One graph at ``batch``: warmed up on a side stream (capture cannot use the default one),
        then captured with its static input and outputs."""
        torch = self._torch
        static_in = torch.zeros(batch, 1, size, size, device=self.device, dtype=self._dtype)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream), torch.no_grad():
            for _ in range(3):
                self.module(static_in)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph), torch.no_grad():
            static_out = self.module(static_in)
        self._graphs[batch] = (graph, static_in, static_out)

    def deactivate_impl(self) -> None:
        self._graphs.clear()

    def infer_impl(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self._graphs or not len(pixels):
            return self._eager(pixels)
        largest = self.cuda_graph_batches[-1]
        with self._torch.cuda.device(self.device):
            parts = [self._replay(pixels[start:start + largest]) for start in range(0, len(pixels), largest)]
        return np.concatenate([p for p, _ in parts]), np.concatenate([i for _, i in parts])

    def _eager(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        torch = self._torch
        with torch.no_grad():
            tensor = torch.from_numpy(pixels).to(self.device, dtype=self._dtype, non_blocking=True)
            prob, intensity = self.module(tensor)
            return prob.float().cpu().numpy(), intensity.float().cpu().numpy()

    def _replay(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The smallest graph that holds ``pixels``; rows past them keep whatever the last call
        left (each face is scored on its own, so they cannot change these rows' scores)."""
        n = len(pixels)
        batch = next(b for b in self.cuda_graph_batches if b >= n)
        graph, static_in, (prob, intensity) = self._graphs[batch]
        static_in[:n].copy_(self._torch.from_numpy(pixels))
        graph.replay()
        return prob[:n].float().cpu().numpy(), intensity[:n].float().cpu().numpy()

"""One contract for every backend (after Polygraphy's runners): activate, infer, deactivate.

``infer`` takes aligned grey faces as pixels 0-255 (N, 1, S, S), uint8 as the aligner makes them
or float32, and returns occurrence probabilities (N, C) and intensities (N, J). uint8 stays
uint8 (the TensorRT engine copies it as is, a quarter of the bytes); each backend converts to
what its graph takes. Each call's wall time is recorded so the pipeline and the benchmarks read
the same figures.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod

import numpy as np

from engines.manifest import Manifest


class Engine(ABC):
    name = "engine"

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.active = False
        self.inference_times: list[float] = []
        self.description = ""

    @property
    def input_size(self) -> int:
        return self.manifest.input_size

    @property
    def occurrence_aus(self) -> list[str]:
        return list(self.manifest.occurrence_aus)

    @property
    def intensity_aus(self) -> list[str]:
        return list(self.manifest.intensity_aus)

    def activate(self) -> "Engine":
        if not self.active:
            self.activate_impl()
            self.active = True
        return self

    def deactivate(self) -> None:
        if self.active:
            self.deactivate_impl()
            self.active = False

    def infer(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.active:
            self.activate()
        if pixels.ndim != 4 or pixels.shape[1:] != (1, self.input_size, self.input_size):
            raise ValueError(f"{self.name}: expected (N, 1, {self.input_size}, {self.input_size}), got {pixels.shape}")
        start = time.perf_counter()
        dtype = np.uint8 if pixels.dtype == np.uint8 else np.float32
        prob, intensity = self.infer_impl(np.ascontiguousarray(pixels, dtype=dtype))
        self.inference_times.append(time.perf_counter() - start)
        return prob, intensity

    def __enter__(self) -> "Engine":
        return self.activate()

    def __exit__(self, *exc) -> None:
        self.deactivate()

    @abstractmethod
    def activate_impl(self) -> None: ...

    @abstractmethod
    def infer_impl(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def deactivate_impl(self) -> None:
        pass

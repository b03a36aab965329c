"""Temporal smoothing of AU traces: a One-Euro filter per face and per AU (Casiez et al., 2012).

It smooths hard when a trace is still (killing frame-to-frame jitter of the crop) and follows
fast onsets with little lag, which a moving average cannot do at the same time.
"""
from __future__ import annotations

import math

import numpy as np


class OneEuro:
    """Vectorised One-Euro filter over a fixed-length vector, driven by real timestamps."""

    def __init__(self, min_cutoff: float = 1.5, beta: float = 0.3, d_cutoff: float = 1.0) -> None:
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * np.asarray(cutoff))
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if self._x is None or self._t is None or t <= self._t:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        dx = (x - self._x) / dt
        dx_hat = self._dx + self._alpha(self.d_cutoff, dt) * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(dx_hat)
        x_hat = self._x + self._alpha(cutoff, dt) * (x - self._x)
        self._x, self._dx, self._t = x_hat.astype(np.float32), dx_hat.astype(np.float32), t
        return self._x.copy()


class FaceSmoother:
    """One filter pair (intensity, occurrence probability) per face id; forgets faces unseen
    for ``forget_after`` seconds so a returning id does not start from stale values."""

    def __init__(self, enabled: bool = True, forget_after: float = 1.0, **params: float) -> None:
        self.enabled = enabled
        self.forget_after = forget_after
        self.params = params
        self._filters: dict[int, tuple[OneEuro, OneEuro, float]] = {}

    def __call__(self, face_id: int, intensity: np.ndarray, prob: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        if not self.enabled:
            return intensity, prob
        entry = self._filters.get(face_id)
        if entry is None or t - entry[2] > self.forget_after:
            entry = (OneEuro(**self.params), OneEuro(**self.params), t)
        smoothed = entry[0](intensity, t), entry[1](prob, t)
        self._filters[face_id] = (entry[0], entry[1], t)
        return np.clip(smoothed[0], 0.0, 5.0), np.clip(smoothed[1], 0.0, 1.0)

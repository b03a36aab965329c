"""Latency bookkeeping: per-stage samples and their percentiles, for summaries and live views."""
from __future__ import annotations

from collections import defaultdict, deque

import numpy as np

STAGES = ("decode", "detect_track", "align", "infer", "smooth", "write")


def percentiles(samples, qs=(50, 95, 99)) -> dict[str, float]:
    if not len(samples):
        return {f"p{q}": float("nan") for q in qs}
    values = np.percentile(np.asarray(samples, np.float64), qs)
    return {f"p{q}": float(v) for q, v in zip(qs, values)}


class StageTimes:
    """Milliseconds per stage per frame; ``window`` keeps only the newest samples (live view)."""

    def __init__(self, window: int | None = None) -> None:
        self.samples: dict[str, deque | list] = defaultdict(lambda: deque(maxlen=window) if window else [])

    def add(self, stage: str, milliseconds: float) -> None:
        self.samples[stage].append(milliseconds)

    def add_frame(self, timings: dict[str, float]) -> None:
        for stage, seconds in timings.items():
            self.add(stage, seconds * 1000.0)

    def table(self) -> dict[str, dict[str, float]]:
        ordered = [s for s in STAGES if s in self.samples] + [s for s in self.samples if s not in STAGES]
        return {stage: percentiles(self.samples[stage]) for stage in ordered}

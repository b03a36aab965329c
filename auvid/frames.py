"""The unit of data that flows through the pipeline: a frame, its faces and its timings."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Frame:
    """One decoded image. ``index`` is 1-based like OpenFace; ``timestamp`` is seconds from the
    source (the container's presentation time, counted from the first frame, not index/fps); ``captured_at`` is the
    ``time.perf_counter()`` when the source handed it over, the start of its latency."""

    index: int
    timestamp: float
    image: np.ndarray
    captured_at: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Face:
    """A detected face: box (x, y, w, h) in frame pixels, 5 landmarks (right eye, left eye, nose
    tip, right and left mouth corner, as YuNet orders them) and the detector's score."""

    box: np.ndarray
    landmarks: np.ndarray
    score: float
    face_id: int = -1


@dataclass
class FaceResult:
    """AU estimates for one face in one frame."""

    face: Face
    intensity: np.ndarray  # (n_intensity_aus,) on the 0-5 scale
    occurrence_prob: np.ndarray  # (n_occurrence_aus,) probabilities
    occurrence: np.ndarray | None = None  # (n_occurrence_aus,) 0/1 set by calibration; else prob >= 0.5
    calibrated: bool | None = None  # None: no calibration; False: live baseline not settled yet


@dataclass
class FrameResult:
    frame_index: int
    timestamp: float
    faces: list[FaceResult]
    timings: dict[str, float]
    captured_at: float = 0.0
    emitted_at: float = 0.0
    image: np.ndarray | None = None  # the analysed frame (a reference, for overlays and windows)

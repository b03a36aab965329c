"""Reading OpenFace 2.x output CSVs (FeatureExtraction / FaceLandmarkImg / our own sinks)."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auvid.aus import INTENSITY_AUS, OCCURRENCE_AUS


@dataclass
class TeacherLabels:
    """Per-row teacher outputs. Rows with success=0 are kept (masked by ``valid``)."""

    keys: list[str]  # frame number (as text) for videos, image path for image sets
    face_ids: np.ndarray
    confidence: np.ndarray
    success: np.ndarray
    intensity: np.ndarray  # (n, 17), 0-5
    occurrence: np.ndarray  # (n, 18), 0/1
    landmarks: np.ndarray | None  # (n, 68, 2) where the CSV has x_i/y_i columns
    timestamps: np.ndarray | None = None  # (n,) seconds, where the CSV has a timestamp column

    def valid(self, min_confidence: float = 0.0) -> np.ndarray:
        return (self.success > 0) & (self.confidence >= min_confidence)


def read_openface_csv(path: str | Path) -> TeacherLabels:
    with open(path, newline="") as handle:
        reader = csv.reader(handle, skipinitialspace=True)
        header = [h.strip() for h in next(reader)]
        rows = [row for row in reader if row]
    column = {name: i for i, name in enumerate(header)}
    key_name = "frame" if "frame" in column else "image"
    data = np.array([[_num(r[column[c]]) for c in header if c != key_name and c in column] for r in rows],
                    dtype=np.float64) if rows else np.zeros((0, len(header) - 1))
    numeric = [c for c in header if c != key_name]
    index = {name: i for i, name in enumerate(numeric)}

    def take(names: list[str]) -> np.ndarray:
        return data[:, [index[n] for n in names]] if rows else np.zeros((0, len(names)))

    landmarks = None
    if "x_0" in index and "y_67" in index:
        xs = take([f"x_{i}" for i in range(68)])
        ys = take([f"y_{i}" for i in range(68)])
        landmarks = np.stack([xs, ys], axis=-1).astype(np.float32)
    face_ids = take(["face_id"])[:, 0].astype(int) if "face_id" in index else np.zeros(len(rows), int)
    return TeacherLabels(
        keys=[r[column[key_name]].strip() for r in rows],
        face_ids=face_ids,
        confidence=take(["confidence"])[:, 0].astype(np.float32),
        success=take(["success"])[:, 0].astype(np.int8),
        intensity=np.nan_to_num(take([f"{au}_r" for au in INTENSITY_AUS])).astype(np.float32),
        occurrence=np.nan_to_num(take([f"{au}_c" for au in OCCURRENCE_AUS])).astype(np.int8),
        landmarks=landmarks,
        timestamps=take(["timestamp"])[:, 0] if "timestamp" in index else None,
    )


def _num(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")

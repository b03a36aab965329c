"""Where results go: OpenFace-compatible CSV and JSONL files, written incrementally.

Files are written under a temporary name and renamed only when the run completes, so a file with
the final name is always complete. An interrupted run keeps its rows under ``<name>.partial``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from auvid.aus import INTENSITY_AUS, OCCURRENCE_AUS
from auvid.errors import OutputError
from auvid.frames import FrameResult


class _AtomicFile:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        if self.path.is_dir():
            raise OutputError(f"{self.path}: is a folder; give a file name")
        parent = self.path.parent
        if not parent.exists():
            raise OutputError(f"{self.path}: folder {parent} does not exist")
        try:
            self._handle = open(self.partial, "w", newline="")
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write here ({exc.strerror})") from None
        self.rows = 0

    def write(self, text: str) -> None:
        self._handle.write(text)

    def flush(self) -> None:
        self._handle.flush()

    def close(self, complete: bool) -> Path:
        """Close; rename to the final name when ``complete``, else keep ``.partial``."""
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        if complete:
            os.replace(self.partial, self.path)
            return self.path
        return self.partial


class CsvSink:
    """OpenFace 2.x columns: frame, face_id, timestamp, confidence, success, AUxx_r..., AUxx_c...

    A frame with no face still gets a row (face_id 0, success 0, zeros), as OpenFace writes it.
    """

    def __init__(self, path: str | Path, intensity_aus: list[str], occurrence_aus: list[str],
                 threshold: float = 0.5, flush_every: int = 30) -> None:
        self.file = _AtomicFile(path)
        self.intensity_aus = intensity_aus
        self.occurrence_aus = occurrence_aus
        self.threshold = threshold
        self.flush_every = flush_every
        # OpenFace's columns always (plus any AU the model adds, e.g. BP4D's AU24), sorted; an AU
        # the model lacks stays empty, never a made-up 0.
        self._r_columns = sorted(set(INTENSITY_AUS) | set(intensity_aus))
        self._c_columns = sorted(set(OCCURRENCE_AUS) | set(occurrence_aus))
        self._r_from = [intensity_aus.index(au) if au in intensity_aus else None for au in self._r_columns]
        self._c_from = [occurrence_aus.index(au) if au in occurrence_aus else None for au in self._c_columns]
        columns = ["frame", "face_id", "timestamp", "confidence", "success"]
        columns += [f"{au}_r" for au in self._r_columns] + [f"{au}_c" for au in self._c_columns]
        self.file.write(",".join(columns) + "\n")
        self._empty = ",".join(["0.00" if i is not None else "" for i in self._r_from]
                               + ["0" if i is not None else "" for i in self._c_from])
        self._frames = 0

    def write(self, result: FrameResult) -> None:
        lines = []
        if not result.faces:
            lines.append(f"{result.frame_index},0,{result.timestamp:.3f},0.00,0,{self._empty}")
        for face in result.faces:
            intensity = ",".join("" if i is None else f"{face.intensity[i]:.2f}" for i in self._r_from)
            decided = ([p >= self.threshold for p in face.occurrence_prob] if face.occurrence is None
                       else list(face.occurrence))
            occurrence = ",".join("" if i is None else "1" if decided[i] else "0" for i in self._c_from)
            lines.append(f"{result.frame_index},{face.face.face_id},{result.timestamp:.3f},"
                         f"{face.face.score:.2f},1,{intensity},{occurrence}")
        self.file.write("\n".join(lines) + "\n")
        self.file.rows += len(lines)
        self._frames += 1
        if self._frames % self.flush_every == 0:
            self.file.flush()

    def close(self, complete: bool = True) -> Path:
        return self.file.close(complete)


class JsonlSink:
    """One JSON object per frame: its faces with boxes, landmarks, intensities and probabilities.

    With calibration each face also has ``calibrated`` (false on live rows written before its
    baseline settled) and ``occurrence`` (the 0/1 the calibration rule gives, as in the CSV)."""

    def __init__(self, path: str | Path, intensity_aus: list[str], occurrence_aus: list[str]) -> None:
        self.file = _AtomicFile(path)
        self.intensity_aus = intensity_aus
        self.occurrence_aus = occurrence_aus

    def write(self, result: FrameResult) -> None:
        record = {
            "frame": result.frame_index,
            "timestamp": round(result.timestamp, 4),
            "faces": [self._face(f) for f in result.faces],
        }
        self.file.write(json.dumps(record) + "\n")
        self.file.rows += 1

    def _face(self, f) -> dict:
        face = {
            "face_id": f.face.face_id,
            "confidence": round(f.face.score, 4),
            "box": [round(float(v), 1) for v in f.face.box],
            "landmarks": np.round(f.face.landmarks, 1).tolist(),
            "intensity": {au: round(float(v), 3) for au, v in zip(self.intensity_aus, f.intensity)},
            "occurrence_prob": {au: round(float(v), 3) for au, v in zip(self.occurrence_aus, f.occurrence_prob)},
        }
        if f.calibrated is not None:
            face["calibrated"] = bool(f.calibrated)
            face["occurrence"] = {au: int(v) for au, v in zip(self.occurrence_aus, f.occurrence)}
        return face

    def close(self, complete: bool = True) -> Path:
        return self.file.close(complete)

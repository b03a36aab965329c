"""Person calibration (``--calibrate``): remove each face's neutral baseline from its AU traces.

Why: OpenFace's default video output is person-calibrated, so one person's resting face does not
read as another's frown, and users who switch from OpenFace compare against it. auvid's model
imitates OpenFace's *static* (per-frame) output; this stage turns it into the calibrated kind.

The method, chosen by measurement against OpenFace's dynamic output on the validation people of
``trainer/data/splits.yaml`` (``python -m auvid.commands.calibration_eval`` reruns the search; mean over
AUs of pooled PCC / within-clip PCC / occurrence F1, re-run for the shipped width-1.5 model;
uncalibrated 0.449 / 0.578 / 0.448):

- For each face id, the baseline of an AU is the ``BASELINE_PERCENTILE``-th percentile of that
  AU's trace over the face's frames; the calibrated intensity is ``max(0, value - baseline)``,
  clipped to the 0-5 scale. Of the 10th-90th, the 60th (near the person's median, as OpenFace
  normalises by a running median of the person's appearance) scored best: 0.637 / 0.605 / 0.498.
- AU04, AU06, AU07, AU10, AU12 and AU14 pass through unchanged: for those OpenFace's "dynamic"
  output *is* its static output (PCC 1.00 on every validation clip), so it removes no baseline
  from them; calibrating all 17 AUs scored 0.513 / 0.569 at the 60th percentile.
- Occurrence follows the calibrated intensity: a calibrated AU occurs when its calibrated
  intensity reads above zero (``>= OCCURRENCE_MIN`` = 0.01, the CSV's resolution): F1 0.498,
  vs 0.502 / 0.460 / 0.392 for thresholds 0.1 / 0.25 / 0.5 (0.1 scored 0.009 lower with an
  earlier model: a difference of that size flips between models, so the rule stays at 0.01). A pass-through AU and AU28 (no
  intensity) keep the model's rule, probability >= 0.5, as does every AU in a live row written
  before its face's baseline settled (``calibrated: false``).

Offline (``auvid process``) the baseline comes from the whole track of a face id, as OpenFace's
post-processing does, so a frame's value depends on the whole clip. A face id that leaves and
comes back keeps one baseline (the calibrator never forgets an id, unlike the smoother; live, it
keeps the last ``MAX_FACES`` ids, so that a camera running for hours stays bounded).

Live, the baseline is a running estimate from the frames seen so far, weighted in from nothing:
``baseline = min(1, seen / SETTLE_SECONDS) * running percentile``, so the first rows equal the
uncalibrated output and the estimate is complete after ``SETTLE_SECONDS`` of visible face.
Rows written before that carry ``calibrated: false`` in the JSONL. After 3 s the live output is
within 0.006 of the offline one (mean |difference| per clip, median over the validation clips that
settled, worst 0.095: ``auvid eval --calibrate --split validation``).

Both use one histogram per face and AU (bins of ``BIN_WIDTH``), so memory stays bounded on a
camera that runs for hours, and a live estimate that has seen the whole clip equals the offline one.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from auvid.frames import FaceResult, Frame, FrameResult

log = logging.getLogger(__name__)

BASELINE_PERCENTILE = 60.0
PASS_THROUGH_AUS = ("AU04", "AU06", "AU07", "AU10", "AU12", "AU14")
OCCURRENCE_MIN = 0.01
SETTLE_SECONDS = 3.0
BIN_WIDTH = 0.01
MAX_GAP_SECONDS = 0.5  # a longer gap between two sightings of a face adds no "seen" time
MAX_FACES = 1000  # live: the most face ids whose baselines are kept (oldest forgotten first)


@dataclass(frozen=True)
class CalibrationSettings:
    """The method's parameters (defaults: the ones chosen on validation people)."""

    percentile: float = BASELINE_PERCENTILE
    pass_through: tuple[str, ...] = PASS_THROUGH_AUS
    occurrence_min: float = OCCURRENCE_MIN
    settle_seconds: float = SETTLE_SECONDS
    bin_width: float = BIN_WIDTH

    def describe(self) -> dict:
        return {"method": f"per face id and AU: value - {self.percentile:g}th percentile of the face's trace, "
                          "clipped to 0-5", "percentile": self.percentile,
                "pass_through_aus": list(self.pass_through),
                "occurrence_rule": f"calibrated AUs: calibrated intensity >= {self.occurrence_min:g}; "
                                   "pass-through AUs and AU28: probability >= 0.5",
                "settle_seconds": self.settle_seconds}


class FaceBaseline:
    """One face's running distribution of each AU's intensity: a histogram per AU over 0-5."""

    def __init__(self, n_aus: int, bin_width: float = BIN_WIDTH) -> None:
        self.bin_width = bin_width
        self.bins = int(round(5.0 / bin_width)) + 1
        self.counts = np.zeros((n_aus, self.bins), np.int64)
        self.frames = 0
        self.seen_seconds = 0.0
        self._last_t: float | None = None
        self._cache: tuple[int, float, np.ndarray] | None = None

    def add(self, intensity: np.ndarray, timestamp: float) -> None:
        index = np.clip(np.rint(np.asarray(intensity, np.float64) / self.bin_width), 0, self.bins - 1).astype(int)
        self.counts[np.arange(len(index)), index] += 1
        self.frames += 1
        if self._last_t is not None and timestamp > self._last_t:
            self.seen_seconds += min(timestamp - self._last_t, MAX_GAP_SECONDS)
        self._last_t = timestamp

    def percentile(self, q: float) -> np.ndarray:
        """The q-th percentile of each AU's values so far (lower bin edge convention: the
        smallest value v with at least q% of the values <= v)."""
        if self._cache is not None and self._cache[:2] == (self.frames, q):
            return self._cache[2]
        if self.frames == 0:
            return np.zeros(len(self.counts), np.float32)
        cumulative = np.cumsum(self.counts, axis=1)
        rank = max(1, int(np.ceil(q / 100.0 * self.frames)))
        values = (np.argmax(cumulative >= rank, axis=1) * self.bin_width).astype(np.float32)
        self._cache = (self.frames, q, values)
        return values


class Calibrator:
    """Removes each face's baseline from its intensities; occurrence follows (see module doc)."""

    def __init__(self, intensity_aus: list[str], occurrence_aus: list[str],
                 settings: CalibrationSettings | None = None) -> None:
        self.settings = settings or CalibrationSettings()
        self.intensity_aus = list(intensity_aus)
        self.occurrence_aus = list(occurrence_aus)
        self.calibrated_mask = np.array([au not in self.settings.pass_through for au in self.intensity_aus])
        # For each occurrence AU: the index of its intensity if it is calibrated, else -1.
        self._occurrence_from = np.array([
            self.intensity_aus.index(au) if au in self.intensity_aus and self.calibrated_mask[self.intensity_aus.index(au)]
            else -1 for au in self.occurrence_aus])
        self.faces: dict[int, FaceBaseline] = {}
        self.mode = "off"

    def _face(self, face_id: int) -> FaceBaseline:
        baseline = self.faces.get(face_id)
        if baseline is None:
            if self.mode == "live" and len(self.faces) >= MAX_FACES:  # offline needs every id to the end
                del self.faces[next(iter(self.faces))]
            baseline = self.faces[face_id] = FaceBaseline(len(self.intensity_aus), self.settings.bin_width)
        return baseline

    def baseline(self, face_id: int, live: bool = False) -> np.ndarray:
        """The values subtracted from this face's intensities (0 for pass-through AUs)."""
        face = self.faces.get(face_id)
        if face is None:
            return np.zeros(len(self.intensity_aus), np.float32)
        values = face.percentile(self.settings.percentile) * self.calibrated_mask
        if live:
            values = values * self.weight(face)
        return values.astype(np.float32)

    def weight(self, face: FaceBaseline) -> float:
        if self.settings.settle_seconds <= 0:
            return 1.0
        return min(1.0, face.seen_seconds / self.settings.settle_seconds)

    def settled(self, face_id: int) -> bool:
        face = self.faces.get(face_id)
        return face is not None and self.weight(face) >= 1.0

    def apply(self, face: FaceResult, baseline: np.ndarray, settled: bool) -> FaceResult:
        """A calibrated copy of ``face``: intensities minus the baseline, occurrence by the rule
        once the baseline has settled (before that, the model's own rule: with a baseline still
        weighted in from nothing, "calibrated intensity above zero" would fire for most AUs)."""
        intensity = np.clip(face.intensity - baseline, 0.0, 5.0).astype(np.float32)
        by_prob = face.occurrence_prob >= 0.5
        from_intensity = np.where(self._occurrence_from >= 0, intensity[np.maximum(self._occurrence_from, 0)], 0.0)
        occurrence = np.where((self._occurrence_from >= 0) & settled, from_intensity >= self.settings.occurrence_min,
                              by_prob)
        return replace(face, intensity=intensity, occurrence=occurrence.astype(np.uint8), calibrated=settled)

    # -- the two modes -------------------------------------------------------------------------

    def offline(self, results: Iterable[FrameResult]) -> Iterator[FrameResult]:
        """Whole-track calibration: read every result first (images are dropped to bound memory;
        :func:`with_images` puts them back for an overlay), then yield them calibrated."""
        self.mode, self.faces = "offline", {}
        held: list[FrameResult] = []
        for result in results:
            for face in result.faces:
                self._face(face.face.face_id).add(face.intensity, result.timestamp)
            result.image = None
            held.append(result)
        baselines = {face_id: self.baseline(face_id) for face_id in self.faces}
        for result in held:
            start = time.perf_counter()
            result.faces = [self.apply(f, baselines[f.face.face_id], True) for f in result.faces]
            result.timings["calibrate"] = time.perf_counter() - start
            yield result

    def live(self, results: Iterable[FrameResult]) -> Iterator[FrameResult]:
        """Running calibration: each result is calibrated with what was seen up to it."""
        self.mode, self.faces = "live", {}
        for result in results:
            start = time.perf_counter()
            faces = []
            for face in result.faces:
                face_id = face.face.face_id
                self._face(face_id).add(face.intensity, result.timestamp)
                faces.append(self.apply(face, self.baseline(face_id, live=True), self.settled(face_id)))
            result.faces = faces
            result.timings["calibrate"] = time.perf_counter() - start
            yield result

    def summary(self) -> dict:
        """What a sidecar file records: the method and each face id's baseline."""
        return {"calibrated": True, "mode": self.mode, **self.settings.describe(),
                "faces": {str(face_id): {"frames": face.frames, "seen_seconds": round(face.seen_seconds, 2),
                                         "settled": self.mode == "offline" or self.weight(face) >= 1.0,
                                         "baseline": {au: round(float(v), 2) for au, v in
                                                      zip(self.intensity_aus, self.baseline(face_id, self.mode == "live"))
                                                      if au not in self.settings.pass_through}}
                          for face_id, face in sorted(self.faces.items())}}


def write_sidecar(data_file: str | Path, calibrator: Calibrator) -> Path:
    """``<file>.calibration.json`` beside a CSV/JSONL: says the output is calibrated, and how."""
    path = Path(str(data_file) + ".calibration.json")
    path.write_text(json.dumps({"file": Path(data_file).name, **calibrator.summary()}, indent=1))
    return path


def until(requested: Callable[[], bool], frames: Iterable[Frame]) -> Iterator[Frame]:
    """The frames until ``requested()`` turns true: offline calibration yields nothing before the
    source ends, so Ctrl-C ends the source, and the frames read so far are calibrated and written."""
    for frame in frames:
        if requested():
            return
        yield frame


def with_images(results: Iterable[FrameResult], frames: Iterable[Frame]) -> Iterator[FrameResult]:
    """Give offline-calibrated results their images back from a second decode of the source."""
    frames = iter(frames)
    frame = next(frames, None)
    for result in results:
        while frame is not None and frame.index < result.frame_index:
            frame = next(frames, None)
        if frame is not None and frame.index == result.frame_index:
            result.image = frame.image
        yield result

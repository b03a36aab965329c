"""The streaming AU pipeline and its Python API, :class:`Analyzer`.

    source -> detect/track -> align -> batched inference -> smoothing -> [calibration] -> results

Decoding runs in its own thread, face tracking and alignment in another, inference and
smoothing in the caller's: on a 2-core machine the OpenCV and ONNX Runtime work overlaps, since
both release the GIL. Faces from up to ``batch_frames`` consecutive frames go to the engine in
one call (offline mode); live mode uses 1 so no frame waits for the next.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from auvid.frames import Face, FaceResult, Frame, FrameResult

if TYPE_CHECKING:  # annotations only: nothing heavy is imported at run time
    from engines.base import Engine

log = logging.getLogger(__name__)


@dataclass
class AnalyzerOptions:
    backend: str = "auto"
    model: str | None = None
    models_dir: str | None = None
    detect_width: int = 320
    detect_every: int = 15
    tracking: bool = True
    smooth: bool = True
    batch_frames: int = 8
    max_faces: int = 8
    min_face: int = 24
    threads: int | None = None
    landmarks: str = "yunet"
    #: Person calibration (auvid.stages.calibrate): None (off), "offline" (whole track per face id; results
    #: come after the source ends) or "live" (running estimate, rows marked until it settles).
    calibrate: str | None = None


@dataclass
class _Prepared:
    frame: Frame
    faces: list[Face]
    crops: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)


class Analyzer:
    """AU intensities and occurrences for every face in every frame of a source."""

    def __init__(self, options: AnalyzerOptions | None = None, engine: "Engine | None" = None) -> None:
        from auvid.io import model_files
        from auvid.stages.align import Aligner
        from auvid.stages.detect import YuNetDetector
        from auvid.stages.smooth import FaceSmoother
        from auvid.stages.track import Tracker

        self.options = options or AnalyzerOptions()
        if engine is None:
            from engines.select import open_engine

            engine = open_engine(self.options.backend, self.options.model, threads=self.options.threads)
        self.engine = engine
        detector_path = model_files.resolve(model_files.YUNET, self.options.models_dir)
        self.detector = YuNetDetector(detector_path, frame_width=self.options.detect_width)
        self.tracker = Tracker(self.detector, detect_every=self.options.detect_every, tracking=self.options.tracking)
        self.landmarker = None
        if self.options.landmarks == "fan":
            from auvid.stages.landmarks_fan import FanLandmarker

            self.landmarker = FanLandmarker()
        self.aligner = Aligner(engine.input_size)
        self.smoother = FaceSmoother(enabled=self.options.smooth)
        self.calibrator = None
        if self.options.calibrate:
            if self.options.calibrate not in ("offline", "live"):
                from auvid.errors import ConfigError

                raise ConfigError(f"calibrate={self.options.calibrate!r}: use 'offline', 'live' or None")
            from auvid.stages.calibrate import Calibrator

            self.calibrator = Calibrator(engine.intensity_aus, engine.occurrence_aus)
        self.frames_done = 0
        self.faces_done = 0

    @property
    def intensity_aus(self) -> list[str]:
        return self.engine.intensity_aus

    @property
    def occurrence_aus(self) -> list[str]:
        return self.engine.occurrence_aus

    def _prepare(self, frame: Frame) -> _Prepared:
        import cv2

        start = time.perf_counter()
        faces = self.tracker.update(frame.image, frame.timestamp)
        faces = [f for f in faces if min(f.box[2], f.box[3]) >= self.options.min_face][: self.options.max_faces]
        tracked = time.perf_counter()
        if faces:
            gray = cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY) if frame.image.ndim == 3 else frame.image
            if self.landmarker is not None:
                for face in faces:
                    face.landmarks = self.landmarker.five_points(frame.image, face.box, face.landmarks)
            crops = self.aligner.align_many(gray, [f.landmarks for f in faces])
        else:
            crops = np.zeros((0, self.aligner.size, self.aligner.size), np.uint8)
        aligned = time.perf_counter()
        timings = dict(frame.timings)
        timings["detect_track"] = tracked - start
        timings["align"] = aligned - tracked
        return _Prepared(frame, faces, crops, timings)

    def _prepared_stream(self, frames: Iterable[Frame], threaded: bool) -> Iterator[_Prepared]:
        stream = (self._prepare(f) for f in frames)
        if not threaded:
            yield from stream
            return
        from auvid.io.sources import Prefetch

        yield from Prefetch(stream, depth=4)

    def run(self, frames: Iterable[Frame], batch_frames: int | None = None, threaded: bool = True) -> Iterator[FrameResult]:
        """Results in frame order. ``frames`` is any iterable of :class:`Frame` (a source).

        With ``calibrate="offline"`` nothing is yielded until ``frames`` ends (a baseline needs
        the whole track), and the results carry no image (see :func:`auvid.stages.calibrate.with_images`)."""
        results = self._run(frames, batch_frames, threaded)
        if self.calibrator is None:
            yield from results
        elif self.options.calibrate == "offline":
            yield from self.calibrator.offline(results)
        else:
            yield from self.calibrator.live(results)

    def _run(self, frames: Iterable[Frame], batch_frames: int | None, threaded: bool) -> Iterator[FrameResult]:
        batch_frames = max(1, batch_frames or self.options.batch_frames)
        pending: list[_Prepared] = []
        for prepared in self._prepared_stream(frames, threaded):
            pending.append(prepared)
            if len(pending) >= batch_frames or sum(len(p.faces) for p in pending) >= 32:
                yield from self._finish(pending)
                pending = []
        if pending:
            yield from self._finish(pending)

    def _finish(self, batch: list[_Prepared]) -> Iterator[FrameResult]:
        counts = [len(p.faces) for p in batch]
        infer_seconds = 0.0
        if sum(counts):
            crops = np.concatenate([p.crops for p in batch if len(p.crops)])
            start = time.perf_counter()
            prob, intensity = self.engine.infer(crops[:, None])
            infer_seconds = time.perf_counter() - start
        offset = 0
        for prepared, count in zip(batch, counts):
            frame = prepared.frame
            timings = prepared.timings
            timings["infer"] = infer_seconds * count / max(sum(counts), 1)
            start = time.perf_counter()
            faces = []
            for i, face in enumerate(prepared.faces):
                smoothed_intensity, smoothed_prob = self.smoother(face.face_id, intensity[offset + i],
                                                                  prob[offset + i], frame.timestamp)
                faces.append(FaceResult(face, smoothed_intensity, smoothed_prob))
            offset += count
            timings["smooth"] = time.perf_counter() - start
            self.frames_done += 1
            self.faces_done += count
            yield FrameResult(frame.index, frame.timestamp, faces, timings, frame.captured_at, time.perf_counter(),
                              frame.image)

    def analyze_image(self, image: np.ndarray) -> FrameResult:
        """One still image (BGR): no tracking memory, no smoothing."""
        faces = self.detector.detect(image)
        frame = Frame(1, 0.0, image)
        import cv2

        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        crops = self.aligner.align_many(gray, [f.landmarks for f in faces])
        results = []
        if faces:
            prob, intensity = self.engine.infer(crops[:, None])
            for i, face in enumerate(faces):
                face.face_id = i
                results.append(FaceResult(face, intensity[i], prob[i]))
        return FrameResult(frame.index, 0.0, results, {})


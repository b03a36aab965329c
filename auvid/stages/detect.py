"""Face detection with OpenCV's YuNet (`cv2.FaceDetectorYN`): boxes, 5 landmarks and a score.

Two fixed-size detector instances avoid re-planning the network on every call: one sees the
whole frame downscaled to ``frame_width`` (finding new faces), one sees a small square region
around a face the tracker already follows (refreshing its landmarks cheaply every frame).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from auvid.frames import Face


class YuNetDetector:
    def __init__(self, model_path: str | Path, frame_width: int = 320, roi_size: int = 128,
                 score_threshold: float = 0.6, nms_threshold: float = 0.3) -> None:
        import cv2

        self._cv2 = cv2
        self.model_path = str(model_path)
        self.frame_width = frame_width
        self.roi_size = roi_size
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self._full = None
        self._full_size: tuple[int, int] | None = None
        self._roi = self._create((roi_size, roi_size))

    def _create(self, size: tuple[int, int]):
        # OpenCV 5's new DNN engine warns on every create that it ignores the compute target YuNet
        # sets; that says nothing a user can act on, so it is kept out of their log.
        logging = getattr(getattr(self._cv2, "utils", None), "logging", None)
        previous = logging.getLogLevel() if logging else None
        if logging and previous > logging.LOG_LEVEL_ERROR:
            logging.setLogLevel(logging.LOG_LEVEL_ERROR)
        try:
            return self._cv2.FaceDetectorYN.create(self.model_path, "", size, self.score_threshold,
                                                   self.nms_threshold, 50)
        finally:
            if logging and previous is not None:
                logging.setLogLevel(previous)

    def detect(self, image: np.ndarray) -> list[Face]:
        """All faces in a full frame (BGR), in frame coordinates."""
        height, width = image.shape[:2]
        scale = min(1.0, self.frame_width / width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        if self._full is None or self._full_size != size:
            self._full, self._full_size = self._create(size), size
        small = image if scale == 1.0 else self._cv2.resize(image, size, interpolation=self._cv2.INTER_AREA)
        _, rows = self._full.detect(small)
        return _faces(rows, 1.0 / scale, 0.0, 0.0)

    def detect_near(self, image: np.ndarray, box: np.ndarray, context: float = 2.0) -> list[Face]:
        """Faces inside a square region ``context`` times the size of ``box`` around its centre."""
        x, y, w, h = box
        side = max(w, h) * context
        cx, cy = x + w / 2, y + h / 2
        x0, y0 = cx - side / 2, cy - side / 2
        scale = self.roi_size / side
        # One affine warp crops, pads and resizes in a single pass.
        matrix = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], dtype=np.float32)
        roi = self._cv2.warpAffine(image, matrix, (self.roi_size, self.roi_size),
                                   flags=self._cv2.INTER_LINEAR, borderMode=self._cv2.BORDER_CONSTANT)
        _, rows = self._roi.detect(roi)
        return _faces(rows, 1.0 / scale, x0, y0)


def _faces(rows: np.ndarray | None, scale: float, dx: float, dy: float) -> list[Face]:
    if rows is None:
        return []
    faces = []
    for row in rows:
        box = row[:4].astype(np.float32) * scale + np.array([dx, dy, 0, 0], np.float32)
        points = row[4:14].reshape(5, 2).astype(np.float32) * scale + np.array([dx, dy], np.float32)
        faces.append(Face(box=box, landmarks=points, score=float(row[14])))
    return faces

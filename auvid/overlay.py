"""Drawing results on frames: boxes, face ids and AU bars; and a video sink that writes them."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from auvid.errors import OutputError
from auvid.frames import FrameResult

COLORS = [(66, 135, 245), (80, 200, 120), (245, 166, 35), (200, 80, 200), (60, 200, 230), (230, 90, 90)]


def draw(image: np.ndarray, result: FrameResult, intensity_aus: list[str], bar_aus: int = 17) -> np.ndarray:
    import cv2

    canvas = image.copy()
    for face in result.faces:
        color = COLORS[face.face.face_id % len(COLORS)]
        x, y, w, h = (int(round(v)) for v in face.face.box)
        cv2.rectangle(canvas, (x, y), (x + w, y + h), color, 2)
        cv2.putText(canvas, f"id {face.face.face_id}", (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1,
                    cv2.LINE_AA)
        for point in face.face.landmarks:
            cv2.circle(canvas, (int(point[0]), int(point[1])), 2, color, -1)
        # AU bars to the right of the box (or left if no room).
        bar_w, row_h = 60, 11
        left = x + w + 6 if x + w + 6 + bar_w + 34 < canvas.shape[1] else max(0, x - bar_w - 40)
        for i, (au, value) in enumerate(list(zip(intensity_aus, face.intensity))[:bar_aus]):
            top = y + i * row_h
            if top + row_h > canvas.shape[0]:
                break
            cv2.putText(canvas, au[2:], (left, top + 9), cv2.FONT_HERSHEY_PLAIN, 0.7, (255, 255, 255), 1, cv2.LINE_AA)
            cv2.rectangle(canvas, (left + 18, top + 2), (left + 18 + bar_w, top + 9), (60, 60, 60), -1)
            filled = int(bar_w * min(1.0, max(0.0, float(value) / 5.0)))
            cv2.rectangle(canvas, (left + 18, top + 2), (left + 18 + filled, top + 9), color, -1)
    cv2.putText(canvas, f"frame {result.frame_index}  t={result.timestamp:.2f}s", (6, canvas.shape[0] - 8),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas


class OverlaySink:
    """Writes the analysed video (H.264 via PyAV where available, else MPEG-4) frame by frame."""

    def __init__(self, path: str | Path, fps: float, intensity_aus: list[str]) -> None:
        import av

        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial" + (self.path.suffix or ".mp4"))
        self.fps = fps
        self.intensity_aus = intensity_aus
        try:
            self._container = av.open(str(self.partial), mode="w")
        except (av.FFmpegError, OSError) as exc:
            raise OutputError(f"{self.path}: cannot write a video here ({exc})") from None
        self._stream = None
        self._av = av
        self.rows = 0

    def write(self, result: FrameResult, image: np.ndarray | None = None) -> None:
        image = image if image is not None else getattr(result, "image", None)
        if image is None:
            return
        if self._stream is None:
            from fractions import Fraction

            rate = Fraction(self.fps).limit_denominator(1001)
            codec = "libx264" if "libx264" in self._av.codecs_available else "mpeg4"
            self._stream = self._container.add_stream(codec, rate=rate)
            self._stream.width = image.shape[1] // 2 * 2
            self._stream.height = image.shape[0] // 2 * 2
            self._stream.pix_fmt = "yuv420p"
        canvas = draw(image, result, self.intensity_aus)[: self._stream.height, : self._stream.width]
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(canvas), format="bgr24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.rows += 1

    def close(self, complete: bool = True) -> Path:
        import os

        if self._stream is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
        self._container.close()
        if complete:
            os.replace(self.partial, self.path)
            return self.path
        return self.partial

"""Drawing results on frames: boxes, face ids and AU bars; and a video sink that writes them."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from auvid.errors import OutputError
from auvid.frames import FrameResult

COLORS = [(66, 135, 245), (80, 200, 120), (245, 166, 35), (200, 80, 200), (60, 200, 230), (230, 90, 90)]


PANEL_ROW_H, PANEL_BAR_W, PANEL_LABEL_W = 11, 60, 20


def draw(image: np.ndarray, result: FrameResult, intensity_aus: list[str], bar_aus: int = 17) -> np.ndarray:
    import cv2

    canvas = image.copy()
    boxes = [tuple(int(round(v)) for v in face.face.box) for face in result.faces]
    placed: list[tuple[int, int, int, int]] = []
    rows = min(bar_aus, len(intensity_aus))
    panel_size = (PANEL_LABEL_W + PANEL_BAR_W + 4, rows * PANEL_ROW_H + 4)
    for face, (x, y, w, h) in zip(result.faces, boxes):
        color = COLORS[face.face.face_id % len(COLORS)]
        cv2.rectangle(canvas, (x, y), (x + w, y + h), color, 2)
        cv2.putText(canvas, f"id {face.face.face_id}", (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1,
                    cv2.LINE_AA)
        for point in face.face.landmarks:
            cv2.circle(canvas, (int(point[0]), int(point[1])), 2, color, -1)
        panel = place_panel((x, y, w, h), panel_size, placed, boxes, canvas.shape[:2])
        placed.append(panel)
        _draw_bars(canvas, panel, list(zip(intensity_aus, face.intensity))[:rows], color)
    footer = f"frame {result.frame_index}  t={result.timestamp:.2f}s"
    (text_w, text_h), _ = cv2.getTextSize(footer, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
    cv2.rectangle(canvas, (0, canvas.shape[0] - text_h - 14), (text_w + 12, canvas.shape[0]), (25, 25, 25), -1)
    cv2.putText(canvas, footer, (6, canvas.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1,
                cv2.LINE_AA)
    return canvas


def place_panel(box: tuple[int, int, int, int], size: tuple[int, int], placed: list[tuple[int, int, int, int]],
                boxes: list[tuple[int, int, int, int]], frame: tuple[int, int]) -> tuple[int, int, int, int]:
    """Where a face's AU panel goes: beside its box (right, left, below, above), clamped into the
    frame, at the candidate that covers the least of the panels already drawn and the other faces."""
    x, y, w, h = box
    pw, ph = size
    height, width = frame
    candidates = [(x + w + 6, y), (x - pw - 6, y), (x, y + h + 6), (x, y - ph - 6)]
    best, best_cost = None, None
    for order, (left, top) in enumerate(candidates):
        left = min(max(0, left), max(0, width - pw))
        top = min(max(0, top), max(0, height - ph))
        rect = (left, top, pw, ph)
        cost = sum(_overlap(rect, other) for other in placed) * 4 + sum(
            _overlap(rect, other) for other in boxes) + _overlap(rect, box) * 2 + order  # order: ties keep the right
        if best_cost is None or cost < best_cost:
            best, best_cost = rect, cost
    return best


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> int:
    dx = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    dy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(0, dx) * max(0, dy)


def _draw_bars(canvas: np.ndarray, panel: tuple[int, int, int, int], values: list, color: tuple[int, int, int]) -> None:
    """AU labels and bars on an opaque dark panel, readable on any background."""
    import cv2

    left, top, pw, ph = panel
    cv2.rectangle(canvas, (left, top), (left + pw - 1, top + ph - 1), (25, 25, 25), -1)
    for i, (au, value) in enumerate(values):
        row_top = top + 2 + i * PANEL_ROW_H
        cv2.putText(canvas, au[2:], (left + 2, row_top + 9), cv2.FONT_HERSHEY_PLAIN, 0.7, (235, 235, 235), 1,
                    cv2.LINE_AA)
        bar_left = left + PANEL_LABEL_W
        cv2.rectangle(canvas, (bar_left, row_top + 2), (bar_left + PANEL_BAR_W, row_top + 9), (70, 70, 70), -1)
        filled = int(PANEL_BAR_W * min(1.0, max(0.0, float(value) / 5.0)))
        if filled:
            cv2.rectangle(canvas, (bar_left, row_top + 2), (bar_left + filled, row_top + 9), color, -1)


class OverlaySink:
    """Writes the analysed video (H.264 via PyAV where available, else MPEG-4) frame by frame."""

    def __init__(self, path: str | Path, fps: float, intensity_aus: list[str]) -> None:
        from auvid.io.gui import import_av

        av = import_av()

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

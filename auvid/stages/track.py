"""Face tracking: stable face ids across frames, with full-frame detection only when needed.

Each followed face is refreshed every frame by a cheap detection in a small region around its
last box (which also gives fresh landmarks for alignment). The whole frame is searched only every
``detect_every`` frames, or as soon as a face is lost, to pick up faces that entered. A lost
face stays dormant for ``reid_seconds``; a face found near where it vanished gets its id back, as
does the only new face when exactly one face vanished within that time, so a person who turns
away or moves behind someone for a moment keeps one trace.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auvid.frames import Face


@dataclass
class _Track:
    face_id: int
    face: Face
    last_seen: float
    active: bool = True


def iou(a: np.ndarray, b: np.ndarray) -> float:
    ax1, ay1, aw, ah = a
    bx1, by1, bw, bh = b
    ix = max(0.0, min(ax1 + aw, bx1 + bw) - max(ax1, bx1))
    iy = max(0.0, min(ay1 + ah, by1 + bh) - max(ay1, by1))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return float(inter / union) if union > 0 else 0.0


class Tracker:
    def __init__(self, detector, detect_every: int = 15, reid_seconds: float = 2.0,
                 match_iou: float = 0.3, tracking: bool = True) -> None:
        self.detector = detector
        self.detect_every = max(1, detect_every)
        self.reid_seconds = reid_seconds
        self.match_iou = match_iou
        self.tracking = tracking
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._since_full = 0
        self.full_detections = 0

    def update(self, image: np.ndarray, timestamp: float) -> list[Face]:
        """Faces in this frame, each with its stable ``face_id``."""
        active = [t for t in self._tracks if t.active]
        need_full = (not self.tracking or not active or self._since_full + 1 >= self.detect_every)
        lost = False
        if self.tracking:
            for track in active:
                found = self._refresh(image, track)
                if found is None:
                    track.active = False
                    lost = True
                else:
                    track.face, track.last_seen = found, timestamp
        if need_full or lost:
            self._full_detection(image, timestamp)
            self._since_full = 0
        else:
            self._since_full += 1
        self._forget(timestamp)
        faces = []
        for track in sorted((t for t in self._tracks if t.active), key=lambda t: t.face_id):
            track.face.face_id = track.face_id
            faces.append(track.face)
        return faces

    def _refresh(self, image: np.ndarray, track: _Track) -> Face | None:
        candidates = self.detector.detect_near(image, track.face.box)
        best, best_iou = None, self.match_iou
        for face in candidates:
            overlap = iou(face.box, track.face.box)
            if overlap > best_iou:
                best, best_iou = face, overlap
        return best

    def _full_detection(self, image: np.ndarray, timestamp: float) -> None:
        self.full_detections += 1
        detections = self.detector.detect(image)
        active = [t for t in self._tracks if t.active]
        claimed: set[int] = set()
        # Greedy IoU matching of detections to faces already followed in this frame.
        pairs = sorted(((iou(d.box, t.face.box), i, j) for i, d in enumerate(detections)
                        for j, t in enumerate(active)), reverse=True)
        used_tracks: set[int] = set()
        for overlap, i, j in pairs:
            if overlap < self.match_iou or i in claimed or j in used_tracks:
                continue
            claimed.add(i)
            used_tracks.add(j)
            if not self.tracking:
                active[j].face, active[j].last_seen = detections[i], timestamp
        if not self.tracking:
            for j, track in enumerate(active):
                if j not in used_tracks:
                    track.active = False
        fresh = [d for i, d in enumerate(detections) if i not in claimed
                 and not any(iou(d.box, t.face.box) > self.match_iou for t in self._tracks if t.active)]
        for detection in fresh:
            track = self._dormant_near(detection)
            if track is None and len(fresh) == 1:
                # Continuity by elimination: one face vanished moments ago and one new face
                # appeared, wherever it is (a person who stood up or walked behind someone).
                dormant = [t for t in self._tracks if not t.active]
                if len(dormant) == 1:
                    track = dormant[0]
            if track is None:
                track = _Track(self._next_id, detection, timestamp)
                self._next_id += 1
                self._tracks.append(track)
            track.face, track.last_seen, track.active = detection, timestamp, True

    def _dormant_near(self, face: Face) -> _Track | None:
        cx, cy = face.box[0] + face.box[2] / 2, face.box[1] + face.box[3] / 2
        best, best_distance = None, 0.75
        for track in self._tracks:
            if track.active:
                continue
            bx, by, bw, bh = track.face.box
            distance = np.hypot(cx - (bx + bw / 2), cy - (by + bh / 2)) / max(bw, bh, 1.0)
            if distance < best_distance:
                best, best_distance = track, distance
        return best

    def _forget(self, timestamp: float) -> None:
        self._tracks = [t for t in self._tracks if t.active or timestamp - t.last_seen <= self.reid_seconds]

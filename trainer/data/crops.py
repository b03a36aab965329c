"""Face crops for training, made by auvid's own detector, tracker and aligner.

Training and inference must see the same crops, so the crops come from the runtime code path
(YuNet + the tracker's region refresh + the similarity aligner), never from the teacher's
landmarks. The teacher's landmarks only say *which* detected face a label row belongs to. Crops
are cached once per clip as ``.npz`` so epochs never re-decode video.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auvid.stages.align import Aligner
from auvid.aus import INTENSITY_AUS, OCCURRENCE_AUS
from auvid.stages.detect import YuNetDetector
from auvid.io.sources import VideoFileSource, to_gray
from auvid.stages.track import Tracker, iou
from trainer.data.openface_csv import read_openface_csv

log = logging.getLogger(__name__)

CROP_VERSION = 1  # bump when the detector/aligner path changes, to invalidate caches


_ARRAYS = ("crops", "intensity", "occurrence", "group", "source", "key")


@dataclass
class CropSet:
    """Aligned crops and their labels. Missing labels are NaN (intensity) or -1 (occurrence).

    The label columns follow ``intensity_aus`` / ``occurrence_aus``: OpenFace's sets for the
    teacher's data, the data set's own for a benchmark (BP4D's 12 with AU24, DISFA's 8, ...), so a
    model's AU set is whatever its data defines."""

    crops: np.ndarray  # (n, size, size) uint8 grey
    intensity: np.ndarray  # (n, len(intensity_aus)) float32
    occurrence: np.ndarray  # (n, len(occurrence_aus)) int8
    group: np.ndarray  # (n,) identity / subject string
    source: np.ndarray  # (n,) clip or image-set name
    key: np.ndarray  # (n,) frame number or image path
    intensity_aus: tuple[str, ...] = INTENSITY_AUS
    occurrence_aus: tuple[str, ...] = OCCURRENCE_AUS

    def __len__(self) -> int:
        return len(self.crops)

    def subset(self, mask: np.ndarray) -> "CropSet":
        return CropSet(*(getattr(self, f)[mask] for f in _ARRAYS), self.intensity_aus, self.occurrence_aus)

    def relabel(self, intensity_aus: tuple[str, ...], occurrence_aus: tuple[str, ...]) -> "CropSet":
        """The same crops with label columns for other AU lists: an AU this set lacks is unknown."""
        intensity = np.full((len(self), len(intensity_aus)), np.nan, np.float32)
        occurrence = np.full((len(self), len(occurrence_aus)), -1, np.int8)
        for j, au in enumerate(intensity_aus):
            if au in self.intensity_aus:
                intensity[:, j] = self.intensity[:, self.intensity_aus.index(au)]
        for j, au in enumerate(occurrence_aus):
            if au in self.occurrence_aus:
                occurrence[:, j] = self.occurrence[:, self.occurrence_aus.index(au)]
        return CropSet(self.crops, intensity, occurrence, self.group, self.source, self.key,
                       tuple(intensity_aus), tuple(occurrence_aus))

    def unlabelled(self) -> "CropSet":
        """The same crops with every label unknown (for the unlabelled pool)."""
        return CropSet(self.crops, np.full_like(self.intensity, np.nan), np.full_like(self.occurrence, -1),
                       self.group, self.source, self.key, self.intensity_aus, self.occurrence_aus)

    @staticmethod
    def concat(sets: list["CropSet"]) -> "CropSet":
        """One set; label columns follow the first set's AU lists (the others are relabelled)."""
        sets = [s for s in sets if len(s)]
        if not sets:
            raise ValueError("no crops")
        first = sets[0]
        sets = [s if (s.intensity_aus, s.occurrence_aus) == (first.intensity_aus, first.occurrence_aus)
                else s.relabel(first.intensity_aus, first.occurrence_aus) for s in sets]
        return CropSet(*(np.concatenate([getattr(s, f) for s in sets]) for f in _ARRAYS),
                       first.intensity_aus, first.occurrence_aus)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **{f: getattr(self, f) for f in _ARRAYS},
                 intensity_aus=np.array(self.intensity_aus, dtype="U8"),
                 occurrence_aus=np.array(self.occurrence_aus, dtype="U8"))
        tmp.replace(path)

    @staticmethod
    def load(path: Path) -> "CropSet":
        with np.load(path, allow_pickle=False) as data:
            aus = [tuple(data[f].tolist()) if f in data.files else default
                   for f, default in (("intensity_aus", INTENSITY_AUS), ("occurrence_aus", OCCURRENCE_AUS))]
            return CropSet(*(data[f] for f in _ARRAYS), *aus)


def _cache_name(kind: str, name: str, size: int, extra: str) -> str:
    digest = hashlib.sha1(json.dumps([CROP_VERSION, kind, name, size, extra]).encode()).hexdigest()[:10]
    return f"{kind}-{name}-{size}-{digest}.npz"


def video_crops(video: Path, labels_csv: Path, group: str, detector_path: Path, cache: Path,
                size: int = 112, min_confidence: float = 0.75, every: int = 1) -> CropSet:
    """Crops of the teacher-labelled face in each frame of ``video`` (cached)."""
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / _cache_name("video", video.stem, size, f"{labels_csv.name}:{min_confidence}:{every}")
    if target.exists():
        return CropSet.load(target)
    teacher = read_openface_csv(labels_csv)
    valid = teacher.valid(min_confidence)
    by_frame = {int(float(k)): i for i, k in enumerate(teacher.keys) if valid[i]}
    tracker = Tracker(YuNetDetector(detector_path), detect_every=10)
    aligner = Aligner(size)
    crops, rows, keys = [], [], []
    for frame in VideoFileSource(video):
        faces = tracker.update(frame.image, frame.timestamp)
        row = by_frame.get(frame.index)
        if row is None or not faces or (frame.index - 1) % every:
            continue
        points = teacher.landmarks[row]
        teacher_box = np.array([*points.min(0), *(points.max(0) - points.min(0))], np.float32)
        best = max(faces, key=lambda f: iou(f.box, teacher_box))
        if iou(best.box, teacher_box) < 0.3:
            continue
        crops.append(aligner.align(to_gray(frame.image), best.landmarks))
        rows.append(row)
        keys.append(str(frame.index))
    n = len(rows)
    result = CropSet(
        crops=np.stack(crops) if crops else np.zeros((0, size, size), np.uint8),
        intensity=teacher.intensity[rows] if n else np.zeros((0, 17), np.float32),
        occurrence=teacher.occurrence[rows] if n else np.zeros((0, 18), np.int8),
        group=np.array([group] * n, dtype="U64"),
        source=np.array([video.stem] * n, dtype="U64"),
        key=np.array(keys, dtype="U64"),
    )
    result.save(target)
    log.info("%s: %d labelled crops", video.name, n)
    return result


def image_crops(root: Path, files: list[str], detector_path: Path, cache: Path, name: str,
                size: int = 112, upscale: int = 4, labels: dict[str, int] | None = None,
                teacher=None) -> CropSet:
    """Crops of the most confident face in each image under ``root`` (cached).

    Small images (FER2013's 48x48) are upscaled first, as the teacher's labels were made.
    ``teacher``/``labels`` map a file to its teacher row; files without one are unlabelled.
    """
    import cv2

    cache.mkdir(parents=True, exist_ok=True)
    target = cache / _cache_name("images", name, size, f"{len(files)}:{upscale}:{hashlib.sha1('|'.join(files).encode()).hexdigest()}")
    if target.exists():
        return CropSet.load(target)
    detector = YuNetDetector(detector_path, frame_width=10_000)
    aligner = Aligner(size)
    crops, intensity, occurrence, keys = [], [], [], []
    for file in files:
        image = cv2.imread(str(root / file), cv2.IMREAD_COLOR)
        if image is None:
            continue
        if upscale > 1:
            image = cv2.resize(image, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
        faces = detector.detect(image)
        if not faces:
            continue
        best = max(faces, key=lambda f: f.score)
        crops.append(aligner.align(to_gray(image), best.landmarks))
        row = labels.get(file) if labels else None
        if row is not None and teacher is not None:
            intensity.append(teacher.intensity[row])
            occurrence.append(teacher.occurrence[row])
        else:
            intensity.append(np.full(17, np.nan, np.float32))
            occurrence.append(np.full(18, -1, np.int8))
        keys.append(file)
    n = len(crops)
    result = CropSet(
        crops=np.stack(crops) if n else np.zeros((0, size, size), np.uint8),
        intensity=np.array(intensity, np.float32).reshape(n, 17),
        occurrence=np.array(occurrence, np.int8).reshape(n, 18),
        group=np.array([name] * n, dtype="U64"),
        source=np.array([name] * n, dtype="U64"),
        key=np.array(keys, dtype="U300"),
    )
    result.save(target)
    log.info("%s: %d crops from %d images", name, n, len(files))
    return result


def frame_crops(video: Path, frames: list[int], detector_path: Path, cache: Path, name: str,
                size: int = 112) -> CropSet:
    """Crops of the largest face in the listed frames (numbered from 1) of ``video`` (cached).

    For data sets labelled per frame of a one-person video (DISFA's left camera): the whole video
    runs through the tracker, as at inference, and a labelled frame keeps its largest face."""
    cache.mkdir(parents=True, exist_ok=True)
    wanted = set(int(f) for f in frames)
    digest = hashlib.sha1(json.dumps(sorted(wanted)).encode()).hexdigest()
    target = cache / _cache_name("frames", name, size, f"{video.stat().st_size}:{digest}")
    if target.exists():
        return CropSet.load(target)
    tracker = Tracker(YuNetDetector(detector_path), detect_every=10)
    aligner = Aligner(size)
    last = max(wanted) if wanted else 0
    crops, keys = [], []
    for frame in VideoFileSource(video):
        if frame.index > last:
            break
        faces = tracker.update(frame.image, frame.timestamp)
        if frame.index not in wanted or not faces:
            continue
        best = max(faces, key=lambda f: float(f.box[2] * f.box[3]))
        crops.append(aligner.align(to_gray(frame.image), best.landmarks))
        keys.append(str(frame.index))
    n = len(crops)
    result = CropSet(
        crops=np.stack(crops) if n else np.zeros((0, size, size), np.uint8),
        intensity=np.full((n, len(INTENSITY_AUS)), np.nan, np.float32),
        occurrence=np.full((n, len(OCCURRENCE_AUS)), -1, np.int8),
        group=np.array([name] * n, dtype="U64"),
        source=np.array([name] * n, dtype="U64"),
        key=np.array(keys, dtype="U64"),
    )
    result.save(target)
    log.info("%s: %d crops of %d labelled frames", video.name, n, len(wanted))
    return result

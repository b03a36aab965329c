"""The shared data set (``../shared/data``): teacher-labelled clips and FER2013, as crop sets."""
from __future__ import annotations

import logging
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from trainer.data.crops import CropSet, image_crops, video_crops
from trainer.data.people import person_of, read_people
from trainer.data.openface_csv import read_openface_csv

log = logging.getLogger(__name__)

DETECTOR_NAME = "face_detection_yunet_2023mar.onnx"


def labelled_clips(data_root: Path, teacher: str = "static") -> list[tuple[Path, Path]]:
    """(video, teacher csv) pairs for every clip that has ``<clip>.<teacher>.csv``."""
    pairs = []
    for csv_path in sorted((data_root / "labels" / "openface").glob(f"*.{teacher}.csv")):
        clip = csv_path.name[: -len(f".{teacher}.csv")]
        videos = [v for v in (data_root / "videos").glob(f"{clip}.*")]
        if videos:
            pairs.append((videos[0], csv_path))
    return pairs


def _video_job(args) -> CropSet:
    video, csv_path, detector, cache, size, min_conf, every = args
    # videos/<clip>.* lies in the data root, whose people.csv names the clip's person
    people = read_people(video.parent.parent)
    return video_crops(video, csv_path, person_of(video.stem, people), detector, cache, size, min_conf, every)


def _image_job(args) -> CropSet:
    return image_crops(*args[:5], size=args[5], labels=args[6], teacher=args[7])


def build_video_sets(data_root: Path, cache: Path, size: int = 112, teacher: str = "static",
                     min_confidence: float = 0.75, every: int = 1, workers: int = 2,
                     clips: list[str] | None = None) -> CropSet:
    detector = data_root / "models" / DETECTOR_NAME
    jobs = [(v, c, detector, cache, size, min_confidence, every)
            for v, c in labelled_clips(data_root, teacher) if clips is None or v.stem in clips]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        sets = list(pool.map(_video_job, jobs))
    return CropSet.concat(sets)


def build_fer_set(data_root: Path, cache: Path, size: int = 112, splits=("train", "validation", "test"),
                  workers: int = 2, limit: int | None = None) -> CropSet:
    """FER2013 crops: teacher-labelled where OpenFace succeeded, unlabelled otherwise."""
    root = data_root / "faces" / "fer2013"
    files = sorted(str(p.relative_to(root)) for split in splits for p in (root / split).rglob("*.jpg"))
    if limit:
        files = files[:: max(1, len(files) // limit)][:limit]
    teacher_csv = data_root / "labels" / "openface" / "fer2013.static.csv"
    teacher = read_openface_csv(teacher_csv)
    valid = teacher.valid()
    labels = {k: i for i, k in enumerate(teacher.keys) if valid[i]}
    detector = data_root / "models" / DETECTOR_NAME
    chunks = np.array_split(np.array(files, dtype=object), max(1, workers * 4))
    jobs = [(root, list(chunk), detector, cache, f"fer2013_{i}", size, labels, teacher)
            for i, chunk in enumerate(chunks) if len(chunk)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        sets = list(pool.map(_image_job, jobs))
    result = CropSet.concat(sets)
    result.group[:] = "fer2013"
    result.source[:] = "fer2013"
    return result

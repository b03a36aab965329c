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
    video, csv_path, detector, cache, size, min_conf, every, teacher = args
    # videos/<clip>.* lies in the data root, whose people.csv names the clip's person
    people = read_people(video.parent.parent)
    crops = video_crops(video, csv_path, person_of(video.stem, people), detector, cache, size, min_conf, every)
    if teacher == "static":
        return crops
    return with_labels_of(crops, csv_path.with_name(csv_path.name.replace(".static.csv", f".{teacher}.csv")))


def with_labels_of(crops: CropSet, labels_csv: Path) -> CropSet:
    """The faces found with the static run's landmarks, labelled by another run of the teacher on
    the same clip (``<clip>.dynamic.csv``: the person-calibrated output), frame by frame; a frame
    that run did not track is dropped. The crops, the costly part, are the static set's cache."""
    teacher = read_openface_csv(labels_csv)
    valid = teacher.valid()
    row_of = {int(float(k)): i for i, k in enumerate(teacher.keys) if valid[i]}
    rows = [row_of.get(int(k), -1) for k in crops.key]
    keep = np.array([r >= 0 for r in rows], bool)
    found = np.array([r for r in rows if r >= 0], int)
    kept = crops.subset(keep)
    kept.intensity = teacher.intensity[found]
    kept.occurrence = teacher.occurrence[found]
    return kept


def _image_job(args) -> CropSet:
    return image_crops(*args[:5], size=args[5], labels=args[6], teacher=args[7])


def build_video_sets(data_root: Path, cache: Path, size: int = 112, teacher: str = "static",
                     min_confidence: float = 0.75, every: int = 1, workers: int = 2,
                     clips: list[str] | None = None) -> CropSet:
    detector = data_root / "models" / DETECTOR_NAME
    # Faces are always found and cropped from the static run's landmarks (one crop cache); another
    # teacher run only relabels them.
    jobs = [(v, c, detector, cache, size, min_confidence, every, teacher)
            for v, c in labelled_clips(data_root, "static") if clips is None or v.stem in clips]
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

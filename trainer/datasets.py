"""Assembling the training and validation sets a config asks for, split by person."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainer.data.crops import CropSet
from trainer.data.identities import identity_of

log = logging.getLogger(__name__)


@dataclass
class TrainingData:
    train: CropSet  # labelled (occurrence and/or intensity)
    val: CropSet  # labelled, identities never seen in train
    unlabelled: CropSet | None
    description: dict


def resolve(path: str | Path, base: Path) -> Path:
    path = Path(path)
    return path if path.is_absolute() else (base / path).resolve()


def build(config: dict, base: Path) -> TrainingData:
    from trainer.data import shared
    from trainer.data.manifest import manifest_crops
    from trainer.data.crops import image_crops

    data = config["data"]
    root = resolve(data["root"], base)
    cache = resolve(data["cache"], base)
    if not (root / "videos").is_dir():
        from auvid.errors import ConfigError

        raise ConfigError(f"data.root {root} does not hold the shared data (videos/, labels/)")
    videos = shared.build_video_sets(root, cache, teacher=data["teacher"], min_confidence=data["min_confidence"],
                                     every=data["frame_step"], clips=data["clips"])
    videos.group = np.array([identity_of(s) for s in videos.source], dtype="U64")
    held_out = np.isin(videos.group, list(data["val_identities"]))
    if data["protocol"]:
        from trainer.data.protocols import fold_split

        held_out = fold_split(videos.group, **data["protocol"])
    train_sets = [videos.subset(~held_out)]
    val = videos.subset(held_out)
    unlabelled_sets = []
    if data["fer"]:
        fer = shared.build_fer_set(root, cache, limit=data["fer_limit"])
        labelled = fer.occurrence[:, 0] >= 0
        train_sets.append(fer.subset(labelled))
        unlabelled_sets.append(fer.subset(~labelled))
    detector = root / "models" / shared.DETECTOR_NAME
    for manifest in data["manifests"]:
        train_sets.append(manifest_crops(resolve(manifest, base), detector, cache))
    for folder in data["unlabelled_folders"]:
        folder = resolve(folder, base)
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.suffix.lower() in {".jpg", ".png", ".jpeg"})
        unlabelled_sets.append(image_crops(folder, files, detector, cache, folder.name, upscale=1))
    train = CropSet.concat(train_sets)
    unlabelled = CropSet.concat(unlabelled_sets) if unlabelled_sets else None
    overlap = set(np.unique(train.group)) & set(np.unique(val.group))
    if overlap:
        raise ValueError(f"identities on both sides of the split: {sorted(overlap)}")
    description = {
        "train_faces": int(len(train)),
        "val_faces": int(len(val)),
        "unlabelled_faces": int(len(unlabelled)) if unlabelled is not None else 0,
        "train_identities": sorted(set(np.unique(train.group).tolist())),
        "val_identities": sorted(set(np.unique(val.group).tolist())),
        "train_sources": sorted(set(np.unique(train.source).tolist())),
        "val_sources": sorted(set(np.unique(val.source).tolist())),
        "teacher": f"OpenFace 2.0.6 {data['teacher']} AU models",
    }
    log.info("train %d faces, val %d faces (%d identities), unlabelled %d", len(train), len(val),
             len(description["val_identities"]), description["unlabelled_faces"])
    return TrainingData(train, val, unlabelled, description)

"""Assembling the training and validation sets a config asks for, split by person."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainer.data.crops import CropSet
from trainer.data.people import person_of, read_people

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


def protocol_crops(protocol: dict, base: Path, cache: Path, shared_root: Path) -> CropSet:
    """Crops of a BP4D/DISFA tree grouped by subject (for the fold split), or of EmotioNet
    images grouped by the challenge's split."""
    from trainer.data import protocols, shared
    from trainer.data.manifest import manifest_crops

    dataset = str(protocol.get("dataset", "")).lower()
    root = resolve(protocol["root"], base)
    from auvid.errors import ConfigError

    if dataset == "emotionet":
        rows = protocols.emotionet_rows(root, [resolve(p, base) for p in _as_list(protocol.get("labels"))],
                                        [resolve(p, base) for p in _as_list(protocol.get("val_labels"))])
    elif dataset in ("bp4d", "disfa"):
        rows = protocols.bp4d_rows(root) if dataset == "bp4d" else protocols.disfa_rows(root)
    else:
        raise ConfigError(f"unknown protocol dataset {dataset!r} (bp4d, disfa, emotionet)")
    if not rows:
        raise ConfigError(f"{root}: no labelled image of this layout was found")
    cache.mkdir(parents=True, exist_ok=True)
    manifest = protocols.write_manifest(rows, cache / f"{dataset}-{root.name}-manifest.csv")
    crops = manifest_crops(manifest, shared_root / "models" / shared.DETECTOR_NAME, cache, image_root=root)
    subject = {r["image"]: r["subject"] for r in rows}
    crops.group = np.array([subject[k] for k in crops.key], dtype="U64")
    return crops


def _as_list(value) -> list:
    return [] if value is None else list(value) if isinstance(value, (list, tuple)) else [value]


def _protocol_fold(groups: np.ndarray, protocol: dict) -> np.ndarray:
    from trainer.data.protocols import fold_split

    if str(protocol.get("dataset", "")).lower() == "emotionet":
        return groups == "emotionet-val"
    return fold_split(groups, protocol["dataset"], int(protocol["fold"]))


def _test_people(root: Path) -> list[str]:
    """The shared data's test people (trainer/configs/splits.yaml): never trained or validated on,
    so the figures published on them stay held out whatever a config says."""
    from trainer.data.people import group_people

    return group_people("test") if (root / "people.csv").is_file() else []


def _validation_people(data: dict) -> list[str]:
    if data.get("val_group"):
        from trainer.data.people import group_people

        if data["val_group"] != "validation":
            from auvid.errors import ConfigError

            raise ConfigError(f"data.val_group={data['val_group']!r}: only 'validation' may steer training")
        return group_people("validation")
    return list(data["val_identities"])


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
    if data["protocol"]:
        labelled = protocol_crops(data["protocol"], base, cache, root)
        held_out = _protocol_fold(labelled.group, data["protocol"])
    else:
        labelled = shared.build_video_sets(root, cache, teacher=data["teacher"], min_confidence=data["min_confidence"],
                                           every=data["frame_step"], clips=data["clips"])
        people = read_people(root)
        labelled.group = np.array([person_of(s, people) for s in labelled.source], dtype="U64")
        labelled = labelled.subset(~np.isin(labelled.group, _test_people(root)))
        held_out = np.isin(labelled.group, _validation_people(data))
    labelled_groups = labelled.group
    train_sets = [labelled.subset(~held_out)]
    val = labelled.subset(held_out)
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
    from auvid.errors import ConfigError

    if not data["protocol"]:
        unknown = set(_validation_people(data)) - set(np.unique(labelled_groups).tolist())
        if unknown:
            raise ConfigError(f"data.val_identities names people not in the selected clips: {', '.join(sorted(unknown))}")
    if len(val) == 0:
        raise ConfigError("the validation split is empty: set data.val_identities (or a protocol fold)")
    train = CropSet.concat(train_sets)
    if len(train) == 0:
        raise ConfigError("the training split is empty: every labelled face is in the validation split")
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

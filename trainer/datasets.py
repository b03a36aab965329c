"""Assembling the training and validation sets a config asks for, split by person."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainer.data.crops import CropSet
from trainer.data.people import person_of, read_people

log = logging.getLogger(__name__)

PROTOCOL_KEYS = {"dataset", "root", "fold", "labelled_fraction", "seed", "aus", "labels", "val_labels"}


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
    """Crops of a benchmark in its released layout (BP4D, DISFA, EmotioNet), labelled with the
    data set's own AU lists and grouped by subject (for the fold split)."""
    from auvid.errors import ConfigError
    from trainer.data import protocols, shared
    from trainer.data.crops import frame_crops, image_crops

    dataset = str(protocol.get("dataset", "")).lower()
    if "root" not in protocol:
        raise ConfigError("data.protocol needs a root (the data set's folder)")
    root = resolve(protocol["root"], base)
    if not root.is_dir():
        raise ConfigError(f"data.protocol.root {root} does not exist")
    layout = protocols.read_layout(dataset, root, aus=protocol.get("aus"),
                                   labels=[resolve(p, base) for p in _as_list(protocol.get("labels"))],
                                   val_labels=[resolve(p, base) for p in _as_list(protocol.get("val_labels"))])
    rows = layout.rows
    if dataset in protocols.FOLDS:
        named = protocols.in_any_fold(np.array([r["subject"] for r in rows]), dataset)
        if not named.all():
            left_out = sorted({r["subject"] for r, keep in zip(rows, named) if not keep})
            log.warning("%d frames of subjects outside %s's folds left out: %s", int((~named).sum()), dataset,
                        ", ".join(left_out))
            rows = [r for r, keep in zip(rows, named) if keep]
    if not rows:
        raise ConfigError(f"{root}: no labelled frame of the {dataset} layout was found (see trainer/data/protocols.py)")
    detector = shared_root / "models" / shared.DETECTOR_NAME
    sets = []
    images = [r for r in rows if "image" in r]
    if images:
        found = image_crops(root, [r["image"] for r in images], detector, cache, f"{dataset}-{root.name}", upscale=1)
        sets.append(_labelled(found, {r["image"]: r for r in images}, layout))
    videos: dict[str, list[dict]] = {}
    for r in rows:
        if "video" in r:
            videos.setdefault(r["video"], []).append(r)
    for video, video_rows in videos.items():
        found = frame_crops(root / video, [r["frame"] for r in video_rows], detector, cache,
                            f"{dataset}-{Path(video).stem}")
        sets.append(_labelled(found, {str(r["frame"]): r for r in video_rows}, layout, prefix=video))
    crops = CropSet.concat(sets)
    if not len(crops):
        raise ConfigError(f"{root}: no face was found in any labelled frame")
    log.info("%s: %d labelled faces of %d frames, %d subjects, AUs %s", dataset, len(crops), len(rows),
             len(np.unique(crops.group)), " ".join(layout.occurrence_aus))
    return crops


def _labelled(crops: CropSet, by_key: dict[str, dict], layout, prefix: str | None = None) -> CropSet:
    """Crops labelled from their layout rows, with the layout's AU lists."""
    rows = [by_key[k] for k in crops.key]
    occurrence = np.array([[r.get(f"{au}_c", -1) for au in layout.occurrence_aus] for r in rows], np.int8)
    intensity = np.array([[r.get(f"{au}_r", np.nan) for au in layout.intensity_aus] for r in rows], np.float32)
    keys = [f"{prefix}#{k}" if prefix else str(k) for k in crops.key]
    return CropSet(crops.crops, intensity.reshape(len(rows), len(layout.intensity_aus)),
                   occurrence.reshape(len(rows), len(layout.occurrence_aus)),
                   np.array([r["subject"] for r in rows], dtype="U64"),
                   np.array([r.get("source") or r.get("video") or f"{r['subject']}/{r.get('task', '')}".rstrip("/")
                             for r in rows], dtype="U300"),
                   np.array(keys, dtype="U300"), layout.intensity_aus, layout.occurrence_aus)


def _as_list(value) -> list:
    return [] if value is None else list(value) if isinstance(value, (list, tuple)) else [value]


def held_out_fold(crops: CropSet, protocol: dict) -> np.ndarray:
    """Mask of the faces the protocol's fold tests."""
    from auvid.errors import ConfigError
    from trainer.data.protocols import fold_split

    if protocol.get("val_labels"):  # FG2020's pre-training split: the manually coded set validates
        return crops.source == "emotionet-val"
    if "fold" not in protocol:
        raise ConfigError("data.protocol needs a fold (1, 2 or 3)")
    return fold_split(crops.group, str(protocol["dataset"]), int(protocol["fold"]), keys=crops.key,
                      seed=int(protocol.get("seed", 0)))


def seeded_pick(count: int, fraction: float, seed: int) -> np.ndarray:
    """Indices of a seeded random ``fraction`` (at least one) of ``count`` items. The same seed
    picks nested sets: a smaller fraction's items are the first of a larger one's."""
    return np.random.default_rng(seed).permutation(count)[:max(1, int(round(fraction * count)))]


def labelled_part(train: CropSet, fraction: float, seed: int) -> np.ndarray:
    """MLCR's semi-supervised setting: a seeded random ``fraction`` of the training faces keeps
    its labels; the rest joins the unlabelled pool."""
    from auvid.errors import ConfigError

    if not 0 < fraction <= 1:
        raise ConfigError(f"data.protocol.labelled_fraction must be in (0, 1], not {fraction!r}")
    keep = np.zeros(len(train), bool)
    keep[seeded_pick(len(train), fraction, seed)] = True
    return keep


def sample_training_people(groups: np.ndarray, fraction: float, seed: int) -> list[str]:
    """A seeded random ``fraction`` (at least one) of the people in ``groups``: the learning curve
    over labelled people (how much would another person buy?) without touching validation."""
    people = np.unique(groups)
    return sorted(people[seeded_pick(len(people), fraction, seed)].tolist())


def _check_benchmark_sources(data: dict) -> None:
    """A benchmark trains on its own training folds only: teacher-labelled faces (FER2013, noisy
    manifests) in its labelled set would make its numbers incomparable with the literature's."""
    from auvid.errors import ConfigError

    unknown = set(data["protocol"]) - PROTOCOL_KEYS
    if unknown:
        raise ConfigError(f"data.protocol: unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(PROTOCOL_KEYS))})")
    if data["fer"]:
        raise ConfigError("data.fer adds teacher-labelled FER2013 faces to a benchmark's training set; set "
                          "data.fer=false (data.unlabelled_fer=true puts them, without labels, in the unlabelled pool)")
    if data["manifests"]:
        raise ConfigError("data.manifests add noisy labels to a benchmark's training set; pre-train on them in "
                          "another run and start from it with train.init_from")


def _test_people(root: Path) -> list[str]:
    """The shared data's test people (trainer/data/splits.yaml): never trained or validated on,
    so the figures published on them stay held out whatever a config says."""
    from trainer.data.people import group_people

    return group_people("test") if (root / "people.csv").is_file() else []


def _validation_people(data: dict) -> list[str]:
    """``data.val_identities`` when a config or ``--set`` names people, else ``data.val_group``."""
    if data.get("val_group") and not data["val_identities"]:
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
    protocol = data["protocol"]
    if protocol:
        _check_benchmark_sources(data)
        labelled = protocol_crops(protocol, base, cache, root)
        held_out = held_out_fold(labelled, protocol)
    else:
        labelled = shared.build_video_sets(root, cache, teacher=data["teacher"], min_confidence=data["min_confidence"],
                                           every=data["frame_step"], clips=data["clips"])
        people = read_people(root)
        labelled.group = np.array([person_of(s, people) for s in labelled.source], dtype="U64")
        labelled = labelled.subset(~np.isin(labelled.group, _test_people(root)))
        held_out = np.isin(labelled.group, _validation_people(data))
        if data["people_fraction"] < 1:
            dropped = ~held_out & ~np.isin(labelled.group, sample_training_people(
                labelled.group[~held_out], data["people_fraction"], data["people_seed"]))
            labelled, held_out = labelled.subset(~dropped), held_out[~dropped]
    labelled_groups = labelled.group
    train_sets = [labelled.subset(~held_out)]
    val = labelled.subset(held_out)
    unlabelled_sets = []
    unlabelled_sources = []
    fraction = float(protocol.get("labelled_fraction", 1.0)) if protocol else 1.0
    if fraction < 1:
        keep = labelled_part(train_sets[0], fraction, int(protocol.get("seed", 0)))
        unlabelled_sets.append(train_sets[0].subset(~keep).unlabelled())
        unlabelled_sources.append(f"{protocol['dataset']} training folds, labels withheld ({int((~keep).sum())} faces)")
        train_sets[0] = train_sets[0].subset(keep)
    if data["unlabelled_fer"]:
        unlabelled_sets.append(shared.build_fer_set(root, cache, limit=data["fer_limit"]).unlabelled())
        unlabelled_sources.append("FER2013 faces, labels not used")
    if data["fer"]:
        fer = shared.build_fer_set(root, cache, limit=data["fer_limit"])
        labelled = fer.occurrence[:, 0] >= 0
        train_sets.append(fer.subset(labelled))
        unlabelled_sets.append(fer.subset(~labelled))
        unlabelled_sources.append("FER2013 faces the teacher failed on")
    detector = root / "models" / shared.DETECTOR_NAME
    for manifest in data["manifests"]:
        train_sets.append(manifest_crops(resolve(manifest, base), detector, cache))
    for folder in data["unlabelled_folders"]:
        folder = resolve(folder, base)
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.suffix.lower() in {".jpg", ".png", ".jpeg"})
        unlabelled_sets.append(image_crops(folder, files, detector, cache, folder.name, upscale=1))
        unlabelled_sources.append(f"images under {folder}")
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
        "train_identities": _names(train.group),
        "val_identities": _names(val.group),
        "train_sources": sorted(set(np.unique(train.source).tolist())),
        "val_sources": sorted(set(np.unique(val.source).tolist())),
        "teacher": None if protocol else f"OpenFace 2.0.6 {data['teacher']} AU models",
        "labels": (f"{protocol['dataset']} label files, {_held_out_name(protocol)} held out" if protocol
                   else f"OpenFace 2.0.6 {data['teacher']} teacher outputs"),
        "occurrence_aus": list(train.occurrence_aus),
        "intensity_aus": list(train.intensity_aus),
        "unlabelled_sources": unlabelled_sources,
        "labelled_fraction": fraction,
        "people_fraction": float(data["people_fraction"]),
        "people_seed": int(data["people_seed"]),
    }
    if protocol:
        description["protocol"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in protocol.items()}
        description["protocol"]["root"] = str(resolve(protocol["root"], base))
    log.info("train %d faces, val %d faces (%d identities), unlabelled %d", len(train), len(val),
             len(np.unique(val.group)), description["unlabelled_faces"])
    return TrainingData(train, val, unlabelled, description)


def _names(groups: np.ndarray, limit: int = 200) -> list[str]:
    """The identities of a split, or their count where there are too many to list (EmotioNet's
    web images are one group each)."""
    names = sorted(set(np.unique(groups).tolist()))
    return names if len(names) <= limit else [f"{len(names)} groups"]


def _held_out_name(protocol: dict) -> str:
    return "the validation label files" if protocol.get("val_labels") else f"fold {protocol.get('fold')}"

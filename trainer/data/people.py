"""Who is in each shared clip, and the fixed person split used for every published figure.

Splits are by *person*, read from ``people.csv`` (every clip and its person), never from rules on
clip names. Three groups:

- ``validation``: every decision (epochs, ablations, thresholds, calibration settings);
- ``test``: touched only for the figures a model card or the README publishes;
- everyone else: training.

The groups are fixed in ``trainer/data/splits.yaml`` so they do not drift when clips are added;
``python -m trainer.data.people --write`` re-derives them (see :func:`derive_split`).
"""
from __future__ import annotations

import csv
import hashlib
from functools import lru_cache
from pathlib import Path

SPLITS_FILE = Path(__file__).resolve().parent / "splits.yaml"
GROUPS = ("validation", "test")


@lru_cache(maxsize=8)
def read_people(data_root: str | Path) -> dict[str, str]:
    """clip stem -> person, from ``<data_root>/people.csv`` (empty when the file is absent)."""
    path = Path(data_root) / "people.csv"
    if not path.is_file():
        return {}
    with open(path, newline="") as handle:
        return {row["clip"].strip(): row["person"].strip() for row in csv.DictReader(handle)}


def person_of(clip: str, people: dict[str, str]) -> str:
    """A clip's person; a clip people.csv does not list is its own person."""
    return people.get(clip, clip)


@lru_cache(maxsize=1)
def load_split(path: Path = SPLITS_FILE) -> dict[str, list[str]]:
    import yaml

    raw = yaml.safe_load(path.read_text())
    return {group: sorted(raw[group]) for group in GROUPS}


def group_people(group: str) -> list[str]:
    """The people of one split group (``validation`` or ``test``)."""
    if group not in GROUPS:
        raise ValueError(f"unknown split group {group!r}; one of {', '.join(GROUPS)}")
    return load_split()[group]


def clips_of(group: str, data_root: str | Path) -> list[str]:
    """Clip stems (sorted) whose person is in ``group``."""
    members = set(group_people(group))
    return sorted(clip for clip, person in read_people(data_root).items() if person in members)


def derive_split(people: dict[str, str], frames: dict[str, int], shipped_train: set[str],
                 shipped_validation: set[str]) -> dict[str, list[str]]:
    """The rule that made splits.yaml, kept so it can be checked and re-run.

    People the shipped model trained on stay in training; people it was validated on (its epoch
    count was chosen on them) go to validation, never to test. Every other person is dealt, in
    order of labelled frames (ties by a hash of the name), into the repeating pattern
    train, test, train, validation, test, train, test, train, validation, test: about 40% test,
    40% train, 20% validation, with sizes spread evenly over the groups.
    """
    pattern = ["train", "test", "train", "validation", "test", "train", "test", "train", "validation", "test"]
    groups = {"validation": set(shipped_validation), "test": set()}
    fresh = sorted(set(people.values()) - shipped_train - shipped_validation,
                   key=lambda p: (frames.get(p, 0), hashlib.sha256(p.encode()).hexdigest()))
    for i, person in enumerate(fresh):
        group = pattern[i % len(pattern)]
        if group in groups:
            groups[group].add(person)
    return {group: sorted(members) for group, members in groups.items()}


def _write_split(data_root: Path, checkpoint: Path) -> None:
    import json

    import torch

    from trainer.data.openface_csv import read_openface_csv

    people = read_people(data_root)
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    data = json.loads(state["data"])
    shipped_train = {person_of(c, people) for c in data["train_sources"] if c != "fer2013"}
    shipped_validation = {person_of(c, people) for c in data["val_sources"]}
    frames: dict[str, int] = {}
    for clip, person in people.items():
        labels = data_root / "labels" / "openface" / f"{clip}.static.csv"
        if labels.is_file():
            frames[person] = frames.get(person, 0) + int(read_openface_csv(labels).valid(0.75).sum())
    split = derive_split(people, frames, shipped_train, shipped_validation)
    lines = ["# Person split for every published figure (trainer/data/people.py says how it was made).",
             "# validation: all decisions; test: only the published figures; everyone else: training.",
             f"# Derived from the shared data's people.csv ({len(set(people.values()))} people) and the",
             "# people the shipped model (checkpoint sha256 " + _sha(checkpoint)[:8] + ") trained and was validated on."]
    for group in GROUPS:
        lines.append(f"{group}:  # {len(split[group])} people, "
                     f"{sum(frames.get(p, 0) for p in split[group])} labelled frames")
        lines += [f"  - {person}" for person in split[group]]
    SPLITS_FILE.write_text("\n".join(lines) + "\n")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Re-derive trainer/data/splits.yaml")
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--checkpoint", type=Path, default=Path("auvid/models/default/auvid-default.pt"))
    parser.add_argument("--write", action="store_true", required=True)
    args = parser.parse_args()
    _write_split(args.data_root, args.checkpoint)
    print(f"wrote {SPLITS_FILE}")

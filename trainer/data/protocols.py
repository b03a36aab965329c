"""BP4D and DISFA: their folder layouts and the subject-exclusive 3-fold protocol of the AU
literature (JAA-Net, MLCR, ME-GraphAU). Users bring the licensed data; auvid turns a layout into
a generic manifest (image, AU columns) and trains/tests by fold, never splitting a subject.

BP4D  <root>/AUCoding/AU_OCC/<subject>_<task>.csv  (columns: frame, 1, 2, 4, ...; 9 = unknown)
      <root>/images/<subject>/<task>/<frame>.jpg    (frames extracted from the sequences)
DISFA <root>/ActionUnit_Labels/<subject>/<subject>_au<N>.txt   (lines "frame,intensity")
      <root>/images/<subject>/<frame>.png                      (frames of the left camera)
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from auvid.errors import ConfigError

BP4D_FOLDS = (
    ("F001", "M007", "F018", "F008", "F002", "M004", "F010", "F009", "M012", "M001", "F016", "M014", "F023", "M008"),
    ("M011", "F003", "M010", "M002", "F005", "F022", "M018", "M017", "F013", "M016", "F020", "F011", "M013", "M005"),
    ("F007", "F015", "F006", "F019", "M006", "M009", "F012", "M003", "F004", "F021", "F017", "M015", "F014"),
)
DISFA_FOLDS = (
    ("SN002", "SN010", "SN001", "SN026", "SN027", "SN032", "SN030", "SN009", "SN016"),
    ("SN013", "SN018", "SN011", "SN028", "SN012", "SN006", "SN031", "SN021", "SN024"),
    ("SN003", "SN029", "SN023", "SN025", "SN008", "SN005", "SN007", "SN017", "SN004"),
)
BP4D_AUS = ("AU01", "AU02", "AU04", "AU06", "AU07", "AU10", "AU12", "AU14", "AU15", "AU17", "AU23", "AU24")
DISFA_AUS = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU09", "AU12", "AU15", "AU17", "AU20", "AU25", "AU26")
FOLDS = {"bp4d": BP4D_FOLDS, "disfa": DISFA_FOLDS}


def fold_split(subjects: np.ndarray, dataset: str, fold: int, **_: object) -> np.ndarray:
    """Mask of the rows tested in ``fold`` (1-3); the other two folds train."""
    folds = FOLDS.get(dataset.lower())
    if folds is None:
        raise ConfigError(f"unknown protocol dataset {dataset!r} (bp4d, disfa)")
    if fold not in (1, 2, 3):
        raise ConfigError(f"fold must be 1, 2 or 3, not {fold!r}")
    return np.isin(subjects, folds[fold - 1])


def bp4d_rows(root: Path) -> list[dict]:
    """One row per labelled frame with an image: image path (relative to root), subject, AUs."""
    labels_dir = root / "AUCoding" / "AU_OCC"
    if not labels_dir.is_dir():
        raise ConfigError(f"{root}: not a BP4D tree (no AUCoding/AU_OCC)")
    rows = []
    for label_file in sorted(labels_dir.glob("*_*.csv")):
        subject, task = label_file.stem.split("_", 1)
        with open(label_file, newline="") as handle:
            reader = csv.DictReader(handle)
            for record in reader:
                frame = int(float(record.get("frame") or record.get("Frame") or record[reader.fieldnames[0]]))
                image = _find_image(root / "images" / subject / task, frame)
                if image is None:
                    continue
                row = {"image": str(image.relative_to(root)), "subject": subject}
                for au in BP4D_AUS:
                    value = int(float(record.get(str(int(au[2:])), 9)))
                    row[f"{au}_c"] = value if value in (0, 1) else -1
                rows.append(row)
    return rows


def disfa_rows(root: Path) -> list[dict]:
    labels_dir = root / "ActionUnit_Labels"
    if not labels_dir.is_dir():
        raise ConfigError(f"{root}: not a DISFA tree (no ActionUnit_Labels)")
    rows = []
    for subject_dir in sorted(p for p in labels_dir.iterdir() if p.is_dir()):
        subject = subject_dir.name
        per_frame: dict[int, dict] = {}
        for au in DISFA_AUS:
            path = subject_dir / f"{subject}_au{int(au[2:])}.txt"
            if not path.is_file():
                continue
            for line in path.read_text().split():
                frame, value = (int(float(v)) for v in line.split(","))
                per_frame.setdefault(frame, {})[f"{au}_r"] = value
        for frame, values in sorted(per_frame.items()):
            image = _find_image(root / "images" / subject, frame)
            if image is None:
                continue
            rows.append({"image": str(image.relative_to(root)), "subject": subject, **values})
    return rows


def write_manifest(rows: list[dict], path: Path) -> Path:
    """A generic manifest CSV (see trainer.data.manifest) from layout rows."""
    columns = ["image"] + sorted({k for r in rows for k in r if re.match(r"AU\d\d_[rc]$", k)})
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore", restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _find_image(folder: Path, frame: int) -> Path | None:
    for width in (4, 5, 3, 0):
        name = f"{frame:0{width}d}" if width else str(frame)
        for suffix in (".jpg", ".png"):
            candidate = folder / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    return None

"""BP4D and DISFA: their folder layouts and the subject-exclusive 3-fold protocol of the AU
literature (JAA-Net, MLCR, ME-GraphAU). Users bring the licensed data; auvid turns a layout into
a generic manifest (image, AU columns) and trains/tests by fold, never splitting a subject.

BP4D  <root>/AUCoding/AU_OCC/<subject>_<task>.csv  (columns: frame, 1, 2, 4, ...; 9 = unknown)
      <root>/images/<subject>/<task>/<frame>.jpg    (frames extracted from the sequences)
DISFA <root>/ActionUnit_Labels/<subject>/<subject>_au<N>.txt   (lines "frame,intensity")
      <root>/images/<subject>/<frame>.png                      (frames of the left camera)
EmotioNet  label files as the challenge distributes them: one image per line, tab (or comma)
      separated: the image URL, optionally the original URL, then one value per AU numbered by
      position (AU1, AU2, ...), 1 present, 0 absent, 999 not coded; a header row naming AU
      columns is also read. Images downloaded under <root>, at the URL's path after "/Images/"
      or by file name. Web images of unknown people: no subject ids, so no subject-exclusive
      protocol exists; the split is the challenge's own (training labels vs the manually coded
      validation set), and the automatically annotated set is the FG2020 noisy pre-training data.
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
EMOTIONET_UNKNOWN = 999


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


def emotionet_rows(root: Path, train_labels: list[Path], val_labels: list[Path] = ()) -> list[dict]:
    """One row per labelled image found under ``root``: image, split ("emotionet-train" or
    "emotionet-val", used as the group), and the AUs EmotioNet codes that auvid predicts."""
    by_name: dict[str, Path] | None = None
    rows = []
    for split, files in (("emotionet-train", train_labels), ("emotionet-val", val_labels)):
        for label_file in files:
            label_file = Path(label_file)
            if not label_file.is_file():
                raise ConfigError(f"{label_file}: no such EmotioNet label file")
            for url, values in _emotionet_records(label_file):
                image = root / url.split("/Images/", 1)[1] if "/Images/" in url else None
                if image is None or not image.is_file():
                    if by_name is None:
                        by_name = {p.name: p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")}
                    image = by_name.get(url.rsplit("/", 1)[-1])
                if image is None:
                    continue
                row = {"image": str(image.relative_to(root)), "subject": split}
                for au, value in values.items():
                    row[f"{au}_c"] = value if value in (0, 1) else -1
                rows.append(row)
    return rows


def _emotionet_records(path: Path):
    """(url, {AUxx: value}) per line; positional AU numbering unless a header names the columns."""
    from auvid.aus import OCCURRENCE_AUS, normalize_au

    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    delimiter = "\t" if "\t" in lines[0] else ","
    first = [cell.strip() for cell in lines[0].split(delimiter)]
    header = None
    if not first[0].lower().startswith(("http", "/", ".")) and any(re.match(r"(?i)^au\s*\d+$", c) for c in first):
        header, lines = first, lines[1:]
    for line in lines:
        cells = [cell.strip() for cell in line.split(delimiter)]
        url = cells[0]
        if header:
            named = {h: c for h, c in zip(header, cells) if re.match(r"(?i)^au\s*\d+$", h)}
        else:
            skip = 2 if len(cells) > 1 and cells[1].lower().startswith("http") else 1
            named = {f"AU{i}": c for i, c in enumerate(cells[skip:], start=1)}
        values = {}
        for name, cell in named.items():
            au = normalize_au(name.replace(" ", ""))
            if au in OCCURRENCE_AUS and cell:
                values[au] = int(float(cell))
        yield url, values


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

"""BP4D, DISFA and EmotioNet as their users hold them, and the protocols the AU literature
(JAA-Net, MLCR, ME-GraphAU, LibreFace) reports on. Users bring the licensed data; auvid reads the
released layout, keeps the data set's own AU list (a model's AU set is whatever its data defines)
and trains/tests by fold, never splitting a subject.

BP4D  <root>/AUCoding/AU_OCC/<subject>_<task>.csv, one per subject and task. As the public list
      scripts of the ME-GraphAU / JAA-Net family read it (``pd.read_csv(path, header=0,
      index_col=0, usecols=["0", "1", "2", "4", ..., "24"])``): the first column (headed "0") is
      the frame number, the others are headed by the AU number, 1 present, 0 absent, 9 not coded.
      Frames: <root>/images/<subject>/<task>/<frame>.jpg (or Sequences/ instead of images/, frame
      numbers zero-padded or not). Protocol: 12 AUs (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24),
      occurrence F1, subject-exclusive 3 folds.
DISFA <root>/ActionUnit_Labels/<SN>/<SN>_au<N>.txt, lines "frame,intensity" (0-5, frames from
      1), with the left camera's videos <root>/Videos_LeftCamera/LeftVideo<SN>_comp.avi, as the
      public DISFA preprocessing scripts open them (``LeftVideoPath + 'LeftVideoSN0' + idx +
      '_comp.avi'`` beside ``AULabelPath + SN + '/' + SN + '_au' + au + '.txt'``). Frames already
      extracted under <root>/images/<SN>/<frame>.png are used when there is no video. Protocol:
      8 AUs (1, 2, 4, 6, 9, 12, 25, 26), intensity >= 2 counts as present, subject-exclusive 3
      folds; the intensities are kept for ICC/PCC/MAE.
EmotioNet  label files as released. The automatically annotated lists are tab separated with no
      header: image URL, original URL, then AU1..AU60 by position (EMOCA's EmotioNet reader:
      ``pd.read_csv(f, delimiter="\\t", names=["url", "orig_url"] + [f"AU{i}" for i in
      range(1, 61)])``); the manually annotated set (EmotioNet_FACS_aws_2020_24600.csv) has a
      header "URL", "URL orig", "'AU 1'", "'AU 2'", ... (py-feat's EmotioNet notebook strips the
      quotes and spaces). 1 present, 0 absent, 999 not coded. Images downloaded under <root> at
      the URL's path after "/Images/", or found by file name. The AU list is every AU the files
      code. Web images of unknown people have no subject ids: MLCR's protocol is random splits of
      the labelled set; here 3 seeded random folds, each image tested once.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auvid.errors import ConfigError

BP4D_FOLDS = (
    ("F001", "M007", "F018", "F008", "F002", "M004", "F010", "F009", "M012", "M001", "F016", "M014", "F023", "M008"),
    ("M011", "F003", "M010", "M002", "F005", "F022", "M018", "M017", "F013", "M016", "F020", "F011", "M013", "M005"),
    ("F007", "F015", "F006", "F019", "M006", "M009", "F012", "M003", "F004", "F021", "F017", "M015", "F014"),
)
# ME-GraphAU's list script numbers the BP4D folds the other way round (its fold 1 tests the third
# part above); per-fold rows differ in order only and the 3-fold mean is the same.
DISFA_FOLDS = (
    ("SN002", "SN010", "SN001", "SN026", "SN027", "SN032", "SN030", "SN009", "SN016"),
    ("SN013", "SN018", "SN011", "SN028", "SN012", "SN006", "SN031", "SN021", "SN024"),
    ("SN003", "SN029", "SN023", "SN025", "SN008", "SN005", "SN007", "SN017", "SN004"),
)
BP4D_AUS = ("AU01", "AU02", "AU04", "AU06", "AU07", "AU10", "AU12", "AU14", "AU15", "AU17", "AU23", "AU24")
#: Every AU DISFA codes, and the 8 its benchmark reports (the others are too rare to score).
DISFA_ALL_AUS = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU09", "AU12", "AU15", "AU17", "AU20", "AU25", "AU26")
DISFA_AUS = ("AU01", "AU02", "AU04", "AU06", "AU09", "AU12", "AU25", "AU26")
DISFA_PRESENT_AT = 2
FOLDS = {"bp4d": BP4D_FOLDS, "disfa": DISFA_FOLDS}
BP4D_UNKNOWN = 9
EMOTIONET_UNKNOWN = 999
DATASETS = ("bp4d", "disfa", "emotionet")


@dataclass
class LabelledRows:
    """A data set read from its layout: one row per labelled frame, and its own AU lists.

    A row has ``subject``, either ``image`` (path under the root) or ``video`` + ``frame``, and
    label columns ``AUxx_c`` (1/0/-1 unknown) and ``AUxx_r`` (0-5)."""

    dataset: str
    rows: list[dict]
    occurrence_aus: tuple[str, ...]
    intensity_aus: tuple[str, ...] = ()


def fold_split(subjects: np.ndarray, dataset: str, fold: int, keys: np.ndarray | None = None,
               seed: int = 0) -> np.ndarray:
    """Mask of the rows tested in ``fold`` (1-3); the other two folds train.

    BP4D/DISFA: the published subject lists. EmotioNet: seeded random folds over ``keys``."""
    if fold not in (1, 2, 3):
        raise ConfigError(f"fold must be 1, 2 or 3, not {fold!r}")
    dataset = dataset.lower()
    if dataset == "emotionet":
        if keys is None:
            raise ValueError("EmotioNet folds need the image keys")
        return random_folds(keys, seed) == fold
    folds = FOLDS.get(dataset)
    if folds is None:
        raise ConfigError(f"unknown protocol dataset {dataset!r} ({', '.join(DATASETS)})")
    return np.isin(subjects, folds[fold - 1])


def in_any_fold(subjects: np.ndarray, dataset: str) -> np.ndarray:
    """Rows whose subject the protocol names (others, e.g. BP4D+ people, are left out)."""
    folds = FOLDS.get(dataset.lower())
    if folds is None:
        return np.ones(len(subjects), bool)
    return np.isin(subjects, [s for fold in folds for s in fold])


def random_folds(keys: np.ndarray, seed: int = 0) -> np.ndarray:
    """Fold 1-3 of each key: a seeded permutation of the sorted keys dealt into three parts, so
    the split does not depend on the order files were read in."""
    keys = np.asarray(keys).astype(str)
    order = np.argsort(keys, kind="stable")
    permuted = order[np.random.default_rng(seed).permutation(len(keys))]
    folds = np.empty(len(keys), np.int64)
    folds[permuted] = np.arange(len(keys)) % 3 + 1
    return folds


def read_layout(dataset: str, root: Path, **options) -> LabelledRows:
    """The rows of a data set in its released layout under ``root``."""
    dataset = dataset.lower()
    if dataset == "bp4d":
        return bp4d_rows(root)
    if dataset == "disfa":
        return disfa_rows(root, aus=tuple(options.get("aus") or DISFA_AUS))
    if dataset == "emotionet":
        return emotionet_rows(root, options.get("labels") or [], options.get("val_labels") or [])
    raise ConfigError(f"unknown protocol dataset {dataset!r} ({', '.join(DATASETS)})")


def bp4d_rows(root: Path) -> LabelledRows:
    """One row per coded frame with an image: image path (relative to root), subject, 12 AUs."""
    labels_dir = root / "AUCoding" / "AU_OCC"
    if not labels_dir.is_dir():
        raise ConfigError(f"{root}: not a BP4D tree (no AUCoding/AU_OCC with <subject>_<task>.csv files)")
    rows = []
    for label_file in sorted(labels_dir.glob("*_*.csv")):
        subject, task = label_file.stem.split("_", 1)
        folders = [root / top / subject / task for top in ("images", "Sequences")]
        with open(label_file, newline="") as handle:
            table = [r for r in csv.reader(handle) if r]
        if not table:
            continue
        header = [cell.strip() for cell in table[0]]
        column = {_au_number(h): i for i, h in enumerate(header[1:], start=1) if _au_number(h) is not None}
        for record in table[1:]:
            try:
                frame = int(float(record[0]))
            except ValueError:
                raise ConfigError(f"{label_file}: frame {record[0]!r} is not a number") from None
            labels = {}
            for au in BP4D_AUS:
                index = column.get(int(au[2:]))
                value = int(float(record[index])) if index is not None and index < len(record) and record[index].strip() else BP4D_UNKNOWN
                labels[f"{au}_c"] = value if value in (0, 1) else -1
            if all(v < 0 for v in labels.values()):
                continue
            image = next((found for folder in folders if (found := _find_image(folder, frame))), None)
            if image is None:
                continue
            rows.append({"image": str(image.relative_to(root)), "subject": subject, "task": task, **labels})
    return LabelledRows("bp4d", rows, BP4D_AUS)


def disfa_rows(root: Path, aus: tuple[str, ...] = DISFA_AUS, present_at: int = DISFA_PRESENT_AT) -> LabelledRows:
    """One row per labelled frame: the left camera's video and frame (or an extracted image),
    subject, intensity per AU and occurrence = intensity >= ``present_at``."""
    labels_dir = root / "ActionUnit_Labels"
    if not labels_dir.is_dir():
        raise ConfigError(f"{root}: not a DISFA tree (no ActionUnit_Labels/<SN>/<SN>_au<N>.txt)")
    unknown = [au for au in aus if au not in DISFA_ALL_AUS]
    if unknown:
        raise ConfigError(f"DISFA does not code {', '.join(unknown)} (it codes {', '.join(DISFA_ALL_AUS)})")
    rows = []
    for subject_dir in sorted(p for p in labels_dir.iterdir() if p.is_dir()):
        subject = subject_dir.name
        per_frame: dict[int, dict] = {}
        for au in aus:
            path = subject_dir / f"{subject}_au{int(au[2:])}.txt"
            if not path.is_file():
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    frame, value = (int(float(v)) for v in line.split(",")[:2])
                except ValueError:
                    raise ConfigError(f"{path}:{number}: expected 'frame,intensity', got {line.strip()!r}") from None
                per_frame.setdefault(frame, {})[f"{au}_r"] = value
                per_frame[frame][f"{au}_c"] = int(value >= present_at)
        video = _disfa_video(root, subject)
        for frame, values in sorted(per_frame.items()):
            if video is not None:
                rows.append({"video": str(video.relative_to(root)), "frame": frame, "subject": subject, **values})
                continue
            image = _find_image(root / "images" / subject, frame)
            if image is not None:
                rows.append({"image": str(image.relative_to(root)), "subject": subject, **values})
    return LabelledRows("disfa", rows, tuple(aus), tuple(aus))


def _disfa_video(root: Path, subject: str) -> Path | None:
    folder = root / "Videos_LeftCamera"
    if not folder.is_dir():
        return None
    wanted = f"leftvideo{subject}_comp.avi".lower()
    return next((p for p in sorted(folder.iterdir()) if p.name.lower() == wanted), None)


def emotionet_rows(root: Path, label_files: list[Path], val_files: list[Path] = ()) -> LabelledRows:
    """One row per labelled image found under ``root``; the AU list is every AU the files code.

    Rows of ``val_files`` (FG2020's manually coded validation set, when pre-training on the
    automatically annotated lists) have source "emotionet-val", the others "emotionet-train"."""
    if not label_files:
        raise ConfigError("an EmotioNet protocol needs data.protocol.labels (the label files)")
    by_name: dict[str, Path] | None = None
    rows, coded = [], set()
    for label_file, source in [(f, "emotionet-train") for f in label_files] + [(f, "emotionet-val") for f in val_files]:
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
            # Web images of unknown people: each image is its own group (no subject ids exist).
            row = {"image": str(image.relative_to(root)), "subject": str(image.relative_to(root)), "source": source}
            for au, value in values.items():
                row[f"{au}_c"] = value if value in (0, 1) else -1
                if value in (0, 1):
                    coded.add(au)
            rows.append(row)
    return LabelledRows("emotionet", rows, tuple(sorted(coded)))


def _emotionet_records(path: Path):
    """(url, {AUxx: value}) per line: AU columns by header name where there is a header, else
    AU1.. by position after the URL(s)."""
    from auvid.aus import normalize_au

    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    if not lines:
        return
    delimiter = "\t" if "\t" in lines[0] else ","
    first = [_bare(cell) for cell in lines[0].split(delimiter)]
    header = None
    if not first[0].lower().startswith(("http", "/", ".")) and any(re.match(r"(?i)^au\d+$", c) for c in first):
        header, lines = first, lines[1:]
    for line in lines:
        cells = [_bare(cell) for cell in line.split(delimiter)]
        url = cells[0]
        if header:
            named = {h: c for h, c in zip(header, cells) if re.match(r"(?i)^au\d+$", h)}
        else:
            skip = 2 if len(cells) > 1 and cells[1].lower().startswith("http") else 1
            named = {f"AU{i}": c for i, c in enumerate(cells[skip:], start=1)}
        values = {}
        for name, cell in named.items():
            if cell:
                values[normalize_au(name)] = int(float(cell))
        yield url, values


def _bare(cell: str) -> str:
    """A cell without the quotes and spaces the 24,600-image CSV puts in ("'AU 1'")."""
    return re.sub(r"[\s'\"]", "", cell)


def _au_number(text: str) -> int | None:
    text = text.strip().upper().removeprefix("AU")
    return int(text) if text.isdigit() and int(text) > 0 else None


def write_manifest(rows: list[dict], path: Path) -> Path:
    """A generic manifest CSV (see trainer.data.manifest) from image rows."""
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

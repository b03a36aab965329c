"""Generic label manifests: the seed format of noisy-label (pseudo-label) pre-training sets.

A CSV with an ``image`` column (path relative to the CSV) and AU columns. ``AU12_c`` (or a plain
``AU12`` holding only 1/0/-1/blank) is occurrence, with -1 or blank for unknown; ``AU12_r`` (or a
plain ``AU12`` holding values above 1) is 0-5 intensity. Faces are detected and aligned by the
runtime path, like every other training source.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from auvid.aus import INTENSITY_AUS, OCCURRENCE_AUS, normalize_au
from auvid.errors import ConfigError
from trainer.data.crops import CropSet, image_crops


def read_manifest(path: Path, intensity_aus: tuple[str, ...] | None = None,
                  occurrence_aus: tuple[str, ...] | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(image paths, intensity (n, len(intensity_aus)) with NaN unknown, occurrence
    (n, len(occurrence_aus)) with -1 unknown). The AU lists default to OpenFace's sets; pass
    ``manifest_aus(path)`` to keep every AU the manifest has (AU24, AU43, ...)."""
    rows = _rows(path)
    intensity_aus = INTENSITY_AUS if intensity_aus is None else tuple(intensity_aus)
    occurrence_aus = OCCURRENCE_AUS if occurrence_aus is None else tuple(occurrence_aus)
    intensity = np.full((len(rows), len(intensity_aus)), np.nan, np.float32)
    occurrence = np.full((len(rows), len(occurrence_aus)), -1, np.int8)
    for column, au, kind, values in _columns(rows):
        if kind == "r" and au in intensity_aus:
            intensity[:, intensity_aus.index(au)] = np.where(values < 0, np.nan, values)
        elif kind == "c" and au in occurrence_aus:
            occurrence[:, occurrence_aus.index(au)] = np.where(np.isnan(values), -1, values).astype(np.int8)
    return [r["image"] for r in rows], intensity, occurrence


def manifest_aus(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(intensity AUs, occurrence AUs) the manifest has columns for, sorted."""
    columns = _columns(_rows(path))
    return (tuple(sorted({au for _, au, kind, _ in columns if kind == "r"})),
            tuple(sorted({au for _, au, kind, _ in columns if kind == "c"})))


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "image" not in rows[0]:
        raise ConfigError(f"{path}: a manifest needs a header with an 'image' column and AU columns")
    return rows


def _columns(rows: list[dict]) -> list[tuple[str, str, str, np.ndarray]]:
    """(column, AU, "r" or "c", values) for each AU column."""
    found = []
    for column in (c for c in rows[0] if c != "image"):
        try:
            au = normalize_au(column)
        except ValueError:
            continue
        values = np.array([_value(r[column]) for r in rows], np.float32)
        kind = "r" if column.lower().endswith("_r") else "c" if column.lower().endswith("_c") else (
            "r" if np.nanmax(np.where(np.isnan(values), 0, values)) > 1 else "c")
        found.append((column, au, kind, values))
    return found


def manifest_crops(path: Path, detector: Path, cache: Path, size: int = 112, image_root: Path | None = None) -> CropSet:
    """Crops of the manifest's images (paths relative to ``image_root``, default the CSV's folder),
    labelled with every AU the manifest has."""
    intensity_aus, occurrence_aus = manifest_aus(path)
    files, intensity, occurrence = read_manifest(path, intensity_aus, occurrence_aus)
    index = {f: i for i, f in enumerate(files)}
    crops = image_crops(image_root or path.parent, files, detector, cache, path.stem, size=size, upscale=1)
    rows = [index[k] for k in crops.key]
    return CropSet(crops.crops, intensity[rows], occurrence[rows], crops.group, crops.source, crops.key,
                   intensity_aus, occurrence_aus)


def _value(text: str) -> float:
    text = (text or "").strip()
    if not text:
        return float("nan")
    return float(text)

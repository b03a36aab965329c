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


def read_manifest(path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(image paths, intensity (n, 17) with NaN unknown, occurrence (n, 18) with -1 unknown)."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "image" not in rows[0]:
        raise ConfigError(f"{path}: a manifest needs a header with an 'image' column and AU columns")
    columns = [c for c in rows[0] if c != "image"]
    intensity = np.full((len(rows), len(INTENSITY_AUS)), np.nan, np.float32)
    occurrence = np.full((len(rows), len(OCCURRENCE_AUS)), -1, np.int8)
    for column in columns:
        try:
            au = normalize_au(column)
        except ValueError:
            continue
        values = np.array([_value(r[column]) for r in rows], np.float32)
        kind = "r" if column.lower().endswith("_r") else "c" if column.lower().endswith("_c") else (
            "r" if np.nanmax(np.where(np.isnan(values), 0, values)) > 1 else "c")
        if kind == "r" and au in INTENSITY_AUS:
            intensity[:, INTENSITY_AUS.index(au)] = np.where(values < 0, np.nan, values)
        elif kind == "c" and au in OCCURRENCE_AUS:
            occurrence[:, OCCURRENCE_AUS.index(au)] = np.where(np.isnan(values), -1, values).astype(np.int8)
    return [r["image"] for r in rows], intensity, occurrence


def manifest_crops(path: Path, detector: Path, cache: Path, size: int = 112, image_root: Path | None = None) -> CropSet:
    """Crops of the manifest's images (paths relative to ``image_root``, default the CSV's folder)."""
    files, intensity, occurrence = read_manifest(path)
    index = {f: i for i, f in enumerate(files)}
    crops = image_crops(image_root or path.parent, files, detector, cache, path.stem, size=size, upscale=1)
    rows = [index[k] for k in crops.key]
    crops.intensity = intensity[rows]
    crops.occurrence = occurrence[rows]
    return crops


def _value(text: str) -> float:
    text = (text or "").strip()
    if not text:
        return float("nan")
    return float(text)

"""AU metrics against a reference: F1 (occurrence), PCC, CCC, ICC(3,1) and MAE (intensity).

Intensity metrics are computed over all frames pooled, as DISFA/BP4D intensity results are
reported; an AU whose reference never varies gets NaN rather than a made-up value.
"""
from __future__ import annotations

import numpy as np


def pcc(x: np.ndarray, y: np.ndarray) -> float:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def ccc(x: np.ndarray, y: np.ndarray) -> float:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) < 2:
        return float("nan")
    cov = ((x - x.mean()) * (y - y.mean())).mean()
    denominator = x.var() + y.var() + (x.mean() - y.mean()) ** 2
    return float(2 * cov / denominator) if denominator > 0 else float("nan")


def icc31(x: np.ndarray, y: np.ndarray) -> float:
    """ICC(3,1): two-way mixed, consistency, single rater (Shrout & Fleiss)."""
    data = np.stack([np.asarray(x, np.float64), np.asarray(y, np.float64)], axis=1)
    n, k = data.shape
    if n < 2:
        return float("nan")
    grand = data.mean()
    ss_rows = k * ((data.mean(1) - grand) ** 2).sum()
    ss_cols = n * ((data.mean(0) - grand) ** 2).sum()
    ss_error = ((data - grand) ** 2).sum() - ss_rows - ss_cols
    ms_rows = ss_rows / (n - 1)
    ms_error = ss_error / ((n - 1) * (k - 1))
    denominator = ms_rows + (k - 1) * ms_error
    return float((ms_rows - ms_error) / denominator) if denominator > 0 else float("nan")


def f1(predicted: np.ndarray, reference: np.ndarray) -> float:
    predicted, reference = np.asarray(predicted).astype(bool), np.asarray(reference).astype(bool)
    tp = (predicted & reference).sum()
    fp = (predicted & ~reference).sum()
    fn = (~predicted & reference).sum()
    if tp + fp + fn == 0:
        return float("nan")
    return float(2 * tp / (2 * tp + fp + fn))


def intensity_report(predicted: np.ndarray, reference: np.ndarray, aus: list[str]) -> dict[str, dict[str, float]]:
    report = {}
    for j, au in enumerate(aus):
        known = ~np.isnan(reference[:, j])
        p, r = predicted[known, j], reference[known, j]
        report[au] = {"pcc": pcc(p, r), "ccc": ccc(p, r), "icc": icc31(p, r),
                      "mae": float(np.abs(p - r).mean()) if known.any() else float("nan")}
    return report


def occurrence_report(probabilities: np.ndarray, reference: np.ndarray, aus: list[str],
                      threshold: float = 0.5) -> dict[str, dict[str, float]]:
    report = {}
    for j, au in enumerate(aus):
        known = reference[:, j] >= 0
        report[au] = {"f1": f1(probabilities[known, j] >= threshold, reference[known, j] == 1),
                      "base_rate": float((reference[known, j] == 1).mean()) if known.any() else float("nan")}
    return report


def nanmean(values) -> float:
    values = np.array([v for v in values if v is not None], np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def summarize(intensity: dict, occurrence: dict) -> dict[str, float]:
    return {
        "mean_pcc": nanmean(v["pcc"] for v in intensity.values()),
        "mean_ccc": nanmean(v["ccc"] for v in intensity.values()),
        "mean_icc": nanmean(v["icc"] for v in intensity.values()),
        "mean_mae": nanmean(v["mae"] for v in intensity.values()),
        "mean_f1": nanmean(v["f1"] for v in occurrence.values()),
    }

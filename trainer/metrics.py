"""AU metrics against a reference: F1 (occurrence), PCC, CCC, ICC(3,1) and MAE (intensity).

Intensity metrics are computed over all frames pooled, as DISFA/BP4D intensity results are
reported; an AU whose reference never varies gets NaN rather than a made-up value.
"""
from __future__ import annotations

import numpy as np


def pcc(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r of a prediction ``x`` against a reference ``y``.

    A constant prediction against a moving reference scores 0 (it follows nothing), so it pulls a
    mean down instead of dropping out of it; a constant reference gives NaN (nothing to follow).
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) < 2 or y.std() < 1e-9:
        return float("nan")
    if x.std() < 1e-9:  # constant up to rounding (e.g. clip-centred clip means)
        return 0.0
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


def _centre_per_clip(values: np.ndarray, clips: np.ndarray) -> np.ndarray:
    centred = np.asarray(values, np.float64).copy()
    for clip in np.unique(clips):
        rows = clips == clip
        centred[rows] -= centred[rows].mean()
    return centred


def within_clip_pcc(predicted: np.ndarray, reference: np.ndarray, clips: np.ndarray) -> float:
    """Pearson r of clip-centred traces, pooled over clips: does the trace follow the face?

    Each clip's mean is removed from both traces first, so differences *between* clips (who is
    generally more expressive) count for nothing; a predictor that outputs each clip's mean scores 0.
    """
    clips = np.asarray(clips)
    return pcc(_centre_per_clip(predicted, clips), _centre_per_clip(reference, clips))


def per_clip_pcc(predicted: np.ndarray, reference: np.ndarray, clips: np.ndarray,
                 min_std: float = 0.3) -> list[float]:
    """Pearson r within each clip where the reference moves (std >= ``min_std`` on the 0-5 scale)."""
    clips = np.asarray(clips)
    values = []
    for clip in np.unique(clips):
        rows = clips == clip
        if rows.sum() >= 2 and np.asarray(reference)[rows].std() >= min_std:
            values.append(pcc(np.asarray(predicted)[rows], np.asarray(reference)[rows]))
    return values


def clip_means(reference: np.ndarray, clips: np.ndarray) -> np.ndarray:
    """The trivial reference predictor: every frame gets its clip's mean reference value."""
    clips = np.asarray(clips)
    out = np.empty(len(reference), np.float64)
    for clip in np.unique(clips):
        rows = clips == clip
        out[rows] = np.asarray(reference, np.float64)[rows].mean()
    return out


def trace_report(predicted: np.ndarray, reference: np.ndarray, clips: np.ndarray, aus: list[str],
                 min_std: float = 0.3) -> dict[str, dict[str, float]]:
    """Per AU: within-clip PCC, the mean per-clip r over moving clips (and how many), and the
    pooled PCC of the clip-mean predictor on the same frames (the floor a model must beat)."""
    report = {}
    clips = np.asarray(clips)
    for j, au in enumerate(aus):
        known = ~np.isnan(reference[:, j])
        p, r, c = predicted[known, j], reference[known, j], clips[known]
        per_clip = per_clip_pcc(p, r, c, min_std)
        report[au] = {"within_pcc": within_clip_pcc(p, r, c),
                      "per_clip_r": float(np.mean(per_clip)) if per_clip else float("nan"),
                      "moving_clips": len(per_clip),
                      "clip_mean_pcc": pcc(clip_means(r, c), r)}
    return report


def summarize_traces(traces: dict[str, dict[str, float]], min_std: float = 0.3) -> dict[str, float]:
    """Means over AUs; the per-clip mean is over all (clip, AU) pairs where the reference moves."""
    pairs = sum(v["moving_clips"] for v in traces.values())
    weighted = sum(v["per_clip_r"] * v["moving_clips"] for v in traces.values() if v["moving_clips"])
    return {"mean_within_pcc": nanmean(v["within_pcc"] for v in traces.values()),
            "mean_per_clip_r": float(weighted / pairs) if pairs else float("nan"),
            "moving_pairs": int(pairs),
            "mean_clip_mean_pcc": nanmean(v["clip_mean_pcc"] for v in traces.values())}

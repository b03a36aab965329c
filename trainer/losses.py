"""MLCR's losses: weighted BCE per view, intensity regression, multi-view and co-regularization.

``L = 1/2 sum_v L_v + lambda_mv L_mv + lambda_cr L_cr`` with ``L_v`` the view's weighted BCE (plus
intensity loss), ``L_mv = mean_j cos(W_1j, W_2j)`` on the GCN-refined classifier weights and
``L_cr = mean_j [H((p1+p2)/2) - (H(p1)+H(p2))/2]``, the views' disagreement, which needs no label
and so also runs on unlabelled faces.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

EPS = 1e-6


def au_weights(occurrence: np.ndarray) -> np.ndarray:
    """Per-AU loss weights inversely proportional to each AU's positive rate, mean 1 (as in
    JAA-Net / MLCR), so rare AUs are not drowned by frequent ones. Unknown labels (<0) skipped."""
    known = occurrence >= 0
    rate = ((occurrence == 1) & known).sum(0) / np.maximum(known.sum(0), 1)
    inverse = 1.0 / np.clip(rate, 0.01, 1.0)
    return (inverse / inverse.sum() * len(inverse)).astype(np.float32)


def weighted_bce(logits: torch.Tensor, targets: torch.Tensor, au_weight: torch.Tensor) -> torch.Tensor:
    """Mean over known labels (target >= 0) of per-AU-weighted binary cross-entropy."""
    known = (targets >= 0).float()
    loss = F.binary_cross_entropy_with_logits(logits, targets.clamp(min=0).float(), reduction="none")
    weighted = loss * au_weight * known
    return weighted.sum() / known.sum().clamp(min=1.0)


def intensity_loss(predicted: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error over known intensities (NaN = unknown)."""
    known = ~torch.isnan(targets)
    if not known.any():
        return predicted.sum() * 0.0
    return F.mse_loss(predicted[known], targets[known])


def ccc_loss(predicted: torch.Tensor, targets: torch.Tensor, min_known: int = 8) -> torch.Tensor:
    """Mean over AUs of ``1 - CCC`` between predicted and known intensities across the batch.

    MSE alone is met by predicting each face's typical level; CCC also asks the prediction to rise
    and fall *with* the label across faces, which is what a trace is read for. AUs with fewer than
    ``min_known`` labels in the batch, or no spread in them, are left out of the mean.
    """
    terms = []
    for j in range(predicted.shape[1]):
        known = ~torch.isnan(targets[:, j])
        if int(known.sum()) < min_known:
            continue
        p, t = predicted[known, j], targets[known, j]
        if float(t.var(unbiased=False)) < 1e-6:
            continue
        covariance = ((p - p.mean()) * (t - t.mean())).mean()
        ccc = 2 * covariance / (p.var(unbiased=False) + t.var(unbiased=False) + (p.mean() - t.mean()) ** 2 + EPS)
        terms.append(1.0 - ccc)
    if not terms:
        return predicted.sum() * 0.0
    return torch.stack(terms).mean()


def within_clip_loss(predicted: torch.Tensor, targets: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Mean squared error of clip-centred intensities: do the predictions move *with* the label
    between frames of one clip?

    ``groups`` (N,) numbers the clip each row came from (-1: a still image, no clip). Each clip's
    mean is removed from prediction and label alike (per AU, over its known labels), so what is
    left is the within-clip change a trace is read for; a predictor that outputs each clip's mean
    scores as badly as one that outputs a constant. Clips with fewer than two rows count for nothing.
    """
    known = (~torch.isnan(targets)) & (groups >= 0).unsqueeze(1)
    ids = torch.unique(groups[groups >= 0])
    if len(ids) == 0 or not known.any():
        return predicted.sum() * 0.0
    member = (groups.unsqueeze(0) == ids.unsqueeze(1)).float()  # (G, N)
    weight = member.unsqueeze(2) * known.unsqueeze(0).float()  # (G, N, J)
    count = weight.sum(1)  # (G, J)
    labels = torch.nan_to_num(targets)
    mean_p = (weight * predicted.unsqueeze(0)).sum(1) / count.clamp(min=1.0)
    mean_t = (weight * labels.unsqueeze(0)).sum(1) / count.clamp(min=1.0)
    residual = (predicted.unsqueeze(0) - mean_p.unsqueeze(1)) - (labels.unsqueeze(0) - mean_t.unsqueeze(1))
    usable = weight * (count >= 2).float().unsqueeze(1)
    if float(usable.sum()) == 0:
        return predicted.sum() * 0.0
    return (usable * residual ** 2).sum() / usable.sum()


def multi_view_loss(weights: torch.Tensor, form: str = "cos") -> torch.Tensor:
    """Mean over AUs of the cosine between the two views' classifier weights (views, C, D).

    ``form="cos"`` is the paper's and ARCHITECTURE.md's ``mean_j cos(W_1j, W_2j)``; minimised, it
    drives the weights anti-parallel (cos -> -1), which one view can satisfy by negating the other's
    features. ``form="abs"`` (``mean_j |cos|``) is minimised only where the weights are orthogonal."""
    cosine = F.cosine_similarity(weights[0], weights[1], dim=-1)
    if form == "abs":
        return cosine.abs().mean()
    if form != "cos":
        raise ValueError(f"multi-view loss form {form!r} (cos, abs)")
    return cosine.mean()


def binary_entropy(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(EPS, 1 - EPS)
    return -(p * torch.log(p) + (1 - p) * torch.log(1 - p))


def co_regularization_loss(logits: torch.Tensor) -> torch.Tensor:
    """``mean_j [H((p1+p2)/2) - (H(p1)+H(p2))/2]`` over the batch and AUs; logits (2, N, C)."""
    p1, p2 = torch.sigmoid(logits[0]), torch.sigmoid(logits[1])
    return (binary_entropy((p1 + p2) / 2) - (binary_entropy(p1) + binary_entropy(p2)) / 2).mean()

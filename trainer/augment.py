"""Batch augmentation on the CPU/GPU tensor: mirror, small similarity jitter, light and contrast;
``strong`` adds the ways a new camera sees a face worse than the training clips did.

Mirroring keeps the labels (OpenFace's AUs are not lateralised). The geometric jitter is small
because the aligner already normalises pose; it teaches tolerance to landmark noise. The strong
set (train.augment: strong) is an experiment of issue #11: the model fits its training people far
better than new ones (within-clip 0.78 vs 0.61), and small faces are followed worst. It lost and
is not in the shipped recipe: at that recipe (width 1.5, 6 epochs, seed 0) validation within-clip
PCC fell from 0.607 to 0.580 (pooled 0.686 -> 0.683, F1 0.689 -> 0.683; MAE 0.282 -> 0.268), a
drop of nine times the seed-to-seed spread, so seeds 1 and 2 were not run.
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def augment(pixels: torch.Tensor, generator: torch.Generator | None = None, strong: bool = False) -> torch.Tensor:
    """pixels: (N, 1, H, W) float 0-255."""
    n = pixels.shape[0]
    device = pixels.device

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator).to(device) * (high - low) + low

    angle = uniform(-10, 10) * math.pi / 180
    scale = uniform(0.93, 1.07)
    shift_x, shift_y = uniform(-0.05, 0.05), uniform(-0.05, 0.05)
    flip = (torch.rand(n, generator=generator) < 0.5).to(device).float() * -2 + 1
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, shift_x], 1), torch.stack([sin * flip, cos, shift_y], 1)], 1)
    grid = F.affine_grid(theta, list(pixels.shape), align_corners=False)
    out = F.grid_sample(pixels, grid, mode="bilinear", padding_mode="border", align_corners=False)
    contrast = uniform(0.7, 1.3).view(n, 1, 1, 1)
    brightness = uniform(-25, 25).view(n, 1, 1, 1)
    mean = out.mean(dim=(2, 3), keepdim=True)
    out = ((out - mean) * contrast + mean + brightness).clamp(0, 255)
    return degrade(out, generator) if strong else out


RESOLUTION_FACTORS = (1.5, 2.0, 3.0)  # a face 1.5-3x smaller than the crop, upsampled by the aligner


def degrade(pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Lower resolution for half the faces, then exposure (gamma 0.7-1.4) and sensor noise
    (sigma 0-6 grey levels) for all."""
    n = pixels.shape[0]
    device = pixels.device
    out = lower_resolution(pixels, generator)
    gamma = (torch.rand(n, generator=generator) * 0.7 + 0.7).to(device).view(n, 1, 1, 1)
    out = 255.0 * (out / 255.0).clamp(0, 1) ** gamma
    sigma = (torch.rand(n, generator=generator) * 6.0).to(device).view(n, 1, 1, 1)
    noise = torch.randn(out.shape, generator=generator).to(device) * sigma
    return (out + noise).clamp(0, 255)


def lower_resolution(pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Half the faces area-downsized by one of RESOLUTION_FACTORS and upsampled back bilinear (a
    small or distant face, as the aligner warps it up); the other half unchanged."""
    n, _, height, width = pixels.shape
    out = pixels.clone()
    pick = torch.randint(len(RESOLUTION_FACTORS) * 2, (n,), generator=generator).to(pixels.device)
    for k, factor in enumerate(RESOLUTION_FACTORS):  # pick >= len(RESOLUTION_FACTORS): full resolution
        rows = (pick == k).nonzero().flatten()
        if len(rows):
            small = F.interpolate(out[rows], size=(round(height / factor), round(width / factor)), mode="area")
            out[rows] = F.interpolate(small, size=(height, width), mode="bilinear", align_corners=False)
    return out

"""Batch augmentation on the CPU/GPU tensor: mirror, small similarity jitter, light and contrast.

Mirroring keeps the labels (OpenFace's AUs are not lateralised). The geometric jitter is small
because the aligner already normalises pose; it teaches tolerance to landmark noise.
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def augment(pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
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
    return ((out - mean) * contrast + mean + brightness).clamp(0, 255)

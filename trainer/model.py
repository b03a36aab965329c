"""The two-view MLCR model (Niu et al., NeurIPS 2019) with occurrence and intensity heads.

Two feature generators of one architecture but independent weights (the views). Each view's
per-AU classifier weights are produced by a two-layer GCN over the AU nodes,
``W_v^t = Â ReLU(Â W_v^0 H0) H1``, so correlated AUs share evidence; ``Â`` is the normalised
label-dependency adjacency, stored in the checkpoint. At inference both views run and their
outputs are averaged.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from auvid.aus import INTENSITY_AUS, INTENSITY_MAX, OCCURRENCE_AUS
from trainer.backbones import build_backbone


@dataclass
class ModelConfig:
    backbone: str = "mobileface"
    width: float = 1.0
    feature_dim: int = 256
    dropout: float = 0.1
    input_size: int = 112
    in_channels: int = 1
    reference: str = "none"  # trainer/reference.py: "clip_median" adds the track's median face as channel 2
    mean: float = 0.5  # on 0-1 pixel values, applied inside the model (and the exported graph)
    std: float = 0.25
    occurrence_aus: tuple[str, ...] = OCCURRENCE_AUS
    intensity_aus: tuple[str, ...] = INTENSITY_AUS
    backbone_kwargs: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["occurrence_aus"] = list(self.occurrence_aus)
        data["intensity_aus"] = list(self.intensity_aus)
        return data

    @staticmethod
    def from_dict(data: dict) -> "ModelConfig":
        data = dict(data)
        data["occurrence_aus"] = tuple(data.get("occurrence_aus", OCCURRENCE_AUS))
        data["intensity_aus"] = tuple(data.get("intensity_aus", INTENSITY_AUS))
        return ModelConfig(**data)


class AUGraphClassifier(nn.Module):
    """Per-view per-AU classifier weights refined by the shared two-layer GCN."""

    def __init__(self, adjacency_norm: np.ndarray, feature_dim: int, views: int = 2) -> None:
        super().__init__()
        n_aus = adjacency_norm.shape[0]
        self.register_buffer("adjacency", torch.as_tensor(adjacency_norm, dtype=torch.float32))
        self.initial = nn.Parameter(torch.randn(views, n_aus, feature_dim) * feature_dim ** -0.5)
        self.h0 = nn.Parameter(torch.eye(feature_dim) + 0.01 * torch.randn(feature_dim, feature_dim))
        self.h1 = nn.Parameter(torch.eye(feature_dim) + 0.01 * torch.randn(feature_dim, feature_dim))
        self.bias = nn.Parameter(torch.zeros(views, n_aus))

    def weights(self) -> torch.Tensor:
        """(views, n_aus, feature_dim): ``Â ReLU(Â W_v^0 H0) H1`` for each view."""
        a = self.adjacency
        hidden = torch.relu(torch.einsum("ij,vjd,de->vie", a, self.initial, self.h0))
        return torch.einsum("ij,vjd,de->vie", a, hidden, self.h1)


class TwoViewAUModel(nn.Module):
    def __init__(self, config: ModelConfig, adjacency_norm: np.ndarray) -> None:
        super().__init__()
        self.config = config
        kwargs = dict(width=config.width, feature_dim=config.feature_dim, dropout=config.dropout,
                      **config.backbone_kwargs)
        if config.backbone != "mobileface":
            kwargs = dict(feature_dim=config.feature_dim, **config.backbone_kwargs)
        self.views = nn.ModuleList([build_backbone(config.backbone, config.in_channels, **kwargs) for _ in range(2)])
        dim = self.views[0].out_dim
        self.classifier = AUGraphClassifier(adjacency_norm, dim)
        with warnings.catch_warnings():  # a data set without intensities (BP4D's occurrence codes): (N, 0)
            warnings.filterwarnings("ignore", "Initializing zero-element tensors")
            self.intensity_heads = nn.ModuleList([nn.Linear(dim, len(config.intensity_aus)) for _ in range(2)])
        self.register_buffer("pixel_mean", torch.tensor(config.mean))
        self.register_buffer("pixel_std", torch.tensor(config.std))

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """0-255 grey pixels -> the backbone's input scale."""
        return (pixels * (1.0 / 255.0) - self.pixel_mean) / self.pixel_std

    def forward_views(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-view outputs for training: occurrence logits (2, N, C) and intensities (2, N, J)."""
        x = self.normalize(pixels)
        weights = self.classifier.weights()
        logits, intensity = [], []
        for v, view in enumerate(self.views):
            features = view(x)
            logits.append(features @ weights[v].t() + self.classifier.bias[v])
            intensity.append(INTENSITY_MAX * torch.sigmoid(self.intensity_heads[v](features)))
        return {"logits": torch.stack(logits), "intensity": torch.stack(intensity), "weights": weights}

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inference: (occurrence probabilities (N, C), intensities (N, J)), both views averaged."""
        out = self.forward_views(pixels)
        return torch.sigmoid(out["logits"]).mean(0), out["intensity"].mean(0)


class InferenceModel(nn.Module):
    """What gets exported: both views, optionally the mirrored face too, averaged."""

    def __init__(self, model: TwoViewAUModel, mirror: bool = True) -> None:
        super().__init__()
        self.model = model
        self.mirror = mirror

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.mirror:
            return self.model(pixels)
        batch = pixels.shape[0]
        both = torch.cat([pixels, torch.flip(pixels, dims=[3])], dim=0)
        prob, intensity = self.model(both)
        return 0.5 * (prob[:batch] + prob[batch:]), 0.5 * (intensity[:batch] + intensity[batch:])

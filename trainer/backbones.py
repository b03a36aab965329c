"""Feature generators (one per view). A registry so a checkpoint can name its backbone."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

BACKBONES: dict[str, Callable[..., nn.Module]] = {}


def register(name: str):
    def wrap(fn):
        BACKBONES[name] = fn
        return fn
    return wrap


def build_backbone(name: str, in_channels: int = 1, **kwargs) -> nn.Module:
    if name not in BACKBONES:
        raise KeyError(f"unknown backbone {name!r}; known: {', '.join(sorted(BACKBONES))}")
    return BACKBONES[name](in_channels=in_channels, **kwargs)


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2's block: expand 1x1, depthwise 3x3, project 1x1, residual when shapes match."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(_conv_bn(cin, hidden, 1))
        layers += [_conv_bn(hidden, hidden, 3, stride, groups=hidden), _conv_bn(hidden, cout, 1, act=False)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x + out if self.residual else out


class MobileFace(nn.Module):
    """A MobileNetV2-style CNN sized for 112x112 grey faces on a CPU core.

    ``width`` scales every channel count; ``feature_dim`` is the per-view feature size that the
    per-AU classifiers act on.
    """

    # (expansion, channels, repeats, stride)
    STAGES = ((1, 16, 1, 1), (4, 24, 2, 2), (4, 40, 2, 2), (4, 80, 3, 2), (4, 112, 1, 1))

    def __init__(self, in_channels: int = 1, width: float = 1.0, feature_dim: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        def ch(c: int) -> int:
            return max(8, int(round(c * width / 8)) * 8)
        layers: list[nn.Module] = [_conv_bn(in_channels, ch(16), 3, 2)]
        cin = ch(16)
        for expand, channels, repeats, stride in self.STAGES:
            for i in range(repeats):
                layers.append(InvertedResidual(cin, ch(channels), stride if i == 0 else 1, expand))
                cin = ch(channels)
        layers.append(_conv_bn(cin, feature_dim, 1))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.out_dim = feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(torch.flatten(self.pool(self.features(x)), 1))


@register("mobileface")
def mobileface(in_channels: int = 1, width: float = 1.0, feature_dim: int = 256, dropout: float = 0.1) -> nn.Module:
    return MobileFace(in_channels, width, feature_dim, dropout)


@register("resnet18")
def resnet18(in_channels: int = 1, feature_dim: int = 512, **_: object) -> nn.Module:
    """A plain ResNet-18 trunk for GPU training where accuracy matters more than CPU speed."""
    from torch.nn import functional as F

    class Basic(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.a = _conv_bn(cin, cout, 3, stride)
            self.b = _conv_bn(cout, cout, 3, act=False)
            self.skip = (nn.Identity() if stride == 1 and cin == cout
                         else _conv_bn(cin, cout, 1, stride, act=False))

        def forward(self, x):
            return F.relu(self.b(self.a(x)) + self.skip(x))

    class ResNet18(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            widths = (64, 128, 256, feature_dim)
            layers: list[nn.Module] = [_conv_bn(in_channels, 64, 7, 2), nn.MaxPool2d(3, 2, 1)]
            cin = 64
            for i, w in enumerate(widths):
                layers += [Basic(cin, w, 1 if i == 0 else 2), Basic(w, w, 1)]
                cin = w
            self.features = nn.Sequential(*layers)
            self.out_dim = feature_dim

        def forward(self, x):
            return torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1)

    return ResNet18()

"""Checkpoints: self-contained (weights, config, AU lists, adjacency, normalisation, metrics,
data description) and loadable with ``torch.load(weights_only=True)``."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from auvid.io.model_files import sha256_of as file_sha256  # noqa: F401  (one implementation, re-exported)
from auvid.errors import ModelError
from trainer.model import ModelConfig, TwoViewAUModel


def save_checkpoint(path: Path, model: TwoViewAUModel, extra: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format": "auvid-checkpoint/1",
        "model_config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "adjacency": model.classifier.adjacency.detach().cpu(),
        **extra,
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> tuple[TwoViewAUModel, dict]:
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"{path}: not a readable auvid checkpoint ({str(exc).splitlines()[0][:160]})") from None
    if not isinstance(state, dict) or state.get("format") != "auvid-checkpoint/1":
        raise ModelError(f"{path}: not an auvid checkpoint")
    config = ModelConfig.from_dict(state["model_config"])
    model = TwoViewAUModel(config, np.asarray(state["adjacency"]))
    model.load_state_dict(state["state_dict"])
    model.eval()
    return model, state



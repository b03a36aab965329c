"""Training configuration: a YAML or TOML file, with ``key.sub=value`` overrides from the CLI."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from auvid.errors import ConfigError

DEFAULTS: dict[str, Any] = {
    "name": "auvid-model",
    "seed": 0,
    "out": "runs/model",
    "data": {
        "root": "../shared/data",
        "cache": "cache/crops",
        "teacher": "static",
        "min_confidence": 0.75,
        "frame_step": 1,
        "val_identities": [],
        "val_group": None,  # trainer/data/splits.yaml's validation group, unless val_identities names people
        "clips": None,
        # A learning curve over people: a seeded random share of the training *people* of the
        # shared clips keeps its clips (validation, test and FER2013 untouched); 1.0 keeps all.
        "people_fraction": 1.0,
        "people_seed": 0,
        "fer": True,  # FER2013 with teacher labels in the training set (never with a protocol)
        "unlabelled_fer": False,  # FER2013 faces, labels dropped, in the unlabelled pool only
        "fer_limit": None,
        "manifests": [],
        "unlabelled_folders": [],
        # A benchmark: {dataset: bp4d|disfa|emotionet, root, fold: 1-3, labelled_fraction, seed,
        # aus (DISFA), labels (EmotioNet label files)}; see trainer/data/protocols.py.
        "protocol": None,
    },
    "model": {"backbone": "mobileface", "width": 1.0, "feature_dim": 256, "dropout": 0.1, "input_size": 96,
              "reference": "none"},  # none, or clip_median: the clip's median face as a second channel
    "train": {
        "epochs": 6,
        "batch_size": 64,
        "unlabelled_batch_size": 32,
        "lr": 2e-3,
        "weight_decay": 1e-4,
        "lambda_mv": 0.1,
        "mv_form": "abs",  # abs (|cos|, ARCHITECTURE.md, MLCR's code: minimal only when orthogonal) or cos
        "lambda_ccc": 0.0,  # weight of a 1 - CCC intensity term beside MSE (traces, not just levels)
        "lambda_within": 0.0,  # weight of the clip-centred intensity MSE (batches then hold clip_frames per clip)
        "clip_frames": 8,  # frames drawn from one clip together when lambda_within > 0
        "lambda_cr": 1.0,
        "lambda_intensity": 1.0,
        "co_regularization": True,
        "use_unlabelled": True,
        "max_steps_per_epoch": None,
        "threads": None,
        "amp": True,
        "reference_dropout": 0.15,  # with model.reference: frames shown the population reference instead
        "augment": True,  # True, False, or "strong" (adds resolution, gamma and noise: trainer/augment.py)
        "init_from": None,
    },
}


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    config = copy.deepcopy(DEFAULTS)
    if path:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file")
        try:
            if path.suffix == ".toml":
                import tomllib

                loaded = tomllib.loads(path.read_text())
            else:
                import yaml

                loaded = yaml.safe_load(path.read_text()) or {}
        except Exception as exc:  # any parse error is the user's to fix
            raise ConfigError(f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'} ({exc})") from None
        _merge(config, loaded, str(path))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not key=value (e.g. train.epochs=2)")
        key, raw = item.split("=", 1)
        _set(config, key.strip(), _parse_value(raw))
    augment = config["train"]["augment"]
    if not (isinstance(augment, bool) or augment == "strong"):  # 1 == True: a number is refused too
        raise ConfigError(f"train.augment: {augment!r} is not true, false or strong")
    teacher = config["data"]["teacher"]
    if teacher not in ("static", "dynamic"):
        raise ConfigError(f"data.teacher: {teacher!r} is not static or dynamic")
    if teacher != "static" and config["data"]["fer"]:
        raise ConfigError(f"data.teacher={teacher}: FER2013 has the static teacher's labels only; set data.fer=false")
    fraction, people_seed = config["data"]["people_fraction"], config["data"]["people_seed"]
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ConfigError(f"data.people_fraction must be a number in (0, 1], not {fraction!r}")
    if type(people_seed) is not int or people_seed < 0:
        raise ConfigError(f"data.people_seed must be a whole number >= 0, not {people_seed!r}")
    if fraction < 1 and config["data"]["protocol"]:
        raise ConfigError("data.people_fraction applies to the shared clips; a protocol has data.protocol.labelled_fraction")
    from trainer.reference import REFERENCE_KINDS

    if config["model"]["reference"] not in REFERENCE_KINDS:
        raise ConfigError(f"model.reference: {config['model']['reference']!r} is not one of {', '.join(REFERENCE_KINDS)}")
    return config


def _merge(base: dict, update: dict, where: str) -> None:
    for key, value in update.items():
        if key not in base:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(base)})")
        if isinstance(base[key], dict) and isinstance(value, dict):
            _merge(base[key], value, f"{where}:{key}")
        else:
            base[key] = value


def _set(config: dict, dotted: str, value: Any) -> None:
    node = config
    parts = dotted.split(".")
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            raise ConfigError(f"unknown config key {dotted!r}")
        node = node[part]
    if parts[-1] not in node:
        raise ConfigError(f"unknown config key {dotted!r}")
    node[parts[-1]] = value


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        if raw.strip().startswith(("[", "{")):  # YAML flow style: [d9, d12] without quotes
            import yaml

            try:
                return yaml.safe_load(raw)
            except yaml.YAMLError:
                raise ConfigError(f"cannot read {raw!r} as a list or mapping") from None
        lowered = raw.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered in ("none", "null"):
            return None
        return raw

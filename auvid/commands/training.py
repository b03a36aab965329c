"""``auvid train``: the training loop (trainer/) plus ONNX export of the result."""
from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "trainer" / "configs" / "default.yaml"


def run_train(config_path: str | None, overrides, resume: bool, export: bool) -> Path:
    from rich.console import Console
    from rich.logging import RichHandler

    from trainer.config import load_config
    from trainer.loop import train

    console = Console(stderr=True)
    handler = RichHandler(console=console, show_path=False)
    trainer_log = logging.getLogger("trainer")
    trainer_log.setLevel(logging.INFO)
    trainer_log.addHandler(handler)
    trainer_log.propagate = False  # the root handler would print every line a second time
    config = load_config(config_path or DEFAULT_CONFIG, overrides)
    if export and config["model"]["reference"] != "none":
        from auvid.errors import ConfigError

        raise ConfigError("model.reference is an experiment the runtime does not feed yet: add --no-export "
                          "(its scores are in the run's metrics.json)")
    base = Path.cwd()
    checkpoint = train(config, base, resume=resume)
    console.print(f"checkpoint: {checkpoint}")
    if export:
        from engines.export import export_onnx

        onnx_path = export_onnx(checkpoint, checkpoint.with_name("model.onnx"), model_name=config["name"])
        console.print(f"exported: {onnx_path} (+ {onnx_path.with_suffix('.json').name})")
    return checkpoint

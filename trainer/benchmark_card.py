"""A short card beside a benchmark run's checkpoint (BP4D / DISFA / EmotioNet): what it was
trained on, including where its unlabelled pool came from, and what it scored on its held-out
fold, so a number quoted from the run says which protocol and data made it."""
from __future__ import annotations

import json
from pathlib import Path


def card_text(config: dict, data: dict, metrics: dict) -> str:
    """Markdown from the run's config, data description and final held-out metrics."""
    protocol = data.get("protocol") or {}
    dataset = str(protocol.get("dataset", "?"))
    pool = data.get("unlabelled_sources") or []
    lines = [
        f"# {config.get('name', 'auvid model')}: {dataset} benchmark run",
        "",
        "## Data",
        f"- Labels: {data.get('labels')} (root `{protocol.get('root')}`); no teacher (OpenFace) labels.",
        f"- Labelled training faces: {data.get('train_faces')} ({float(data.get('labelled_fraction', 1.0)):.0%} of the "
        "training folds keep their labels).",
        "- Unlabelled pool (co-regularization only, never in the supervised loss): "
        + (f"{data.get('unlabelled_faces')} faces from " + "; ".join(pool) if pool else "none") + ".",
        f"- Held out: {data.get('val_faces')} faces.",
        f"- AUs (from the data): occurrence {' '.join(data.get('occurrence_aus') or []) or 'none'}; "
        f"intensity {' '.join(data.get('intensity_aus') or []) or 'none'}.",
        f"- Licence: the terms of {dataset}'s own licence apply to this model.",
        "",
        "## Held-out fold",
        "| AU | F1 | ICC(3,1) | PCC | MAE |",
        "|---|---|---|---|---|",
    ]
    occurrence, intensity = metrics.get("occurrence", {}), metrics.get("intensity", {})
    for au in sorted(set(occurrence) | set(intensity)):
        o, i = occurrence.get(au, {}), intensity.get(au, {})
        lines.append(f"| {au} | {_fmt(o.get('f1'))} | {_fmt(i.get('icc'))} | {_fmt(i.get('pcc'))} | {_fmt(i.get('mae'))} |")
    lines += ["", "The papers' rows average three folds: `auvid eval --data benchmark --fold ... --fold ... --fold ...`."]
    return "\n".join(lines) + "\n"


def write_card(out: Path, config: dict, data: dict, metrics: dict) -> Path:
    path = out / "CARD.md"
    path.write_text(card_text(config, json.loads(json.dumps(data)), metrics))
    return path


def _fmt(value) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"

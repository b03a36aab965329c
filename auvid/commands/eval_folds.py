"""``auvid eval --data benchmark``: per-fold and mean rows for BP4D / DISFA / EmotioNet runs, in
the shape the AU papers report (F1 in % per AU and its average; ICC(3,1), PCC and MAE per AU for
intensity), so a row can be pasted beside ME-GraphAU's or LibreFace's.

Each checkpoint is scored on the fold its own config held out, read again from the data set's
layout (the crops are cached, so this costs one detector pass per data set). The mean row is
the mean of the per-fold values, as the 3-fold protocol reports it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from auvid.errors import InputError

OCCURRENCE_METRICS = (("f1", "F1 (%)", 100.0),)
INTENSITY_METRICS = (("icc", "ICC(3,1)", 1.0), ("pcc", "PCC", 1.0), ("mae", "MAE", 1.0))


def fold_scores(checkpoint: Path, data_root: Path) -> dict:
    """Per-AU occurrence and intensity metrics of one fold's checkpoint on its held-out fold."""
    from trainer.checkpoint import load_checkpoint
    from trainer.datasets import held_out_fold, protocol_crops, resolve
    from trainer.loop import predict, resize_crops
    from trainer.metrics import intensity_report, occurrence_report

    model, state = load_checkpoint(checkpoint)
    config = json.loads(state["train_config"]) if "train_config" in state else {}
    protocol = dict((config.get("data") or {}).get("protocol") or {})
    if not protocol:
        raise InputError(f"{checkpoint}: not a benchmark run (its config has no data.protocol)")
    described = json.loads(state["data"]).get("protocol", {}) if "data" in state else {}
    protocol["root"] = described.get("root", protocol["root"])  # resolved where it was trained
    base = Path.cwd()
    cache = resolve(config["data"]["cache"], base)
    crops = protocol_crops(protocol, base, cache, data_root)
    test = crops.subset(held_out_fold(crops, protocol))
    test = test.relabel(tuple(model.config.intensity_aus), tuple(model.config.occurrence_aus))
    prob, intensity = predict(model, resize_crops(test.crops, model.config.input_size))
    trained_on = json.loads(state["data"]) if "data" in state else {}
    return {
        "checkpoint": str(checkpoint),
        "labels": trained_on.get("labels"),
        "train_faces": trained_on.get("train_faces"),
        "labelled_fraction": trained_on.get("labelled_fraction", 1.0),
        "unlabelled_sources": trained_on.get("unlabelled_sources", []),
        "dataset": str(protocol["dataset"]).lower(),
        "fold": int(protocol["fold"]),
        "frames": int(len(test)),
        "subjects": int(len(np.unique(test.group))),
        "occurrence": occurrence_report(prob, test.occurrence, list(model.config.occurrence_aus)),
        "intensity": intensity_report(intensity, test.intensity, list(model.config.intensity_aus)),
    }


def summarize_folds(folds: list[dict]) -> dict:
    """Per-metric tables: one row per fold and the mean row, per AU plus the average over AUs."""
    tables = {}
    for kind, metrics in (("occurrence", OCCURRENCE_METRICS), ("intensity", INTENSITY_METRICS)):
        aus = list(folds[0][kind])
        if not aus:
            continue
        for key, title, scale in metrics:
            rows = {}
            for fold in folds:
                values = [scale * fold[kind][au][key] for au in aus]
                rows[f"fold {fold['fold']}"] = values + [_nanmean(values)]
            per_au = [_nanmean([row[j] for row in rows.values()]) for j in range(len(aus))]
            rows["mean"] = per_au + [_nanmean(per_au)]
            tables[key] = {"title": title, "aus": aus, "rows": rows}
    return tables


def run_fold_eval(checkpoints: list[str], data_root: str, json_out: str | None) -> dict:
    from rich.console import Console
    from rich.table import Table

    if not checkpoints:
        raise InputError("--data benchmark needs the fold checkpoints: --fold runs/bp4d-fold1/last.pt --fold ...")
    root = Path(data_root)
    if not root.is_dir():
        raise InputError(f"{root}: data folder not found (pass --data-root; it provides the face detector)")
    paths = [Path(c) for c in checkpoints]
    for path in paths:
        if not path.is_file():
            raise InputError(f"{path}: no such checkpoint")
    folds = sorted((fold_scores(path, root) for path in paths), key=lambda f: f["fold"])
    datasets = {f["dataset"] for f in folds}
    if len(datasets) > 1:
        raise InputError(f"the checkpoints come from different data sets ({', '.join(sorted(datasets))})")
    numbers = [f["fold"] for f in folds]
    if len(set(numbers)) != len(numbers):
        raise InputError(f"two checkpoints test the same fold ({numbers}); give one per fold")
    if len({tuple(f["occurrence"]) for f in folds}) > 1:
        raise InputError("the fold checkpoints do not share one AU list")
    tables = summarize_folds(folds)
    widest = max(len(t["aus"]) for t in tables.values()) if tables else 0
    console = Console()
    console = Console(width=max(console.width, 16 + 8 * (widest + 1)))  # one row per fold, never wrapped
    dataset = folds[0]["dataset"].upper() if folds[0]["dataset"] != "emotionet" else "EmotioNet"
    for key, table_data in tables.items():
        table = Table(title=f"{dataset} {table_data['title']}, {len(folds)} fold(s)")
        table.add_column("")
        for au in table_data["aus"]:
            table.add_column(f"AU{int(au[2:])}", justify="right")
        table.add_column("Avg.", justify="right")
        digits = 1 if key == "f1" else 2
        for name, values in table_data["rows"].items():
            table.add_row(name, *("-" if np.isnan(v) else f"{v:.{digits}f}" for v in values),
                          style="bold" if name == "mean" else None)
        console.print(table)
    for fold in folds:
        pool = "; ".join(fold["unlabelled_sources"]) or "none"
        console.print(f"fold {fold['fold']}: {fold['frames']} frames of {fold['subjects']} subject(s) held out; "
                      f"trained on {fold['train_faces']} labelled faces ({fold['labels']}, "
                      f"{fold['labelled_fraction']:.0%} of the training folds), unlabelled pool: {pool}; "
                      f"{fold['checkpoint']}")
    if len(folds) < 3 and folds[0]["dataset"] in ("bp4d", "disfa", "emotionet"):
        console.print(f"[yellow]only fold(s) {numbers} given: the papers' rows average all 3 folds[/yellow]")
    result = {"dataset": folds[0]["dataset"], "folds": folds,
              "tables": {k: {**v, "rows": {r: [None if np.isnan(x) else x for x in vals] for r, vals in v["rows"].items()}}
                         for k, v in tables.items()}}
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=2, default=float))
        console.print(f"wrote {json_out}")
    return result


def _nanmean(values) -> float:
    values = np.asarray(values, np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")

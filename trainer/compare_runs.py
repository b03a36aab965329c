"""Configurations compared over seeds on the validation people: the table a model decision rests on.

``python -m trainer.compare_runs --run NAME DIR [DIR ...] --run NAME2 ... --out FILE.json`` reads
each run's ``metrics.json`` (the trainer's final validation: all validation frames, mirror averaged)
and writes, per configuration, every seed's figures and their mean and spread. A checkpoint given
instead of a run folder (the shipped model, say) is evaluated on the same validation crops, so every
row is measured on the same frames.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

KEYS = ("mean_within_pcc", "mean_per_clip_r", "mean_pcc", "mean_clip_mean_pcc", "mean_ccc", "mean_mae", "mean_f1")


def run_summary(path: Path) -> dict:
    """A run folder's final validation summary (the trainer's metrics.json)."""
    record = json.loads((path / "metrics.json").read_text())
    return {"run": str(path), **{k: record["final"]["val"][k] for k in KEYS}}


def checkpoint_summary(path: Path, config: str = "trainer/configs/candidate.yaml") -> dict:
    """A checkpoint scored on the validation group's crops by the trainer's own evaluate()."""
    from trainer import datasets
    from trainer.checkpoint import load_checkpoint
    from trainer.config import load_config
    from trainer.loop import evaluate, resize_crops

    model, state = load_checkpoint(path)
    data = datasets.build(load_config(config), Path.cwd())
    pixels = resize_crops(data.val.crops, model.config.input_size)
    if model.config.reference != "none":  # trainer/reference.py: the face beside its clip's median
        from trainer.reference import with_clip_references

        pixels = with_clip_references(pixels, data.val.source, data.val.key, state["population_reference"])
    summary = evaluate(model, pixels, data.val)["summary"]
    return {"run": str(path), **{k: summary[k] for k in KEYS}}


def compare(runs: dict[str, list[Path]]) -> dict:
    table = {}
    for name, paths in runs.items():
        seeds = [checkpoint_summary(p) if p.is_file() else run_summary(p) for p in paths]
        values = np.array([[s[k] for k in KEYS] for s in seeds], dtype=float)
        table[name] = {"seeds": seeds,
                       "mean": dict(zip(KEYS, values.mean(0).round(4).tolist())),
                       "std": dict(zip(KEYS, values.std(0).round(4).tolist()))}
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", nargs="+", action="append", metavar=("NAME", "DIR"), required=True,
                        help="a configuration's name, then its run folders (one per seed) or a checkpoint")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    table = compare({name: [Path(p) for p in paths] for name, *paths in args.run})
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    for name, row in table.items():
        print(f"{name:12s} n={len(row['seeds'])} " + " ".join(
            f"{k.removeprefix('mean_')}={row['mean'][k]:.3f}±{row['std'][k]:.3f}" for k in KEYS))


if __name__ == "__main__":
    main()

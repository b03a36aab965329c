"""What averaging each face with its mirror image buys (the shipped default; `--no-mirror` skips
it): the trainer's validation figures with and without it, on every validation crop.

    python -m trainer.experiments.mirror CHECKPOINT [CHECKPOINT ...]
"""
import sys
from pathlib import Path

import torch

from trainer import datasets
from trainer.checkpoint import load_checkpoint
from trainer.config import load_config
from trainer.loop import evaluate, resize_crops

FIGURES = ("mean_within_pcc", "mean_per_clip_r", "mean_pcc", "mean_ccc", "mean_f1")


def main(checkpoints: list[str]) -> None:
    torch.set_num_threads(2)
    data = datasets.build(load_config("trainer/configs/default.yaml"), Path.cwd())
    for checkpoint in checkpoints:
        model = load_checkpoint(checkpoint)[0]
        pixels = resize_crops(data.val.crops, model.config.input_size)
        for mirror in (True, False):
            summary = evaluate(model, pixels, data.val, mirror=mirror)["summary"]
            print(checkpoint, "mirror" if mirror else "no mirror",
                  " ".join(f"{k}={summary[k]:.4f}" for k in FIGURES), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

"""Epoch orders for the training loop: plain shuffles, or batches made of runs of one clip.

A clip-centred loss (``train.lambda_within``) needs several frames of the same clip in a batch to
see how the labels move within it; a random shuffle over ~100 clips rarely puts two together.
"""
from __future__ import annotations

import numpy as np
import torch


def is_video_frame(keys: np.ndarray) -> np.ndarray:
    """Rows whose key is a frame number (a clip's frame), not an image path (FER2013, a manifest)."""
    return np.char.isdigit(np.asarray(keys).astype(str))


def clip_grouped_order(sources: np.ndarray, in_clip: np.ndarray, frames: int,
                       generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A permutation of all rows in runs of ``frames`` rows of one clip, and each row's run number.

    Every row appears once per epoch, as with a shuffle. Rows of a clip are shuffled and cut into
    runs (the last may be shorter); still images are cut into runs too but get run number -1, so a
    clip-centred loss leaves them out. The runs are then shuffled, so a batch of ``batch_size``
    rows holds ``batch_size / frames`` clips, mostly different ones.
    """
    if frames < 2:
        raise ValueError(f"clip_frames={frames}: a run needs at least 2 frames")
    sources = np.asarray(sources)
    seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
    rng = np.random.default_rng(seed)
    still_order = rng.permutation(np.flatnonzero(~in_clip))
    still_runs = [still_order[s:s + frames] for s in range(0, len(still_order), frames)]
    runs: list[tuple[np.ndarray, bool]] = [(run, False) for run in still_runs]
    for source in np.unique(sources[in_clip]):
        rows = rng.permutation(np.flatnonzero(in_clip & (sources == source)))
        runs.extend((rows[s:s + frames], True) for s in range(0, len(rows), frames))
    order, run_ids = [], []
    for number, k in enumerate(rng.permutation(len(runs))):
        rows, clip = runs[k]
        order.append(rows)
        run_ids.append(np.full(len(rows), number if clip else -1))
    if not order:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    return torch.from_numpy(np.concatenate(order)).long(), torch.from_numpy(np.concatenate(run_ids)).long()

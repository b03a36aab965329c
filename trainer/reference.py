"""A person reference beside each face (issue #11 experiment): the model sees the crop and its
clip's median crop as a second channel, so it can read a change from this person's usual face.

OpenFace's dynamic AU models subtract a person's running median HOG; auvid's feature-level
version of that (a ridge head on clip-centred features, trainer/experiments/feature_heads.py)
did not help. Here the comparison is learned end to end from pixels. A face without a clip
(FER2013) or, at run time, a track too young for a median gets the population reference: the
median of the training clips' medians. Training also shows that reference in place of the
clip's for a fraction of frames (``train.reference_dropout``), so a young track is not unseen.

Result on the validation people (all frames, mirror averaged, the clip's median as reference), at
the shipped recipe (width 1.5, 6 epochs, candidate losses), seed 0 (``runs/w15ref-s0``) against
the standard runs (``runs/w15-s0..2``): within-clip PCC 0.604 vs 0.607 (seeds 0.607 / 0.610 /
0.604), pooled 0.691 vs 0.686, F1 0.692 vs 0.689, CCC 0.663 vs 0.649, MAE 0.279 vs 0.282. A tie on
the measure it was built for (it trailed by 0.01-0.05 at every epoch before the last); seeds 1
and 2 were not run. Trained on OpenFace's person-calibrated labels instead (``data.teacher=dynamic``,
``data.fer=false``, ``runs/w15dynref-s0``) it scored pooled PCC 0.438 / within-clip 0.480 against
those labels, where the static model with ``--calibrate``'s percentile rule scores 0.628-0.633 /
0.600-0.603 on the same frames (three seeds): far behind. The runtime does not feed a reference,
so export refuses such a checkpoint.
"""
from __future__ import annotations

import numpy as np
import torch

REFERENCE_KINDS = ("none", "clip_median")
MEDIAN_FRAMES = 400  # frames a median is taken over (evenly spaced): bounded, as a runtime buffer would be


def median_face(pixels: torch.Tensor, limit: int = MEDIAN_FRAMES) -> torch.Tensor:
    """Pixel-wise median of uint8 crops (n, 1, s, s) over at most ``limit`` evenly spaced rows."""
    rows = np.linspace(0, len(pixels) - 1, num=min(limit, len(pixels))).round().astype(int)
    return torch.from_numpy(np.median(pixels[rows].numpy(), axis=0).round().astype(np.uint8))


def clip_references(pixels: torch.Tensor, sources: np.ndarray, in_clip: np.ndarray,
                    population: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference crops (k, 1, s, s) and each row's index into them (n,).

    Index 0 is the population reference (given, or the median of these clips' medians); every
    clip's frames point at their clip's median; still images at index 0."""
    sources = np.asarray(sources)
    clips = np.unique(sources[in_clip])
    medians = [median_face(pixels[np.flatnonzero(in_clip & (sources == clip))]) for clip in clips]
    if population is None:
        if not medians:
            raise ValueError("no clip to take a population reference from")
        population = torch.from_numpy(np.median(torch.stack(medians).numpy(), axis=0).round().astype(np.uint8))
    index = np.zeros(len(pixels), np.int64)
    for k, clip in enumerate(clips, start=1):
        index[in_clip & (sources == clip)] = k
    return torch.stack([population, *medians]), torch.from_numpy(index)


def with_reference(pixels: torch.Tensor, references: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(n, 1, s, s) faces and their reference -> (n, 2, s, s)."""
    return torch.cat([pixels, references[index]], dim=1)


def with_clip_references(pixels: torch.Tensor, sources: np.ndarray, keys: np.ndarray,
                         population: torch.Tensor) -> torch.Tensor:
    """Faces of a scored set (validation, a comparison) beside their clip's median, stills beside
    the training run's ``population`` reference: (n, 1, s, s) -> (n, 2, s, s)."""
    from trainer.sampling import is_video_frame

    references, index = clip_references(pixels, sources, is_video_frame(keys), population=population)
    return with_reference(pixels, references, index)


def drop_references(index: torch.Tensor, fraction: float, generator: torch.Generator) -> torch.Tensor:
    """A copy of ``index`` with a random ``fraction`` of rows pointed at the population reference."""
    if fraction <= 0:
        return index
    dropped = torch.rand(len(index), generator=generator) < fraction
    return torch.where(dropped, torch.zeros_like(index), index)

"""Each MLCR loss against a value computed by hand on a small tensor."""
import math

import numpy as np
import pytest
import torch

from trainer import losses


def test_weighted_bce_matches_hand_value_and_skips_unknown_labels():
    logits = torch.tensor([[0.0, 2.0], [1.0, -1.0]])
    targets = torch.tensor([[1, 0], [-1, 1]])
    weights = torch.tensor([2.0, 0.5])
    # known entries: (0,0) y=1 z=0 -> ln2 * 2 ; (0,1) y=0 z=2 -> ln(1+e^2) * 0.5 ; (1,1) y=1 z=-1 -> ln(1+e) * 0.5
    expected = (2 * math.log(2) + 0.5 * math.log(1 + math.e ** 2) + 0.5 * math.log(1 + math.e)) / 3
    assert losses.weighted_bce(logits, targets, weights).item() == pytest.approx(expected, rel=1e-6)


def test_au_weights_favour_rare_aus_and_average_one():
    labels = np.array([[1, 0], [1, 0], [1, 1], [0, -1]])  # AU a: 3/4 positive; AU b: 1/3
    w = losses.au_weights(labels)
    # inverse rates 4/3 and 3, normalised to mean 1
    assert w == pytest.approx([2 * (4 / 3) / (4 / 3 + 3), 2 * 3 / (4 / 3 + 3)], rel=1e-6)


def test_intensity_loss_ignores_nan():
    predicted = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    targets = torch.tensor([[2.0, float("nan")], [3.0, 4.0]])
    assert losses.intensity_loss(predicted, targets).item() == pytest.approx((1 + 0 + 16) / 3)


def test_multi_view_loss_is_mean_cosine():
    weights = torch.tensor([[[1.0, 0.0], [1.0, 1.0]], [[0.0, 1.0], [2.0, 2.0]]])
    # AU 1: orthogonal -> 0 ; AU 2: parallel -> 1
    assert losses.multi_view_loss(weights).item() == pytest.approx(0.5)
    opposite = torch.tensor([[[1.0, 0.0]], [[-3.0, 0.0]]])
    assert losses.multi_view_loss(opposite).item() == pytest.approx(-1.0)  # the paper's form rewards this
    assert losses.multi_view_loss(opposite, "abs").item() == pytest.approx(1.0)  # |cos| penalises it
    assert losses.multi_view_loss(weights, "abs").item() == pytest.approx(0.5)


def test_co_regularization_is_zero_when_views_agree_and_matches_hand_value():
    same = torch.tensor([[[0.3, -2.0]], [[0.3, -2.0]]])
    assert losses.co_regularization_loss(same).item() == pytest.approx(0.0, abs=1e-7)
    p1, p2 = 0.9, 0.1
    logits = torch.tensor([[[math.log(p1 / (1 - p1))]], [[math.log(p2 / (1 - p2))]]])

    def h(p):
        return -(p * math.log(p) + (1 - p) * math.log(1 - p))

    expected = h(0.5) - (h(p1) + h(p2)) / 2
    assert losses.co_regularization_loss(logits).item() == pytest.approx(expected, rel=1e-5)
    assert expected > 0


def test_within_clip_loss_ignores_clip_offsets_and_stills_and_matches_hand_value():
    targets = torch.tensor([[1.0], [3.0], [0.0], [4.0], [2.0]])
    groups = torch.tensor([0, 0, 1, 1, -1])
    # Each clip's prediction shifted by its own constant: the within-clip change is exact -> 0.
    shifted = targets + torch.tensor([[5.0], [5.0], [-1.0], [-1.0], [9.0]])
    assert losses.within_clip_loss(shifted, targets, groups).item() == pytest.approx(0.0, abs=1e-7)
    # The clip-mean predictor: residuals are the centred labels (+-1 and +-2); the still is left out.
    clip_mean = torch.tensor([[2.0], [2.0], [2.0], [2.0], [0.0]])
    assert losses.within_clip_loss(clip_mean, targets, groups).item() == pytest.approx((1 + 1 + 4 + 4) / 4)


def test_within_clip_loss_skips_unknown_labels_and_single_frame_clips():
    targets = torch.tensor([[1.0, float("nan")], [3.0, 2.0], [0.0, 1.0]])
    predicted = torch.tensor([[0.0, 7.0], [0.0, 0.0], [5.0, 5.0]])
    groups = torch.tensor([0, 0, 1])  # clip 1 has one frame: nothing to centre
    # AU a of clip 0: centred labels -1, +1, prediction flat -> residuals 1, 1; AU b has one known row.
    assert losses.within_clip_loss(predicted, targets, groups).item() == pytest.approx(1.0)
    assert losses.within_clip_loss(predicted, targets, torch.tensor([-1, -1, -1])).item() == 0.0

"""The person reference input (trainer/reference.py) on hand-made crops with known medians."""
import numpy as np
import pytest
import torch

from trainer.reference import clip_references, drop_references, median_face, with_clip_references, with_reference


def _crops(values):
    """One 4x4 uint8 crop per value, every pixel that value: (n, 1, 4, 4)."""
    return torch.tensor(values, dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 4, 4).contiguous()


def test_median_face_is_the_pixelwise_median_over_evenly_spaced_frames():
    assert median_face(_crops([0, 10, 20, 200, 30])).unique().tolist() == [20]
    # at most `limit` frames: 0..99 sampled at 3 evenly spaced rows (0, 50, 99) -> 50
    assert median_face(_crops(list(range(100))), limit=3).unique().tolist() == [50]


def test_each_clip_points_at_its_median_and_stills_at_the_population():
    pixels = _crops([10, 12, 14, 100, 104, 200, 0])
    sources = np.array(["a", "a", "a", "b", "b", "fer", "fer"])
    in_clip = np.array([True] * 5 + [False] * 2)
    references, index = clip_references(pixels, sources, in_clip)
    assert index.tolist() == [1, 1, 1, 2, 2, 0, 0]
    assert [int(r.unique()) for r in references] == [57, 12, 102]  # population: median of 12 and 102, rounded
    given = _crops([77])[0]
    references, _ = clip_references(pixels, sources, in_clip, population=given)
    assert int(references[0].unique()) == 77  # validation faces get the training population's reference
    stacked = with_reference(pixels, references, index)
    assert stacked.shape == (7, 2, 4, 4)
    assert stacked[:, 1, 0, 0].tolist() == [12, 12, 12, 102, 102, 77, 77]
    assert torch.equal(stacked[:, :1], pixels)
    # a scored set: clip frames are keyed by frame number, stills by path
    keys = np.array(["1", "2", "3", "1", "2", "a.jpg", "b.jpg"])
    assert torch.equal(with_clip_references(pixels, sources, keys, given), stacked)


def test_a_population_reference_needs_a_clip():
    with pytest.raises(ValueError, match="no clip"):
        clip_references(_crops([1, 2]), np.array(["x", "y"]), np.array([False, False]))


def test_reference_dropout_points_the_asked_fraction_at_the_population():
    index = torch.arange(1, 10001)
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(drop_references(index, 0.0, generator), index)
    dropped = drop_references(index, 0.15, generator)
    zero = dropped == 0
    assert 0.13 < zero.float().mean() < 0.17
    assert torch.equal(dropped[~zero], index[~zero])
    assert (drop_references(index, 1.0, generator) == 0).all()


def test_config_refuses_an_unknown_reference():
    from auvid.errors import ConfigError
    from trainer.config import load_config

    assert load_config(None, ["model.reference=clip_median"])["model"]["reference"] == "clip_median"
    with pytest.raises(ConfigError, match="model.reference"):
        load_config(None, ["model.reference=median"])

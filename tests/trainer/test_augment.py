"""Training augmentation on real aligned faces: both sets keep shape and range; the strong set
(train.augment: strong) really lowers half the faces' resolution and changes every face,
reproducibly per seed; a misspelt setting is refused."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (auvid[train])")

from auvid.errors import ConfigError  # noqa: E402
from trainer.augment import augment, degrade, lower_resolution  # noqa: E402
from trainer.config import load_config  # noqa: E402


@pytest.fixture(scope="module")
def faces(aligned_faces):
    import cv2

    crops = np.stack([cv2.resize(c, (96, 96), interpolation=cv2.INTER_AREA) for c in aligned_faces])
    return torch.from_numpy(crops[:, None].astype(np.float32))


def _detail(x: torch.Tensor) -> float:
    """Mean absolute difference between horizontal neighbours: what lower resolution removes."""
    return float((x[..., 1:] - x[..., :-1]).abs().mean())


def test_both_sets_keep_shape_and_range(faces):
    for strong in (False, True):
        out = augment(faces, torch.Generator().manual_seed(0), strong=strong)
        assert out.shape == faces.shape and out.dtype == faces.dtype
        assert float(out.min()) >= 0 and float(out.max()) <= 255


def test_half_the_faces_lose_detail_the_others_are_untouched(faces):
    many = faces.repeat(8, 1, 1, 1)
    out = lower_resolution(many, torch.Generator().manual_seed(1))
    untouched = np.array([torch.equal(a, b) for a, b in zip(out, many)])
    assert 0.25 < untouched.mean() < 0.75, untouched.mean()
    for a, b in zip(out[~untouched], many[~untouched]):
        assert _detail(a) < 0.9 * _detail(b)  # factor 1.5 keeps ~0.81 of it, 3 much less


def test_strong_set_changes_every_face_reproducibly(faces):
    many = faces.repeat(8, 1, 1, 1)
    a = degrade(many, torch.Generator().manual_seed(1))
    assert torch.equal(a, degrade(many, torch.Generator().manual_seed(1)))
    assert not torch.equal(a, degrade(many, torch.Generator().manual_seed(2)))
    assert ((a - many).abs().flatten(1).mean(1) > 0.5).all()


def test_augment_setting_is_checked():
    assert load_config(None, ["train.augment=strong"])["train"]["augment"] == "strong"
    for wrong in ("strng", "1"):
        with pytest.raises(ConfigError, match="train.augment"):
            load_config(None, [f"train.augment={wrong}"])

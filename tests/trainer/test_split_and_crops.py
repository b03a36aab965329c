"""The person split behind every published figure, the CCC loss, and one crop path for training
and run time."""
import numpy as np
import pytest
import torch

from tests.conftest import MODELS, SHARED, clip, needs_shared
from trainer.data.people import GROUPS, derive_split, load_split, read_people
from trainer.losses import ccc_loss


def test_split_groups_are_disjoint_and_named():
    split = load_split()
    assert set(split) == set(GROUPS)
    assert not set(split["validation"]) & set(split["test"])
    assert len(split["test"]) >= 15 and len(split["validation"]) >= 15


def test_derive_split_keeps_trained_people_out_of_both_groups_and_validated_people_out_of_test():
    people = {f"clip{i}": f"p{i}" for i in range(40)}
    frames = {f"p{i}": 100 + i for i in range(40)}
    split = derive_split(people, frames, shipped_train={"p0", "p1"}, shipped_validation={"p2"})
    assert "p2" in split["validation"] and "p2" not in split["test"]
    assert not {"p0", "p1"} & (set(split["validation"]) | set(split["test"]))
    assert 0.3 < len(split["test"]) / 37 < 0.5


@needs_shared
def test_split_matches_people_csv_and_the_shipped_model_never_saw_a_test_person():
    import json

    people = read_people(SHARED)
    listed = set(people.values())
    split = load_split()
    assert set(split["validation"]) <= listed and set(split["test"]) <= listed
    state = torch.load(_shipped_checkpoint(), map_location="cpu", weights_only=True)
    trained = {people.get(c, c) for c in json.loads(state["data"])["train_sources"]}
    assert not trained & set(split["test"]) and not trained & set(split["validation"])


def _shipped_checkpoint():
    from engines.select import DEFAULT_MODEL

    return DEFAULT_MODEL.with_suffix(".pt")


@needs_shared
def test_training_never_sees_a_test_person(tmp_path):
    from trainer.config import load_config
    from trainer.datasets import build

    test_clip = "deepavsr_00008"  # a test-group person (74 frames)
    config = load_config(None, [f"data.root={SHARED}", f"data.cache={tmp_path}", "data.fer=false",
                                f"data.clips=[{test_clip}, d0, single_face]", "data.val_identities=[d0]"])
    data = build(config, tmp_path)
    assert test_clip not in set(data.train.source) | set(data.val.source)
    assert set(data.val.source) == {"d0"} and set(data.train.source) == {"single_face"}


def test_ccc_loss_known_answers():
    targets = torch.linspace(0, 4, 32)[:, None].repeat(1, 2)
    assert float(ccc_loss(targets.clone(), targets)) == pytest.approx(0.0, abs=1e-5)
    assert float(ccc_loss(-targets + 4, targets)) == pytest.approx(2.0, abs=1e-4)
    constant = torch.full_like(targets, float(targets.mean()))
    assert float(ccc_loss(constant, targets)) == pytest.approx(1.0, abs=1e-5)
    missing = targets.clone()
    missing[:, 1] = float("nan")  # an AU with no labels is left out, not NaN
    assert float(ccc_loss(targets, missing)) == pytest.approx(0.0, abs=1e-5)


@needs_shared
def test_training_and_runtime_crops_are_identical_for_a_real_frame(tmp_path):
    """The model sees at run time the pixels it saw in training: the training cache's 112 px crop
    reduced by the trainer equals the crop `auvid process` feeds the engine, bit for bit."""
    from auvid.pipeline import Analyzer, AnalyzerOptions
    from auvid.io.sources import VideoFileSource
    from trainer.data.crops import video_crops
    from trainer.loop import resize_crops

    video = clip("d0.mp4")
    cached = video_crops(video, SHARED / "labels" / "openface" / "d0.static.csv", "d0",
                         MODELS / "face_detection_yunet_2023mar.onnx", tmp_path, size=112)
    assert cached.key[0] == "1"
    training_crop = resize_crops(cached.crops[:1], 96)[0, 0].numpy()
    analyzer = Analyzer(AnalyzerOptions(models_dir=str(MODELS)))
    first = next(iter(VideoFileSource(video, max_frames=1)))
    runtime_crop = analyzer._prepare(first).crops[0]
    assert analyzer.engine.input_size == 96
    assert np.array_equal(training_crop, runtime_crop)


def test_training_people_sample_is_a_seeded_nested_subset_of_the_people():
    from trainer.datasets import sample_training_people as training_people_share

    groups = np.array(["a", "a", "b", "c", "c", "d"])
    half = training_people_share(groups, 0.5, seed=0)
    assert len(half) == 2 and set(half) <= {"a", "b", "c", "d"}
    assert training_people_share(groups, 0.5, seed=0) == half
    assert {tuple(training_people_share(groups, 0.5, seed=s)) for s in range(10)} != {tuple(half)}
    assert training_people_share(groups, 1.0, seed=3) == ["a", "b", "c", "d"]
    assert len(training_people_share(groups, 0.01, seed=0)) == 1
    many = np.array([f"p{i}" for i in range(40)])
    for seed in range(3):  # a learning curve's smaller shares are inside its larger ones
        shares = [set(training_people_share(many, f, seed)) for f in (0.125, 0.25, 0.5, 1.0)]
        assert all(small < large for small, large in zip(shares, shares[1:]))


@needs_shared
def test_people_fraction_drops_whole_training_people_and_keeps_validation(tmp_path):
    from trainer.config import load_config
    from trainer.datasets import build

    clips = "data.clips=[d0, single_face, changeLighting]"
    base = [f"data.root={SHARED}", f"data.cache={tmp_path}", "data.fer=false", clips, "data.val_identities=[d0]"]
    full = build(load_config(None, base), tmp_path)
    half = build(load_config(None, base + ["data.people_fraction=0.5"]), tmp_path)
    assert set(full.train.group) == {"single_face", "openface_samples"}  # changeLighting's person
    assert len(set(half.train.group)) == 1 and set(half.train.group) < set(full.train.group)
    kept = half.train.group[0]
    assert len(half.train) == int((full.train.group == kept).sum())  # every frame of the kept person
    assert np.array_equal(half.val.crops, full.val.crops)
    assert half.description["people_fraction"] == 0.5


def test_people_fraction_is_checked():
    from auvid.errors import ConfigError
    from trainer.config import load_config

    for bad in ("0", "1.5", "-0.2", "true", "half"):
        with pytest.raises(ConfigError, match="people_fraction"):
            load_config(None, [f"data.people_fraction={bad}"])
    for bad in ("-1", "0.5", "x"):
        with pytest.raises(ConfigError, match="people_seed"):
            load_config(None, [f"data.people_seed={bad}"])
    with pytest.raises(ConfigError, match="labelled_fraction"):
        load_config("trainer/configs/bp4d_fold1.yaml", ["data.people_fraction=0.5"])
    assert load_config(None, ["data.people_fraction=0.25", "data.people_seed=2"])["data"]["people_fraction"] == 0.25

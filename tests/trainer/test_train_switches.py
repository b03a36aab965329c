"""The trainer's switches reach the loop: co-regularization, the unlabelled pool, augmentation and
the clip-centred loss and the person reference input each change what is trained, on a tiny real run (two clips, 64 FER2013 faces, 4 steps)."""
import json

import pytest

from tests.conftest import REPO, SHARED, needs_shared

pytestmark = needs_shared


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One epoch of 4 steps per setting; the baseline twice, to show the runs are deterministic."""
    import torch

    from trainer.config import load_config
    from trainer.loop import train

    folder = tmp_path_factory.mktemp("switches")
    common = [f"data.root={SHARED}", f"data.cache={folder / 'cache'}", "data.clips=[d0, d12]",
              "data.val_identities=[d12]", "data.fer=true", "data.fer_limit=64", "model.width=0.25",
              "model.feature_dim=32", "model.input_size=64", "train.epochs=1", "train.max_steps_per_epoch=4",
              "train.batch_size=16", "train.unlabelled_batch_size=8", "train.threads=1"]
    settings = {"baseline": [], "again": [], "no_co_regularization": ["train.co_regularization=false"],
                "no_unlabelled": ["train.use_unlabelled=false"],
                # co-regularization off: no unlabelled batch is drawn, so augmentation of the
                # labelled batch is the only difference left between these two
                "no_co_regularization_no_augment": ["train.co_regularization=false", "train.augment=false"],
                "within_clip": ["train.lambda_within=1.0", "train.clip_frames=4"],
                "reference": ["model.reference=clip_median"],
                # one step each: the labelled batch, its forward and its dropout are the same with
                # and without the pool (the unlabelled batch is drawn after them)
                "one_step": ["train.max_steps_per_epoch=1"],
                "one_step_no_unlabelled": ["train.use_unlabelled=false", "train.max_steps_per_epoch=1"]}
    threads = torch.get_num_threads()
    histories = {}
    try:
        for name, extra in settings.items():
            config = load_config(None, common + extra + [f"out={folder / name}"])
            train(config, REPO, progress=False)
            metrics = json.loads((folder / name / "metrics.json").read_text())
            histories[name] = metrics | {"out": folder / name}
    finally:
        torch.set_num_threads(threads)
    return histories


def _losses(run):
    return run["history"][0]["train"]


def test_the_tiny_run_is_deterministic_and_has_an_unlabelled_pool(runs):
    assert _losses(runs["baseline"]) == _losses(runs["again"])
    assert runs["baseline"]["data"]["unlabelled_faces"] > 0  # FER faces the teacher could not label


def test_co_regularization_switch(runs):
    assert _losses(runs["baseline"])["cr"] > 0
    assert _losses(runs["no_co_regularization"])["cr"] == 0.0


def test_unlabelled_pool_switch(runs):
    """With the pool on, L_cr also averages in the unlabelled batch's disagreement; off, it does not.
    Over one step the labelled half is identical in both runs (same supervised loss), so a
    different L_cr can only come from the unlabelled batch's term."""
    on, off = _losses(runs["one_step"]), _losses(runs["one_step_no_unlabelled"])
    assert off["cr"] > 0 and on["sup"] == off["sup"] and on["mv"] == off["mv"]
    assert on["cr"] != off["cr"]


def test_augment_switch(runs):
    assert _losses(runs["no_co_regularization_no_augment"])["sup"] != _losses(runs["no_co_regularization"])["sup"]


def test_within_clip_switch_trains_on_clip_runs_and_validation_reports_within_clip(runs):
    assert _losses(runs["baseline"])["within"] == 0.0
    assert _losses(runs["within_clip"])["within"] > 0  # batches held runs of one clip to centre
    assert _losses(runs["within_clip"])["sup"] != _losses(runs["baseline"])["sup"]
    val = runs["baseline"]["final"]["val"]  # the held-out clip d12: issue #11's measure beside the pooled one
    assert -1 <= val["mean_within_pcc"] <= 1 and val["mean_within_pcc"] != 0
    assert val["mean_clip_mean_pcc"] == 0.0  # one held-out clip: its clip-mean predictor is a constant


def test_reference_switch_trains_a_two_channel_model_that_reads_its_reference(runs, tmp_path):
    """model.reference=clip_median: the checkpoint takes (face, reference) and keeps the population
    reference for faces without a track history; the reference channel changes the output."""
    import torch

    from trainer.checkpoint import load_checkpoint

    assert _losses(runs["reference"])["sup"] != _losses(runs["baseline"])["sup"]
    model, state = load_checkpoint(runs["reference"]["out"] / "last.pt")
    assert model.config.in_channels == 2 and model.config.reference == "clip_median"
    population = state["population_reference"]
    assert population.shape == (1, 64, 64) and population.dtype == torch.uint8 and 60 < population.float().mean() < 200
    face = population.unsqueeze(0).float()
    with torch.no_grad():
        same = model(torch.cat([face, face], 1))[1]
        other = model(torch.cat([face, torch.flip(face, dims=[2])], 1))[1]
    assert not torch.allclose(same, other)


def test_a_reference_model_is_not_exported_for_a_runtime_that_cannot_feed_it(runs, tmp_path):
    from auvid.errors import ModelError
    from engines.export import export_onnx

    with pytest.raises(ModelError, match="runtime does not feed"):
        export_onnx(runs["reference"]["out"] / "last.pt", tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())

import numpy as np
import pytest
import torch

from trainer.model import InferenceModel, ModelConfig, TwoViewAUModel
from trainer.relations import normalized_adjacency


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    a = normalized_adjacency(np.abs(np.random.default_rng(0).uniform(-1, 1, (18, 18))) * 0.5 + np.eye(18) * 0.5)
    return TwoViewAUModel(ModelConfig(input_size=64, feature_dim=32, width=0.5), a).eval()


def test_gcn_classifier_weights_follow_the_mlcr_formula(model):
    c = model.classifier
    a, w0, h0, h1 = (t.detach().numpy() for t in (c.adjacency, c.initial, c.h0, c.h1))
    for v in range(2):
        expected = a @ np.maximum(a @ w0[v] @ h0, 0) @ h1
        np.testing.assert_allclose(c.weights()[v].detach().numpy(), expected, rtol=1e-4, atol=1e-5)


def test_views_are_independent_networks(model):
    first, second = (dict(v.named_parameters()) for v in model.views)
    assert first.keys() == second.keys()
    assert all(first[k].data_ptr() != second[k].data_ptr() for k in first)
    assert any(not torch.equal(first[k], second[k]) for k in first)


def test_outputs_have_the_openface_shapes_and_ranges(model):
    x = torch.rand(3, 1, 64, 64) * 255
    prob, intensity = model(x)
    assert prob.shape == (3, 18) and intensity.shape == (3, 17)
    assert (prob >= 0).all() and (prob <= 1).all() and (intensity >= 0).all() and (intensity <= 5).all()
    views = model.forward_views(x)
    np.testing.assert_allclose(prob.detach(), torch.sigmoid(views["logits"]).mean(0).detach(), atol=1e-6)


def test_mirror_averaging(model):
    x = torch.rand(2, 1, 64, 64) * 255
    prob, intensity = InferenceModel(model, mirror=True)(x)
    p1, i1 = model(x)
    p2, i2 = model(torch.flip(x, dims=[3]))
    np.testing.assert_allclose(prob.detach(), ((p1 + p2) / 2).detach(), atol=1e-6)
    np.testing.assert_allclose(intensity.detach(), ((i1 + i2) / 2).detach(), atol=1e-6)


def test_the_model_card_describes_the_shipped_checkpoint():
    """The card's headline numbers and hash must be the shipped checkpoint's own, not a stale run's."""
    import json
    import re

    from engines.select import DEFAULT_CHECKPOINT
    from trainer.checkpoint import file_sha256

    card = (DEFAULT_CHECKPOINT.parent / "MODEL_CARD.md").read_text()
    state = torch.load(DEFAULT_CHECKPOINT, map_location="cpu", weights_only=True)
    summary = json.loads(state["metrics"])["summary"]
    assert file_sha256(DEFAULT_CHECKPOINT) in card
    headline = re.search(r"\*\*PCC ([0-9.]+)\*\*, CCC ([0-9.]+), ICC\(3,1\) ([0-9.]+), MAE ([0-9.]+)", card)
    assert headline, "the card has no headline metrics line"
    assert [float(v) for v in headline.groups()] == pytest.approx(
        [summary["mean_pcc"], summary["mean_ccc"], summary["mean_icc"], summary["mean_mae"]], abs=5e-4)
    published = json.loads((DEFAULT_CHECKPOINT.parent / "eval-test.json").read_text())["summary"]
    readme = (DEFAULT_CHECKPOINT.parents[2].parent / "README.md").read_text()
    assert f"mean PCC of **{published['mean_within_pcc']:.3f}**" in readme
    assert f"{published['mean_clip_mean_pcc']:.3f} of a reference that outputs each clip's mean" in readme
    assert f"**within-clip PCC {published['mean_within_pcc']:.3f}**" in card


def test_the_model_card_compares_co_regularization_only_between_runs_of_equal_length():
    from trainer.model_card import _on_minus_off

    def run(name, epochs, on, pcc):
        train = {"epochs": epochs, "co_regularization": on, "use_unlabelled": on, "mv_form": "cos"}
        return name, train, {"mean_pcc": pcc, "mean_f1": 0.5, "mean_mae": 0.3}

    lines = _on_minus_off([run("shipped", 8, True, 0.72), run("short", 4, True, 0.68), run("off4", 4, False, 0.69),
                           run("off6", 6, False, 0.70)])
    assert lines == ["- co-regularization + unlabelled on minus off at 4 epochs (`short` minus `off4`): "
                     "PCC -0.010, F1 +0.000, MAE +0.000."]  # off6 has no 6-epoch partner: no line

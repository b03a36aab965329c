"""`auvid train` end to end on real shared data (a small config), then eval and resume."""
import json

import pytest
import torch

from tests.conftest import needs_shared, run_cli


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "run"
    result = run_cli("train", "--config", "trainer/configs/smoke.yaml", "--set", f"out={out}", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@needs_shared
def test_loss_falls_and_beats_a_constant_predictor(smoke_run):
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    history = metrics["history"]
    assert history[-1]["train"]["loss"] < 0.8 * history[0]["train"]["loss"]
    state = torch.load(smoke_run / "last.pt", weights_only=True)
    final = json.loads(state["metrics"])
    # A constant has no correlation at all; the untrained model's first epoch barely any (0.08 when
    # this was written, 0.25 after five epochs): demand real learning, with room for platform noise.
    assert final["summary"]["mean_pcc"] > 0.15
    assert final["summary"]["mean_pcc"] > history[0]["val"]["mean_pcc"] + 0.08
    # Agreement, not only correlation: a constant predictor has a CCC of exactly 0 (0.03 after the
    # first epoch here, 0.13 after five). The smoke model's MAE does not beat the training mean on
    # two unseen people (0.59 vs 0.58: a per-person offset it cannot learn from seven), so MAE is
    # not what this minute-long run can show.
    assert final["summary"]["mean_ccc"] > 0.08


@needs_shared
def test_checkpoint_is_self_contained(smoke_run, tmp_path, aligned_faces):
    """The checkpoint alone, away from its run folder, rebuilds the model (weights_only), and the
    ONNX export beside it computes the same scores on real faces and names it by hash."""
    import shutil

    import cv2
    import numpy as np

    from engines.onnxrt import OnnxRuntimeEngine
    from trainer.checkpoint import file_sha256, load_checkpoint
    from trainer.model import InferenceModel

    state = torch.load(smoke_run / "last.pt", weights_only=True)
    assert state["adjacency"].shape == (18, 18) and state["model_config"]["input_size"] == 64
    assert json.loads(state["data"])["val_identities"] == ["d12", "d9"]
    alone = tmp_path / "elsewhere" / "model.pt"
    alone.parent.mkdir()
    shutil.copy(smoke_run / "last.pt", alone)
    model, _ = load_checkpoint(alone)
    faces = np.stack([cv2.resize(c, (64, 64), interpolation=cv2.INTER_AREA) for c in aligned_faces])[:, None]
    faces = faces.astype(np.float32)
    with torch.no_grad():
        prob, intensity = (t.numpy() for t in InferenceModel(model, mirror=True)(torch.from_numpy(faces)))
    assert intensity.std(axis=0).max() > 0.05  # a trained model, whose outputs vary with the face
    manifest = json.loads((smoke_run / "model.json").read_text())
    assert manifest["checkpoint_sha256"] == file_sha256(smoke_run / "last.pt")
    with OnnxRuntimeEngine(smoke_run / "model.onnx") as engine:
        onnx_prob, onnx_intensity = engine.infer(faces)
    assert np.abs(onnx_prob - prob).max() < 1e-4 and np.abs(onnx_intensity - intensity).max() < 1e-4


@needs_shared
def test_eval_of_a_trained_checkpoint(smoke_run, tmp_path):
    """`auvid eval` runs a fresh .pt (torch backend) and refuses held-out figures for people it
    trained on: the smoke run trained on d3, a validation-group person."""
    out = tmp_path / "eval.json"
    result = run_cli("eval", str(smoke_run / "last.pt"), "--data", "afar", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "AU12" in result.stdout and "F1" in result.stdout
    metrics = json.loads(out.read_text())
    assert metrics["frames"] >= 15 and "AU12" in metrics["occurrence"]
    refused = run_cli("eval", str(smoke_run / "last.pt"), "--split", "validation")
    assert refused.returncode == 2, refused.stderr
    assert "trained on" in refused.stderr and "validation people" in refused.stderr
    assert "Traceback" not in refused.stderr


@needs_shared
def test_resume_continues_from_the_last_epoch(smoke_run, tmp_path):
    """On a copy of the run (other tests read the original): epochs 1-5 are kept as they were, and
    epoch 6 continues from epoch 5's weights. Fresh weights would start over: the smoke run's
    first epoch has a validation PCC of ~0.08 and its fifth ~0.25, and at the schedule's tail one
    epoch at a low learning rate cannot climb back."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    before = json.loads((run / "metrics.json").read_text())["history"]
    result = run_cli("train", "--config", "trainer/configs/smoke.yaml", "--set", f"out={run}",
                     "--set", "train.epochs=6", "--resume", "--no-export", timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    history = json.loads((run / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4, 5, 6]
    assert history[:5] == before
    first, fifth, sixth = history[0], history[4], history[5]
    assert sixth["train"]["loss"] < first["train"]["loss"] - 0.5 * (first["train"]["loss"] - fifth["train"]["loss"])
    assert sixth["val"]["mean_pcc"] > first["val"]["mean_pcc"] + 0.5 * (fifth["val"]["mean_pcc"] - first["val"]["mean_pcc"])
    assert torch.load(run / "last.pt", weights_only=True)["epoch"] == 6


@needs_shared
def test_resume_refuses_other_training_data(smoke_run, tmp_path):
    """A --resume that would train the rest of a run on another share of people is one line, exit 2,
    before any weight is touched."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    result = run_cli("train", "--config", "trainer/configs/smoke.yaml", "--set", f"out={run}",
                     "--set", "data.people_fraction=0.5", "--set", "train.epochs=6", "--resume", "--no-export",
                     timeout=600)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "other data (train_sources, train_faces, people_fraction differ)" in result.stderr
    assert "Traceback" not in result.stderr
    assert torch.load(run / "last.pt", weights_only=True)["epoch"] == 5  # untouched


def test_bad_config_is_one_line():
    result = run_cli("train", "--config", "nope.yaml")
    assert result.returncode == 2 and "no such config file" in result.stderr
    result = run_cli("train", "--set", "train.nonsense=1")
    assert result.returncode == 2 and "unknown config key" in result.stderr
    result = run_cli("train", "--set", "model.reference=clip_median")  # refused before any training
    assert result.returncode == 2 and "--no-export" in result.stderr and "Traceback" not in result.stderr


@needs_shared
def test_fine_tuning_starts_from_another_runs_weights(smoke_run, tmp_path):
    """FG2020's recipe: pre-train, then fine-tune from those weights. One epoch from the smoke
    run's weights must already beat one epoch from scratch (0.08 PCC) by a margin."""
    result = run_cli("train", "--config", "trainer/configs/smoke.yaml", "--set", f"out={tmp_path / 'tuned'}",
                     "--set", f"train.init_from={smoke_run / 'last.pt'}", "--set", "train.epochs=1",
                     "--set", "train.lr=0.001", "--no-export", timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    history = json.loads((tmp_path / "tuned" / "metrics.json").read_text())["history"]
    first_from_scratch = json.loads((smoke_run / "metrics.json").read_text())["history"][0]["val"]["mean_pcc"]
    assert history[0]["val"]["mean_pcc"] > first_from_scratch + 0.08
    mismatch = run_cli("train", "--config", "trainer/configs/smoke.yaml", "--set", f"out={tmp_path / 'bad'}",
                       "--set", f"train.init_from={smoke_run / 'last.pt'}", "--set", "model.feature_dim=64",
                       "--no-export", timeout=600)
    assert mismatch.returncode != 0 and "model.feature_dim=128" in mismatch.stderr and "Traceback" not in mismatch.stderr

"""Accuracy gates on the shipped model: `auvid eval` through the runtime path (fresh crops, no
cache) on the held-out *test* people and on AFAR's human codes, against the figures published in
``auvid/models/default/eval-*.json`` (the model card's source).

Tolerances: the evaluation is deterministic on one machine (same ONNX graph, same frames; two runs
gave identical figures); the slack covers other CPUs' floating-point paths in ONNX Runtime and
FFmpeg builds. A drop of a few points in a mean, or of several in one AU, fails.
"""
import json
import math
from pathlib import Path

import pytest

from tests.conftest import REPO, SHARED, needs_shared, run_cli

pytestmark = needs_shared
PUBLISHED = REPO / "auvid" / "models" / "default"
MEAN_SLACK = 0.01
AU_SLACK = 0.04
F1_AU_SLACK = 0.08


def _published(name: str) -> dict:
    return json.loads((PUBLISHED / name).read_text())


@pytest.fixture(scope="module")
def test_people_metrics(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("eval") / "test.json"
    result = run_cli("eval", "--split", "test", "--data-root", str(SHARED), "--json", str(out), timeout=900)
    assert result.returncode == 0, result.stderr
    assert "within" in result.stdout and "clip-mean" in result.stdout
    return json.loads(out.read_text())


def test_test_people_means_hold_the_published_figures(test_people_metrics):
    published = _published("eval-test.json")
    assert test_people_metrics["people"] == published["people"]
    assert test_people_metrics["frames"] >= published["frames"] - 20
    for key in ("mean_within_pcc", "mean_pcc", "mean_f1", "mean_per_clip_r"):
        assert test_people_metrics["summary"][key] >= published["summary"][key] - MEAN_SLACK, key
    # the clip-mean reference depends on the teacher's labels only: a change here means other frames
    assert test_people_metrics["summary"]["mean_clip_mean_pcc"] == pytest.approx(
        published["summary"]["mean_clip_mean_pcc"], abs=0.01)


def test_test_people_per_au_floors(test_people_metrics):
    published = _published("eval-test.json")
    for au, values in published["intensity"].items():
        got = test_people_metrics["intensity"][au]
        for key in ("within_pcc", "pcc"):
            if not math.isnan(values[key]):
                assert got[key] >= values[key] - AU_SLACK, (au, key, got[key], values[key])
    gated = {au: v["f1"] for au, v in published["occurrence"].items() if v["f1"] - F1_AU_SLACK > 0}
    assert len(gated) >= 15  # AUs whose published F1 is within the slack of 0 (AU17) count in the mean only
    for au, floor in gated.items():
        assert test_people_metrics["occurrence"][au]["f1"] >= floor - F1_AU_SLACK, au


def test_afar_f1_floors(tmp_path):
    out = tmp_path / "afar.json"
    result = run_cli("eval", "--data", "afar", "--data-root", str(SHARED), "--json", str(out))
    assert result.returncode == 0, result.stderr
    metrics = json.loads(out.read_text())
    published = _published("eval-afar.json")
    shared_aus = {"AU01", "AU02", "AU04", "AU06", "AU07", "AU10", "AU12", "AU14", "AU15", "AU17", "AU23"}
    assert set(metrics["occurrence"]) == shared_aus  # AU24 is not in OpenFace's set
    assert metrics["frames"] + len(metrics["missed"]) == 18 and metrics["frames"] >= published["frames"]

    def mean_f1(m):
        return sum(v["f1"] for v in m["occurrence"].values()) / len(m["occurrence"])

    assert mean_f1(metrics) >= mean_f1(published) - 0.03
    # one flipped frame of 18 moves an AU's F1 by up to 0.15; an AU published below that (AU04 at
    # 0.0) cannot fall and counts in the mean only
    gated = {au: v["f1"] for au, v in published["occurrence"].items() if v["f1"] - 0.15 > 0}
    assert len(gated) >= 9
    for au, floor in gated.items():
        assert metrics["occurrence"][au]["f1"] >= floor - 0.15, au


def test_eval_refuses_a_data_root_without_people(tmp_path):
    result = run_cli("eval", "--data-root", str(tmp_path))
    assert result.returncode != 0
    assert "people.csv" in result.stderr and "Traceback" not in result.stderr

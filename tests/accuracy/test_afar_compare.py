"""Paired comparison of two models on AFAR's human codes (auvid.commands.afar_compare): the
bootstrap on hand-made decisions with known answers, and the command on the real frames."""
import subprocess
import sys

import numpy as np

from auvid.commands.afar_compare import paired_bootstrap
from tests.conftest import REPO, SHARED, MODELS, needs_shared


def _codes(frames: int = 18) -> dict:
    rng = np.random.default_rng(1)
    return {au: rng.random(frames) < 0.4 for au in ("AU01", "AU04", "AU12")}


def test_a_model_against_itself_differs_by_nothing():
    reference = _codes()
    result = paired_bootstrap(reference, reference, reference, resamples=200)
    assert result["difference"] == 0 and result["interval_95"] == [0, 0]
    assert result["a"] == 1.0 and set(result["frames_deciding_differently"].values()) == {0}


def test_the_human_codes_beat_their_negation_in_every_resample():
    reference = _codes()
    negated = {au: ~codes for au, codes in reference.items()}
    result = paired_bootstrap(reference, negated, reference, resamples=200)
    assert result["difference"] == 1.0  # F1 1 against F1 0 on every AU
    assert result["interval_95"][0] > 0.9 and result["share_a_lower"] == 0
    assert result["frames_deciding_differently"] == {au: 18 for au in reference}


def test_one_flipped_frame_moves_the_mean_but_its_interval_spans_zero():
    reference = _codes()
    flipped = {au: codes.copy() for au, codes in reference.items()}
    flipped["AU12"][np.flatnonzero(reference["AU12"])[0]] = False  # one missed positive
    result = paired_bootstrap(flipped, reference, reference, resamples=500)
    assert result["difference"] < 0
    low, high = result["interval_95"]
    assert low < 0 and high == 0  # never better, often equal: one frame is weak evidence


@needs_shared
def test_the_command_compares_the_shipped_int8_graph_with_its_fp32_graph_on_the_real_frames():
    """Two different graphs of one model, each scored as `auvid eval --data afar` scores it: A's
    mean is the published one (eval-afar.json), and the two descriptions name the two graphs."""
    import json
    import re

    fp32 = REPO / "auvid" / "models" / "default" / "auvid-default.onnx"
    result = subprocess.run([sys.executable, "-m", "auvid.commands.afar_compare", "default", str(fp32),
                             "--data-root", str(SHARED), "--resamples", "100"], capture_output=True, text=True,
                            timeout=300, cwd=REPO, env={"AUVID_MODELS_DIR": str(MODELS), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("default:") and "int8" in lines[0] and "fp32" in lines[1]
    published = json.loads((REPO / "auvid" / "models" / "default" / "eval-afar.json").read_text())["occurrence"]
    published_mean = sum(v["f1"] for v in published.values()) / len(published)
    a, b, difference = map(float, re.search(r"A ([\d.]+), B ([\d.]+), A - B ([+-][\d.]+)", result.stdout).groups())
    assert abs(a - published_mean) < 0.03 and abs((a - b) - difference) < 0.0015
    assert re.search(r"95% interval \[[+-][\d.]+, [+-][\d.]+\]", result.stdout)


def test_a_missing_model_is_one_line_not_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "auvid.commands.afar_compare", "default", str(tmp_path / "gone.onnx"),
                             "--data-root", str(SHARED)], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "gone.onnx" in result.stderr.strip().splitlines()[-1]

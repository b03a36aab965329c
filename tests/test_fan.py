"""`--landmarks fan` (face-alignment's 68 points). face-alignment downloads its weights on first
use, which no test may do: the test runs only where the package and its weights are present."""
import importlib.util

import pytest

from tests.conftest import clip, needs_shared, read_csv, run_cli

pytestmark = needs_shared


def _why_not() -> str | None:
    if importlib.util.find_spec("face_alignment") is None:
        return "face-alignment is not installed (pip install 'auvid[fan]')"
    from auvid.landmarks_fan import fan_weights_present

    if not fan_weights_present():
        return "face-alignment's 2DFAN4 weights are not in torch's hub cache, and tests never download"
    return None


def test_fan_landmarks_process_a_clip(tmp_path):
    why = _why_not()
    if why:
        pytest.skip(why)
    out = tmp_path / "a.csv"
    result = run_cli("process", str(clip("single_face.mp4")), "--out", str(out), "--landmarks", "fan", "--quiet")
    assert result.returncode == 0, result.stderr
    assert read_csv(out)["success"].mean() > 0.9


def test_fan_without_the_package_is_a_clear_error(tmp_path):
    if importlib.util.find_spec("face_alignment") is not None:
        pytest.skip("face-alignment is installed here")
    result = run_cli("process", str(clip("single_face.mp4")), "--out", str(tmp_path / "a.csv"), "--landmarks", "fan")
    assert result.returncode == 2 and "auvid[fan]" in result.stderr

"""The Python API exactly as README.md shows it, run on a real clip: it must work as pasted and
give the same numbers as `auvid process`."""
import ast
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from auvid.aus import INTENSITY_AUS
from tests.conftest import MODELS, REPO, clip, needs_shared, read_csv, run_cli


def _readme_snippet() -> str:
    readme = (REPO / "README.md").read_text()
    match = re.search(r"Python API:\s*```python\n(.*?)```", readme, re.S)
    assert match, "README.md no longer shows a Python API example"
    return match.group(1)


def test_the_readme_snippet_is_valid_python_on_a_clip_placeholder():
    code = _readme_snippet()
    ast.parse(code)
    assert code.count('"clip.mp4"') == 1  # the one thing a user replaces


@needs_shared
def test_the_readme_python_api_runs_and_matches_the_cli(tmp_path):
    code = _readme_snippet().replace('"clip.mp4"', repr(str(clip("single_face.mp4"))))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(REPO), "AUVID_MODELS_DIR": str(MODELS)})
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 72
    out = tmp_path / "cli.csv"
    assert run_cli("process", str(clip("single_face.mp4")), "--out", str(out), "--quiet").returncode == 0
    table = read_csv(out)
    for line, (_, row) in zip(lines, table.iterrows()):
        frame, face_id, values = line.split(" ", 2)
        assert int(frame) == row["frame"] and int(face_id) == row["face_id"]
        values = ast.literal_eval(re.sub(r"np\.float32\(([^)]*)\)", r"\1", values))
        assert list(values) == list(INTENSITY_AUS)
        assert np.abs(np.array(list(values.values())) - row[[f"{a}_r" for a in INTENSITY_AUS]].to_numpy(float)).max() <= 0.0051


def test_the_python_api_refuses_frame_rates_the_cli_refuses(tmp_path):
    """fps=0 divided by zero on an image folder and nan gave nan timestamps; as `--fps` does, the
    API says so before any work."""
    import auvid
    from auvid.errors import ConfigError

    for fps in (0, -5, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="not a positive number"):
            auvid.analyze(tmp_path, fps=fps)
        with pytest.raises(ConfigError, match="not a positive number"):
            auvid.analyze_many([tmp_path], tmp_path / "out", fps=fps)
    assert not (tmp_path / "out").exists()

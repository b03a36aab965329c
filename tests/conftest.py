"""Shared fixtures: the real data in ../shared/data (tests skip with the reason when absent)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("AUVID_SHARED_DATA", REPO.parent / "shared" / "data"))
VIDEOS = SHARED / "videos"
LABELS = SHARED / "labels" / "openface"
MODELS = SHARED / "models"

needs_shared = pytest.mark.skipif(not (VIDEOS.is_dir() and MODELS.is_dir()),
                                  reason=f"the shared data set is not at {SHARED} (../shared/data)")


@pytest.fixture(autouse=True)
def _models_dir(monkeypatch):
    """The detector comes from the shared data, never from the network."""
    if MODELS.is_dir():
        monkeypatch.setenv("AUVID_MODELS_DIR", str(MODELS))


def clip(name: str) -> Path:
    path = VIDEOS / name
    if not path.exists():
        pytest.skip(f"{path} is not in the shared data")
    return path


def run_cli(*args: str, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """The real `auvid` command, as a user runs it. ``env`` adds variables; a value of None
    removes one (e.g. AUVID_MODELS_DIR, to test --models-dir and the download cache)."""
    full_env = dict(os.environ)
    full_env["AUVID_MODELS_DIR"] = str(MODELS)
    for key, value in (env or {}).items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    return subprocess.run([sys.executable, "-m", "auvid.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=REPO)


def use_pycuda_buffers(monkeypatch) -> None:
    """Make engines.cuda_buffers take its pycuda fallback, as where cuda-python is not installed."""
    from auvid.errors import ModelError
    from engines import cuda_buffers

    def no_cuda_python():
        raise ModelError(cuda_buffers.CUDA_PYTHON_MISSING)

    monkeypatch.setattr(cuda_buffers, "import_cudart", no_cuda_python)


def traces_by_backend(tmp_path: Path, models: dict[str, str], env: dict | None = None) -> tuple[dict, dict]:
    """`auvid process` on d0.mp4 (78 frames) once per backend, ``{backend: model}``: each CSV as a
    table, and each run's printed output (unwrapped: COLUMNS=200)."""
    tables, outputs = {}, {}
    for backend, model in models.items():
        out = tmp_path / f"{backend}.csv"
        result = run_cli("process", str(clip("d0.mp4")), "--out", str(out), "--backend", backend, "--model", model,
                         env={"COLUMNS": "200", **(env or {})})
        assert result.returncode == 0, result.stderr
        tables[backend], outputs[backend] = read_csv(out), result.stdout + result.stderr
    return tables, outputs


def assert_same_traces(a, b, intensity_tolerance: float, occurrence_disagreement: float) -> None:
    """Two runs' CSVs row for row: every intensity within ``intensity_tolerance`` (0-5 scale), and
    occurrence decisions differing on less than ``occurrence_disagreement`` of the cells."""
    assert len(a) == len(b) == 78
    columns = [c for c in a.columns if c.endswith("_r")]
    assert np.abs(a[columns].to_numpy() - b[columns].to_numpy()).max() <= intensity_tolerance
    occurrence = [c for c in a.columns if c.endswith("_c")]
    assert (a[occurrence].to_numpy() != b[occurrence].to_numpy()).mean() < occurrence_disagreement


def read_csv(path: Path):
    import pandas as pd

    return pd.read_csv(path)


def teacher(name: str):
    from trainer.data.openface_csv import read_openface_csv

    path = LABELS / name
    if not path.exists():
        pytest.skip(f"{path} is not in the shared data")
    return read_openface_csv(path)


@pytest.fixture(scope="session")
def aligned_faces() -> np.ndarray:
    """Real aligned faces (112x112 grey) from three shared clips, through the runtime path."""
    if not VIDEOS.is_dir():
        pytest.skip(f"the shared data set is not at {SHARED}")
    from auvid.stages.align import Aligner
    from auvid.stages.detect import YuNetDetector
    from auvid.io.sources import VideoFileSource, to_gray

    detector = YuNetDetector(MODELS / "face_detection_yunet_2023mar.onnx")
    aligner = Aligner(112)
    crops = []
    for name in ("single_face.mp4", "d3.mp4", "2015-10-15-15-14.avi"):
        for frame in VideoFileSource(VIDEOS / name, max_frames=40):
            if frame.index % 10:
                continue
            faces = detector.detect(frame.image)
            if faces:
                crops.append(aligner.align(to_gray(frame.image), faces[0].landmarks))
    return np.stack(crops)

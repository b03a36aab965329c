"""`auvid build-engine` and the TensorRT backend as a user with only `auvid[tensorrt]` (no torch)
or less meets them: artefacts written, then one line and a non-zero exit, never a traceback.

How torch is made absent: a ``sitecustomize`` on PYTHONPATH puts a finder first on
``sys.meta_path`` that raises ModuleNotFoundError for ``torch`` (and optionally ``onnx``) and
their submodules, before any auvid code runs. That is what Python itself raises for a package
that is not installed, so every ``import torch`` (ours or a dependency's) fails as it would
there; the test checks the block works before relying on it. A fresh venv with only the
runtime packages would be the most literal test, but it would download and install
onnxruntime, opencv, av and the rest (hundreds of MB) on each CI run of a 2-core machine.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engines.manifest import Manifest, manifest_path_for
from engines.select import DEFAULT_CHECKPOINT, DEFAULT_MODEL
from engines.tensorrt_backend import tensorrt_available
from tests.conftest import REPO, clip, needs_shared, run_cli

BLOCKER = """
import importlib.abc
import sys

BLOCKED = {blocked!r}


class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
"""


def _without(tmp_path: Path, *blocked: str) -> dict:
    """Environment whose Python cannot import ``blocked`` (checked)."""
    site = tmp_path / "site-block"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(textwrap.dedent(BLOCKER.format(blocked=set(blocked))))
    kept = [part for part in os.environ.get("PYTHONPATH", "").split(os.pathsep) if part]  # e.g. a --target install
    env = {"PYTHONPATH": os.pathsep.join([str(site), str(REPO), *kept])}
    probe = subprocess.run([sys.executable, "-c", f"import {blocked[0]}"], capture_output=True, text=True,
                           env={**os.environ, **env}, cwd=REPO)
    assert probe.returncode != 0 and "No module named" in probe.stderr, "the import block is not in effect"
    return env


def _one_line(result: subprocess.CompletedProcess) -> str:
    err = result.stderr.strip()
    assert "Traceback" not in result.stdout + result.stderr
    assert len(err.splitlines()) == 1, err
    return err


def test_build_engine_without_torch_writes_both_onnx_models_then_one_line(tmp_path):
    env = _without(tmp_path, "torch")
    out = tmp_path / "out"
    result = run_cli("build-engine", "--out", str(out), env=env)
    fp32, fp16 = sorted(out.glob("*.fp32.onnx")), sorted(out.glob("*.fp16.onnx"))
    assert len(fp32) == 1 and len(fp16) == 1, result.stdout + result.stderr
    # FP32: the shipped graph itself; both manifests name the shipped checkpoint
    assert fp32[0].read_bytes() == DEFAULT_MODEL.read_bytes()
    shipped = Manifest.load(manifest_path_for(DEFAULT_MODEL))
    for path, precision in ((fp32[0], "fp32"), (fp16[0], "fp16")):
        manifest = Manifest.for_model(path, "onnxruntime", "ONNX Runtime")
        assert manifest.precision == precision and manifest.checkpoint_sha256 == shipped.checkpoint_sha256
        assert manifest.mirror_averaged is True
    assert "ms at batch 1" in result.stdout and "ms at batch 8" in result.stdout
    if tensorrt_available()[0]:
        pytest.skip("TensorRT and a GPU are here: the engine step ran (tests/engines/test_gpu.py checks it)")
    assert result.returncode == 4
    line = _one_line(result)
    assert line.startswith("auvid: error: the TensorRT step needs an NVIDIA GPU") and "auvid[tensorrt]" in line
    assert not list(out.glob("*.part"))


def test_without_onnx_either_build_engine_names_the_extra_and_leaves_no_model(tmp_path):
    env = _without(tmp_path, "torch", "onnx")
    out = tmp_path / "out"
    result = run_cli("build-engine", "--out", str(out), env=env)
    assert result.returncode == 2
    line = _one_line(result)
    assert "need the onnx package" in line and "pip install 'auvid[onnx]'" in line and "'auvid[tensorrt]'" in line
    assert not list(out.glob("*.onnx")) and not list(out.glob("*.part"))


def test_a_custom_checkpoint_without_torch_names_the_train_extra(tmp_path):
    env = _without(tmp_path, "torch")
    custom = tmp_path / "custom.pt"
    shutil.copy(DEFAULT_CHECKPOINT, custom)  # no exported ONNX beside it: it must be traced
    result = run_cli("build-engine", "--checkpoint", str(custom), "--out", str(tmp_path / "out"), env=env)
    assert result.returncode == 2
    line = _one_line(result)
    assert "needs torch: pip install 'auvid[train]'" in line


def test_no_mirror_from_the_shipped_checkpoint_without_torch_names_the_train_extra(tmp_path):
    """The shipped ONNX averages mirrors; the plain graph has to be traced again."""
    env = _without(tmp_path, "torch")
    result = run_cli("build-engine", "--no-mirror", "--out", str(tmp_path / "out"), env=env)
    assert result.returncode == 2 and "auvid[train]" in _one_line(result)


@needs_shared
def test_process_with_the_tensorrt_backend_and_no_tensorrt_is_one_line(tmp_path):
    if tensorrt_available()[0]:
        pytest.skip("TensorRT and a GPU are here: tests/engines/test_gpu.py runs this backend")
    env = _without(tmp_path, "torch")
    out = tmp_path / "a.csv"
    result = run_cli("process", str(clip("single_face.mp4")), "--out", str(out), "--backend", "tensorrt", env=env)
    assert result.returncode == 2
    line = _one_line(result)
    assert "TensorRT backend unavailable" in line and "auvid[tensorrt" in line
    assert not out.exists()


@needs_shared
def test_process_auto_without_torch_runs_on_onnx_runtime(tmp_path):
    """The runtime path needs no torch (ARCHITECTURE.md): `--backend auto` with torch blocked."""
    env = _without(tmp_path, "torch")
    out = tmp_path / "a.csv"
    result = run_cli("process", str(clip("single_face.mp4")), "--out", str(out), "--quiet", env=env)
    assert result.returncode == 0, result.stderr
    assert len(out.read_text().splitlines()) == 73  # header + 72 frames


@needs_shared
def test_process_without_pyav_is_one_line_naming_the_package(tmp_path):
    """PyAV is a required dependency; a broken install still gets one line, not a traceback."""
    env = _without(tmp_path, "av")
    out = tmp_path / "a.csv"
    result = run_cli("process", str(clip("single_face.mp4")), "--out", str(out), env=env)
    assert result.returncode == 2
    line = _one_line(result)
    assert "PyAV" in line and "pip install" in line
    assert not out.exists()

"""ONNX Runtime INT8 (static QDQ): the quantized graph follows FP32 on real faces, and
`auvid build-engine --precision int8` builds it from videos or says in one line why not."""
from __future__ import annotations

import numpy as np
import pytest

from engines.manifest import Manifest, manifest_path_for
from engines.onnxrt import OnnxRuntimeEngine
from engines.select import DEFAULT_MODEL
from tests.conftest import MODELS, clip, needs_shared, run_cli

# Measured for the earlier shipped graph (full-range weights, a VNNI CPU) on every validation crop
# (python -m benchmarks.int8_probe):
# |int8 - fp32| intensity mean 0.012, max 0.10 on the 0-5 scale. The bounds leave room for a
# smaller calibration set here (one clip) while failing a graph that lost its activation ranges.
MEAN_ABS_TOLERANCE = 0.03
MAX_ABS_TOLERANCE = 0.35
MIN_TRACE_R = 0.97


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    from engines.quantize import face_crops, quantize_int8

    size = Manifest.load(manifest_path_for(DEFAULT_MODEL)).input_size
    crops = face_crops([clip("d0.mp4")], size, models_dir=str(MODELS))
    out = tmp_path_factory.mktemp("int8") / "m.int8.onnx"
    return quantize_int8(DEFAULT_MODEL, out, crops, calibration_note="d0.mp4")


@needs_shared
def test_int8_follows_fp32_on_another_persons_real_crops(quantized):
    from engines.quantize import face_crops

    manifest = Manifest.load(manifest_path_for(quantized))
    assert manifest.precision == "int8" and manifest.build["calibration_crops"] > 50
    assert manifest.checkpoint_sha256 == Manifest.load(manifest_path_for(DEFAULT_MODEL)).checkpoint_sha256
    crops = face_crops([clip("d3.mp4")], manifest.input_size, count=400, models_dir=str(MODELS))
    assert_int8_follows_fp32(quantized, DEFAULT_MODEL, crops)


def assert_int8_follows_fp32(int8_graph, fp32_graph, crops: np.ndarray,
                             mean_tolerance: float = MEAN_ABS_TOLERANCE) -> None:
    """The INT8 graph's intensities on real crops stay within the tolerances of the FP32 graph's,
    and it is real quantization, not a copy of the FP32 graph (outputs differ, file is smaller)."""
    assert len(crops) > 50
    with OnnxRuntimeEngine(fp32_graph) as fp32, OnnxRuntimeEngine(int8_graph) as int8:
        _, reference = fp32.infer(crops[:, None])
        _, intensity = int8.infer(crops[:, None])
    difference = np.abs(intensity - reference)
    assert difference.mean() < mean_tolerance and difference.max() < MAX_ABS_TOLERANCE, \
        (difference.mean(), difference.max())
    moving = reference.std(0) > 0.05
    r = [np.corrcoef(intensity[:, j], reference[:, j])[0, 1] for j in np.flatnonzero(moving)]
    assert len(r) >= 5 and np.mean(r) > MIN_TRACE_R, r
    assert difference.max() > 0 and int8_graph.stat().st_size < 0.6 * fp32_graph.stat().st_size


@needs_shared
def test_int8_quantization_refuses_crops_of_the_wrong_size(quantized, tmp_path):
    from auvid.errors import ModelError
    from engines.quantize import quantize_int8

    with pytest.raises(ModelError, match="calibration crops"):
        quantize_int8(DEFAULT_MODEL, tmp_path / "x.onnx", np.zeros((8, 50, 50), np.uint8))
    with pytest.raises(ModelError, match="FP32"):
        quantize_int8(quantized, tmp_path / "y.onnx", np.zeros((8, 96, 96), np.uint8))


@needs_shared
def test_build_engine_int8_from_a_video_then_keeps_it_until_its_source_or_videos_change(tmp_path):
    first = run_cli("build-engine", "--precision", "int8", "--calibration", str(clip("d0.mp4")),
                    "--out", str(tmp_path), "--models-dir", str(MODELS))
    assert first.returncode == 0, first.stderr[-1500:]
    built = sorted(tmp_path.glob("*.int8.onnx"))
    assert len(built) == 1 and f"built {built[0]}" in first.stdout and "d0.mp4" in first.stdout
    again = run_cli("build-engine", "--precision", "int8", "--out", str(tmp_path))  # no calibration needed
    assert again.returncode == 0 and f"kept {built[0]}" in again.stdout
    same = run_cli("build-engine", "--precision", "int8", "--calibration", str(clip("d0.mp4")), "--out", str(tmp_path))
    assert same.returncode == 0 and f"kept {built[0]}" in same.stdout
    # Other calibration videos: rebuilt from them, not silently kept.
    other = run_cli("build-engine", "--precision", "int8", "--calibration", str(clip("d3.mp4")),
                    "--out", str(tmp_path), "--models-dir", str(MODELS))
    assert other.returncode == 0 and f"built {built[0]}" in other.stdout and "d3.mp4" in other.stdout, other.stderr[-800:]
    # Quantized from another FP32 graph (as if the model changed): stale, so it must be rebuilt,
    # which needs calibration videos again.
    manifest_file = manifest_path_for(built[0])
    manifest = Manifest.load(manifest_file)
    Manifest(**{**manifest.__dict__, "build": {**manifest.build, "source_sha256": "0" * 64}}).save(manifest_file)
    stale = run_cli("build-engine", "--precision", "int8", "--out", str(tmp_path))
    assert stale.returncode == 2 and "--calibration" in stale.stderr and f"kept {built[0]}" not in stale.stdout


def _one_line_error(result, code: int, *words: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert all(word in lines[0] for word in words), lines[0]


def test_build_engine_int8_without_videos_is_one_line(tmp_path):
    _one_line_error(run_cli("build-engine", "--precision", "int8", "--out", str(tmp_path)), 2, "--calibration")
    out = tmp_path / "typo"
    missing = run_cli("build-engine", "--precision", "int8", "--calibration", str(tmp_path / "nope.mp4"),
                      "--out", str(out))
    _one_line_error(missing, 2, "nope.mp4")
    assert not list(out.glob("*.onnx"))  # checked before any graph is built
    _one_line_error(run_cli("build-engine", "--calibration", str(tmp_path), "--out", str(tmp_path)), 2, "--precision int8")


@needs_shared
def test_calibration_crops_make_up_a_face_less_clips_share():
    from engines.quantize import face_crops

    crops = face_crops([clip("no_face.mp4"), clip("d0.mp4")], 96, count=60, models_dir=str(MODELS))
    assert crops.shape == (60, 96, 96)  # all from d0.mp4: an equal share would have stopped at 30


def test_int8_graph_names_pair_with_their_fp32_graph_and_checkpoint(tmp_path):
    """One owner of the naming: trainer.ship writes m.int8.onnx beside m.onnx (build-engine
    beside its m.fp32.onnx), and eval and the torch backend find m.pt from either graph, also for a
    model name holding dots."""
    from engines.manifest import checkpoint_path_for, int8_path_for

    fp32 = tmp_path / "run.v2.onnx"
    assert int8_path_for(fp32) == tmp_path / "run.v2.int8.onnx"
    assert checkpoint_path_for(int8_path_for(fp32)) == tmp_path / "run.v2.pt"
    assert checkpoint_path_for(fp32) == tmp_path / "run.v2.pt"
    assert checkpoint_path_for(tmp_path / "run.v2.pt") == tmp_path / "run.v2.pt"


@needs_shared
def test_an_int8_graph_is_quantized_from_its_own_fp32_graph_only(quantized):
    """``Manifest.quantized_from``, the one check select, build-engine and int8_probe share."""
    from dataclasses import replace

    int8 = Manifest.load(manifest_path_for(quantized))
    fp32 = Manifest.load(manifest_path_for(DEFAULT_MODEL))
    assert int8.quantized_from(fp32)
    assert not int8.quantized_from(replace(fp32, model_sha256="0" * 64))  # a newer FP32 graph: stale
    assert not replace(int8, precision="fp32").quantized_from(fp32)  # records the source, is not INT8

"""The shipped default model: its FP32 graph (TensorRT's and CUDA's source) and its INT8 graph
for CPUs belong to the same checkpoint, the INT8 one was calibrated on training people only and
follows FP32 on a held-out person's real crops, and the default runs as INT8 on a CPU while a
model named on the command line runs exactly as given."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engines.manifest import Manifest, manifest_path_for
from engines.onnxrt import OnnxRuntimeEngine
from engines.select import DEFAULT_CPU_MODEL, DEFAULT_MODEL, default_model_files, default_onnx_model, open_engine
from tests.conftest import MODELS, SHARED, clip, needs_shared, run_cli

# Measured for the shipped INT8 graph against its FP32 graph on d3.mp4's runtime crops while
# shipping it (the README's INT8 section has the command): see the tolerances' use below.
MEAN_ABS_TOLERANCE = 0.03
MAX_ABS_TOLERANCE = 0.35
MIN_TRACE_R = 0.97

pytestmark = pytest.mark.skipif(not DEFAULT_CPU_MODEL.is_file(), reason="no INT8 default graph is shipped")


def test_the_int8_default_is_quantized_from_the_shipped_fp32_graph():
    fp32 = Manifest.load(manifest_path_for(DEFAULT_MODEL))
    int8 = Manifest.load(manifest_path_for(DEFAULT_CPU_MODEL))
    assert fp32.precision == "fp32" and int8.precision == "int8"
    assert int8.build["source_sha256"] == fp32.model_sha256  # a stale INT8 graph fails here
    assert int8.checkpoint_sha256 == fp32.checkpoint_sha256
    assert int8.intensity_aus == fp32.intensity_aus and int8.occurrence_aus == fp32.occurrence_aus
    assert default_model_files() == [DEFAULT_MODEL, DEFAULT_CPU_MODEL]


@needs_shared
def test_the_int8_default_was_calibrated_on_training_people_only():
    from trainer.data.people import GROUPS, clips_of

    calibration = Manifest.load(manifest_path_for(DEFAULT_CPU_MODEL)).build["calibration_videos"]
    held_out = {clip_name for group in GROUPS for clip_name in clips_of(group, SHARED)}
    assert len(calibration) >= 8
    for name in calibration:
        assert (SHARED / name).is_file(), name
        assert Path(name).stem not in held_out, f"{name} belongs to a validation or test person"


@needs_shared
def test_the_int8_default_follows_fp32_on_a_held_out_persons_real_crops():
    from engines.quantize import face_crops
    from trainer.data.people import clips_of

    held_out_clip = next(c for c in clips_of("validation", SHARED) if (SHARED / "videos" / f"{c}.mp4").is_file())
    crops = face_crops([clip(f"{held_out_clip}.mp4")], Manifest.load(manifest_path_for(DEFAULT_MODEL)).input_size,
                       count=300, models_dir=str(MODELS))
    assert len(crops) > 50
    with OnnxRuntimeEngine(DEFAULT_MODEL) as fp32, OnnxRuntimeEngine(DEFAULT_CPU_MODEL) as int8:
        _, reference = fp32.infer(crops[:, None])
        _, intensity = int8.infer(crops[:, None])
    difference = np.abs(intensity - reference)
    assert difference.mean() < MEAN_ABS_TOLERANCE and difference.max() < MAX_ABS_TOLERANCE, \
        (difference.mean(), difference.max())
    moving = reference.std(0) > 0.05
    r = [np.corrcoef(intensity[:, j], reference[:, j])[0, 1] for j in np.flatnonzero(moving)]
    assert len(r) >= 5 and np.mean(r) > MIN_TRACE_R, r
    assert difference.max() > 0 and DEFAULT_CPU_MODEL.stat().st_size < 0.6 * DEFAULT_MODEL.stat().st_size


def test_on_a_cpu_the_default_runs_int8_and_a_named_model_runs_as_given():
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("onnxruntime-gpu is installed: the default runs its FP32 graph on CUDA here")
    assert default_onnx_model() == DEFAULT_CPU_MODEL
    with open_engine("onnxruntime") as default, open_engine("onnxruntime", DEFAULT_MODEL) as named:
        assert default.manifest.precision == "int8" and default.model_path == DEFAULT_CPU_MODEL
        assert named.manifest.precision == "fp32" and named.model_path == DEFAULT_MODEL


def test_where_onnxruntime_has_cuda_the_default_is_the_fp32_graph(monkeypatch):
    import engines.select as select

    monkeypatch.setattr(select, "onnxruntime_has_cuda", lambda: True)
    assert select.default_onnx_model() == DEFAULT_MODEL


@needs_shared
def test_process_runs_the_int8_default_and_says_so(tmp_path):
    out = tmp_path / "d.csv"
    result = run_cli("process", str(clip("d3.mp4")), "--out", str(out), "--max-frames", "10")
    assert result.returncode == 0, result.stderr[-800:]
    assert "int8" in result.stderr and out.is_file()

"""The default model on ONNX Runtime: its INT8 graph on a CPU where one is shipped beside the FP32
graph (TensorRT's and CUDA's source), never a stale one, and a model named on the command line
runs exactly as given. The routing is tested with an INT8 graph quantized here from the shipped
FP32 graph; the shipped INT8 graph itself (when there is one) is checked against its FP32 graph."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from engines import select
from engines.manifest import Manifest, manifest_path_for
from engines.select import (
    DEFAULT_CPU_MODEL,
    DEFAULT_MODEL,
    default_onnx_model,
    open_engine,
)
from tests.conftest import MODELS, SHARED, clip, needs_shared, run_cli
from tests.engines.test_int8 import assert_int8_follows_fp32

# The shipped graph (512 crops of 16 people, 7-bit weights) measured |int8 - fp32| 0.011-0.014 on
# real crops of unseen people on an AVX2-only CPU (7-bit weights make VNNI CPUs do the same exact
# arithmetic); the graph it replaced (full-range weights, quantized on a VNNI CPU) read 0.028-0.033 there.
SHIPPED_MEAN_ABS_TOLERANCE = 0.02

shipped_int8 = pytest.mark.skipif(not DEFAULT_CPU_MODEL.is_file(), reason="no INT8 default graph is shipped")


@pytest.fixture(scope="module")
def int8_beside_fp32(tmp_path_factory):
    """An INT8 graph quantized from the shipped FP32 graph, as trainer.ship makes it (one clip)."""
    from engines.quantize import face_crops, quantize_int8

    size = Manifest.load(manifest_path_for(DEFAULT_MODEL)).input_size
    crops = face_crops([clip("d0.mp4")], size, count=128, models_dir=str(MODELS))
    return quantize_int8(DEFAULT_MODEL, tmp_path_factory.mktemp("default") / "auvid-default.int8.onnx", crops,
                         "auvid-default", "d0.mp4", ["videos/d0.mp4"])


@pytest.fixture
def cpu_only(monkeypatch):
    monkeypatch.setattr(select, "onnxruntime_has_cuda", lambda: False)


@pytest.fixture
def shipped(monkeypatch, int8_beside_fp32):
    """The INT8 graph in the place of a shipped one."""
    monkeypatch.setattr(select, "DEFAULT_CPU_MODEL", int8_beside_fp32)
    return int8_beside_fp32


@needs_shared
def test_on_a_cpu_the_default_runs_int8_and_a_named_model_runs_as_given(shipped, cpu_only):
    assert select.default_onnx_model() == shipped
    for backend in ("auto", "onnxruntime"):
        with open_engine(backend) as default:
            assert default.model_path == shipped and default.manifest.precision == "int8"
            assert "int8, 1 thread(s)" in default.description
    with open_engine("onnxruntime", DEFAULT_MODEL) as named:
        assert named.model_path == DEFAULT_MODEL and named.manifest.precision == "fp32"


@needs_shared
def test_the_python_api_and_the_torch_backend_follow_the_same_rule(shipped, cpu_only):
    from auvid.pipeline import Analyzer, AnalyzerOptions

    assert Analyzer(AnalyzerOptions()).engine.manifest.precision == "int8"
    with open_engine("torch") as torch_engine:  # the checkpoint, whatever graph ONNX Runtime would run
        assert torch_engine.name == "torch"


@needs_shared
def test_a_stale_int8_graph_is_refused_and_fp32_runs(shipped, cpu_only, tmp_path, monkeypatch, caplog):
    stale = tmp_path / shipped.name
    stale.write_bytes(shipped.read_bytes())
    manifest = Manifest.load(manifest_path_for(shipped))
    Manifest(**{**manifest.__dict__, "build": {**manifest.build, "source_sha256": "0" * 64}}).save(manifest_path_for(stale))
    monkeypatch.setattr(select, "DEFAULT_CPU_MODEL", stale)
    with caplog.at_level(logging.WARNING, logger="engines.select"), open_engine("onnxruntime") as engine:
        assert engine.model_path == DEFAULT_MODEL and engine.manifest.precision == "fp32"
    assert "not quantized from" in caplog.text


@needs_shared
def test_where_onnxruntime_has_cuda_the_default_is_the_fp32_graph(shipped, monkeypatch):
    monkeypatch.setattr(select, "onnxruntime_has_cuda", lambda: True)
    assert select.default_onnx_model() == DEFAULT_MODEL
    # CUDA offered but not started (onnxruntime-gpu on a machine without a GPU): INT8 on the CPU.
    with open_engine("onnxruntime") as engine:
        assert engine.provider == "CPUExecutionProvider" and engine.model_path == shipped


@needs_shared
def test_a_corpus_made_with_fp32_is_not_resumed_as_int8(shipped, cpu_only, monkeypatch):
    from auvid.corpus.plan import settings_key
    from auvid.pipeline import AnalyzerOptions

    with_int8 = settings_key(AnalyzerOptions(), ("csv",), None, 30.0)
    assert settings_key(AnalyzerOptions(model=str(shipped)), ("csv",), None, 30.0) == with_int8
    monkeypatch.setattr(select, "DEFAULT_CPU_MODEL", shipped.with_name("absent.int8.onnx"))
    assert settings_key(AnalyzerOptions(), ("csv",), None, 30.0) != with_int8
    assert settings_key(AnalyzerOptions(), ("csv",), None, 30.0) == \
        settings_key(AnalyzerOptions(model=str(DEFAULT_MODEL)), ("csv",), None, 30.0)


@shipped_int8
def test_the_shipped_int8_graph_is_quantized_from_the_shipped_fp32_graph():
    fp32 = Manifest.load(manifest_path_for(DEFAULT_MODEL))
    int8 = Manifest.load(manifest_path_for(DEFAULT_CPU_MODEL))
    assert fp32.precision == "fp32" and int8.precision == "int8"
    assert int8.build["source_sha256"] == fp32.model_sha256  # a stale INT8 graph fails here
    assert int8.checkpoint_sha256 == fp32.checkpoint_sha256
    assert int8.intensity_aus == fp32.intensity_aus and int8.occurrence_aus == fp32.occurrence_aus


@shipped_int8
@needs_shared
def test_the_shipped_int8_graph_was_calibrated_on_training_people_only():
    from trainer.data.people import GROUPS, clips_of, person_of, read_people

    calibration = Manifest.load(manifest_path_for(DEFAULT_CPU_MODEL)).build["calibration_videos"]
    people = read_people(SHARED)
    held_out = {person_of(c, people) for group in GROUPS for c in clips_of(group, SHARED)}
    assert len(calibration) >= 8
    for name in calibration:
        assert (SHARED / name).is_file(), name
        assert person_of(Path(name).stem, people) not in held_out, f"{name} shows a validation or test person"


@shipped_int8
@needs_shared
def test_the_shipped_int8_graph_follows_fp32_on_a_validation_persons_real_crops():
    from engines.quantize import face_crops

    crops = face_crops([clip("WolfgangLanger_Pexels.mp4")], Manifest.load(manifest_path_for(DEFAULT_MODEL)).input_size,
                       count=300, models_dir=str(MODELS))
    assert_int8_follows_fp32(DEFAULT_CPU_MODEL, DEFAULT_MODEL, crops, SHIPPED_MEAN_ABS_TOLERANCE)


@shipped_int8
def test_the_shipped_int8_graph_has_7_bit_weights_for_cpus_without_vnni():
    """Full 8-bit weights overflow ONNX Runtime's 16-bit pair sums on x86 CPUs without VNNI, so a
    graph quantized on one kind of CPU drifted on the other; every graph now uses 7 bits."""
    assert "7-bit weight range" in Manifest.load(manifest_path_for(DEFAULT_CPU_MODEL)).build["quantization"]


@shipped_int8
@needs_shared
def test_process_runs_the_shipped_int8_default_and_says_so(tmp_path):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("onnxruntime-gpu is installed: the default runs its FP32 graph on CUDA here")
    assert default_onnx_model() == DEFAULT_CPU_MODEL
    out = tmp_path / "d.csv"
    result = run_cli("process", str(clip("d3.mp4")), "--out", str(out), "--max-frames", "10")
    assert result.returncode == 0 and out.is_file(), result.stderr[-800:]
    assert "int8, 1 thread(s)" in result.stderr, result.stderr[-800:]

"""Engine choice, engine I/O checks and the inspector's verdict: the TensorRT rules that need no
GPU, run on real manifests written to disk (the engine files' contents are never read by the
choice, only their presence, so any bytes stand in for them; the GPU tests run real engines)."""
from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from auvid.errors import ModelError
from engines.manifest import Manifest, manifest_path_for
from engines.matching import Platform, Wanted
from engines.select import DEFAULT_MODEL, engine_candidates, find_engine

HERE = Platform("10.13.3.9", "8.9")
SHIPPED = Manifest.load(manifest_path_for(DEFAULT_MODEL))


def _engine(directory: Path, name: str, age_s: float = 0.0, **changes) -> Path:
    """An engine file and its manifest, as `auvid build-engine` writes them, built ``age_s`` ago."""
    fields = dict(model_file=f"{name}.engine", model_sha256="0" * 64, backend="tensorrt", precision="fp16",
                  backend_version=f"tensorrt {HERE.tensorrt_version}", input_dtype="uint8",
                  device={"gpu": "NVIDIA L4", "compute_capability": HERE.compute_capability},
                  batch_profile={"min": 1, "opt": 8, "max": 39})
    fields.update(changes)
    manifest = dataclasses.replace(SHIPPED, **fields)
    engine = directory / manifest.model_file
    engine.write_bytes(b"serialized engine")
    stamp = time.time() - age_s
    os.utime(engine, (stamp, stamp))
    manifest.save(manifest_path_for(engine))
    return engine


def _choose(directory: Path, wanted: Wanted | None = None, platform: Platform = HERE):
    return find_engine(wanted or Wanted.like(SHIPPED), platform, [directory])


def test_the_wanted_precision_wins_over_a_newer_other_one(tmp_path):
    fp16 = _engine(tmp_path, "a.fp16", age_s=100)
    fp32 = _engine(tmp_path, "a.fp32", precision="fp32")
    assert _choose(tmp_path)[0] == fp16
    assert _choose(tmp_path, Wanted.like(SHIPPED, precision="fp32"))[0] == fp32


def test_an_engine_without_mirroring_never_stands_in_for_the_mirrored_model(tmp_path):
    """After `build-engine --no-mirror` the default model must not silently change."""
    mirrored = _engine(tmp_path, "m", age_s=100)
    _engine(tmp_path, "nomirror", mirror_averaged=False)
    path, reasons = _choose(tmp_path)
    assert path == mirrored
    assert any("without mirror averaging" in r for r in reasons)
    mirrored.unlink()
    path, _ = _choose(tmp_path)
    assert path is None
    plain = dataclasses.replace(SHIPPED, mirror_averaged=False)
    assert _choose(tmp_path, Wanted.like(plain))[0] == tmp_path / "nomirror.engine"


def test_a_fitting_engine_beside_newer_mismatched_ones_is_found(tmp_path):
    good = _engine(tmp_path, "good", age_s=1000)
    _engine(tmp_path, "other-trt", backend_version="tensorrt 11.4.0.106")
    _engine(tmp_path, "other-gpu", device={"gpu": "NVIDIA H100", "compute_capability": "9.0"})
    _engine(tmp_path, "other-model", checkpoint_sha256="f" * 64)
    _engine(tmp_path, "other-aus", intensity_aus=SHIPPED.intensity_aus[:-1])
    path, reasons = _choose(tmp_path)
    assert path == good
    text = "\n".join(reasons)
    assert "this is tensorrt 10.13.3.9" in text and "this GPU is sm 8.9" in text
    assert "another checkpoint" in text and "another intensity AU list" in text
    assert _choose(tmp_path, platform=Platform("11.4.0.106", "8.9"))[0] == tmp_path / "other-trt.engine"
    assert _choose(tmp_path, platform=Platform("10.13.3.9", "9.0"))[0] == tmp_path / "other-gpu.engine"


def test_stale_corrupt_and_incomplete_manifests_are_skipped_with_a_reason(tmp_path):
    good = _engine(tmp_path, "good", age_s=50)
    stale = _engine(tmp_path, "stale")
    stale.unlink()  # the engine file is gone, its manifest stays
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    incomplete = json.loads(manifest_path_for(good).read_text())
    del incomplete["precision"]
    (tmp_path / "incomplete.json").write_text(json.dumps(incomplete))
    candidates, skipped = engine_candidates([tmp_path, tmp_path / "no-such-dir"])
    assert [Path(p) for p, _ in candidates] == [good]
    text = "\n".join(skipped)
    assert "stale manifest, stale.engine is gone" in text
    assert "not valid JSON" in text and "incomplete manifest" in text and "not an auvid engine manifest" in text
    assert _choose(tmp_path)[0] == good
    good.unlink()
    path, reasons = _choose(tmp_path)
    assert path is None and len(reasons) >= 4


def test_onnx_manifests_beside_engines_are_not_candidates(tmp_path):
    _engine(tmp_path, "good")
    manifest_path_for(tmp_path / "m.onnx").write_text(manifest_path_for(DEFAULT_MODEL).read_text())
    (tmp_path / "auvid-default.onnx").write_bytes(b"x")
    candidates, _ = engine_candidates([tmp_path])
    assert [m.backend for _, m in candidates] == ["tensorrt"]


def test_auto_backend_falls_back_without_raising_on_a_stale_manifest(tmp_path, caplog):
    """A model folder holding a stale TensorRT manifest: `--backend auto` still opens a backend."""
    import shutil

    from engines.select import open_engine

    model = tmp_path / DEFAULT_MODEL.name
    shutil.copy(DEFAULT_MODEL, model)
    shutil.copy(manifest_path_for(DEFAULT_MODEL), manifest_path_for(model))
    _engine(tmp_path, "stale").unlink()
    engine = open_engine("auto", model)
    assert engine.name in ("onnxruntime", "tensorrt")
    engine.deactivate()


def test_engine_io_is_checked_against_the_manifest():
    from engines.tensorrt_backend import TensorIO, check_io

    manifest = dataclasses.replace(SHIPPED, backend="tensorrt", input_dtype="uint8",
                                   batch_profile={"min": 1, "opt": 8, "max": 39})
    size, occurrence, intensity = SHIPPED.input_size, len(SHIPPED.occurrence_aus), len(SHIPPED.intensity_aus)
    good = [TensorIO("pixels", True, "uint8", (-1, 1, size, size),
                     ((1, 1, size, size), (8, 1, size, size), (39, 1, size, size))),
            TensorIO("occurrence_prob", False, "float32", (-1, occurrence)),
            TensorIO("intensity", False, "float32", (-1, intensity))]
    assert check_io(good, manifest) == (1, 39)
    broken = {
        "input is float32": [dataclasses.replace(good[0], dtype="float32"), *good[1:]],
        "input shape": [dataclasses.replace(good[0], shape=(-1, 1, size + 16, size + 16)), *good[1:]],
        "output occurrence_prob": [good[0], dataclasses.replace(good[1], shape=(-1, occurrence - 1)), good[2]],
        "output intensity": [good[0], good[1], dataclasses.replace(good[2], dtype="float16")],
        "batch profile 1..32": [dataclasses.replace(good[0], profile=((1, 1, size, size),) * 2 + ((32, 1, size, size),)),
                                *good[1:]],
        "are not": [*good, TensorIO("extra", False, "float32", (-1, 1))],
    }
    for needle, tensors in broken.items():
        with pytest.raises(ModelError, match=needle):
            check_io(tensors, manifest)


def test_float_pixels_go_to_a_uint8_engine_rounded_and_clipped():
    from engines.tensorrt_backend import to_input_dtype

    out = np.zeros(5, np.uint8)
    to_input_dtype(np.array([0.4, 0.6, 254.5, 300.0, -3.0], np.float32), np.dtype(np.uint8), out)
    assert out.tolist() == [0, 1, 254, 255, 0]  # rint: round half to even
    raw = np.array([7, 200], np.uint8)
    to_input_dtype(raw, np.dtype(np.uint8), out[:2])
    assert out[:2].tolist() == [7, 200]


def test_inspector_json_is_read_as_per_layer_precisions():
    """The formats TensorRT's IEngineInspector writes with DETAILED verbosity ('Row major linear
    FP16 format' since 8.x, 'Half'/'Float' in 10.x; 'N/A due to dynamic shapes' without a context)."""
    from engines.trt_build import layer_precisions

    def tensor(fmt):
        return {"Name": "t", "Location": "Device", "Dimensions": [8, 16, 48, 48], "Format/Datatype": fmt}

    info = {"Layers": [
        {"Name": "input_to_fp16", "LayerType": "Cast", "Inputs": [tensor("Row major linear UInt8 format")],
         "Outputs": [tensor("Row major linear FP16 format")]},
        {"Name": "conv1 + relu", "LayerType": "CaskConvolution", "Inputs": [tensor("Half")], "Outputs": [tensor("Half")]},
        {"Name": "conv2", "LayerType": "CaskConvolution", "Inputs": [tensor("Channel major FP16 format where channel % 8 == 0")],
         "Outputs": [tensor("Channel major FP16 format where channel % 8 == 0")]},
        {"Name": "intensity_to_fp32", "LayerType": "Cast", "Inputs": [tensor("Half")], "Outputs": [tensor("Float")]},
        {"Name": "occurrence_prob_to_fp32", "LayerType": "Reformat", "Inputs": [tensor("Half")],
         "Outputs": [tensor("Row major linear FP32")]},
    ], "Bindings": ["pixels", "occurrence_prob", "intensity"]}
    result = layer_precisions(json.dumps(info))
    assert result["layer_precisions"] == {"FP16": 3, "FP32": 2}
    assert result["fp32_layers"] == ["intensity_to_fp32", "occurrence_prob_to_fp32"]
    dynamic = layer_precisions(json.dumps({"Layers": [{"Name": "x", "Outputs": [tensor("N/A due to dynamic shapes")]}]}))
    assert dynamic["layer_precisions"] == {"unknown": 1}
    assert layer_precisions(json.dumps({"Layers": ["conv1", "conv2"]}))["layer_precisions"] == {"unknown": 2}


def test_cuda_says_why_there_is_no_gpu_instead_of_no_gpu_visible():
    """With cuda-python installed and no usable GPU, the reason is CUDA's own error name."""
    pytest.importorskip("cuda.bindings.runtime", reason="cuda-python is not installed (pip install 'auvid[dev]')")
    from engines.cuda_buffers import cuda_device

    try:
        identity = cuda_device()
    except ModelError as exc:
        message = str(exc)
        assert "cudaError" in message and "\n" not in message
        if "cudaErrorInsufficientDriver" in message:
            assert "no NVIDIA driver is installed" in message or "auvid[tensorrt-cu12]" in message
    else:
        pytest.skip(f"a GPU is usable here ({identity['gpu']}): the GPU tests cover it")


def test_a_tensorrt_for_a_newer_cuda_than_the_driver_is_named_with_its_fix():
    from engines.tensorrt_backend import stack_mismatch, tensorrt_cuda_major

    message = stack_mismatch(13, "12.4")
    assert "TensorRT is installed for CUDA 13" in message and "supports CUDA 12.4" in message
    assert "pip install 'auvid[tensorrt-cu12]'" in message
    assert "update the driver" in stack_mismatch(13, "11.8")
    assert stack_mismatch(12, "13.0") is None and stack_mismatch(13, "13.0") is None
    assert stack_mismatch(None, "12.4") is None and stack_mismatch(13, "none") is None
    assert tensorrt_cuda_major() in (None, 11, 12, 13)

"""Export, FP16, manifests and the CPU backends, on real aligned faces from the shared data."""
import json
import shutil

import cv2
import numpy as np
import pytest
import torch

from auvid.errors import ModelError
from engines.export import export_onnx
from engines.onnxrt import OnnxRuntimeEngine
from engines.select import DEFAULT_CHECKPOINT, DEFAULT_MODEL, open_engine
from engines.tensorrt_backend import tensorrt_available
from engines.torch_backend import TorchEngine
from trainer.checkpoint import load_checkpoint
from trainer.model import InferenceModel


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    return {p: export_onnx(DEFAULT_CHECKPOINT, out / f"m.{p}.onnx", precision=p) for p in ("fp32", "fp16")}


@pytest.fixture(scope="module")
def faces(aligned_faces):
    model, _ = load_checkpoint(DEFAULT_CHECKPOINT)
    size = model.config.input_size
    crops = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in aligned_faces])
    return crops[:, None].astype(np.float32)


def _torch_reference(faces):
    model, _ = load_checkpoint(DEFAULT_CHECKPOINT)
    with torch.no_grad():
        return [t.numpy() for t in InferenceModel(model, mirror=True)(torch.from_numpy(faces))]


def test_fp32_export_matches_torch_within_1e4(exported, faces):
    reference = _torch_reference(faces)
    with OnnxRuntimeEngine(exported["fp32"]) as engine:
        prob, intensity = engine.infer(faces)
    assert np.abs(prob - reference[0]).max() < 1e-4
    assert np.abs(intensity - reference[1]).max() < 1e-4


def test_fp16_export_is_close_and_half_the_size(exported, faces):
    """FP16 keeps ~3 significant digits; through ~30 layers the error of a 0-5 intensity stays
    below 0.05 (1% of the scale, far under the teacher's own noise) and of a probability below
    0.02. Measured here: about a tenth of that."""
    reference = _torch_reference(faces)
    with OnnxRuntimeEngine(exported["fp16"]) as engine:
        prob, intensity = engine.infer(faces)
    assert np.abs(prob - reference[0]).max() < 0.02
    assert np.abs(intensity - reference[1]).max() < 0.05
    assert exported["fp16"].stat().st_size < 0.6 * exported["fp32"].stat().st_size


def test_graph_is_checked_and_has_a_dynamic_batch(exported):
    import onnx

    graph = onnx.load(exported["fp32"])
    onnx.checker.check_model(graph, full_check=True)
    dims = graph.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[0].dim_value == 0  # symbolic: any batch size
    assert [d.dim_value for d in dims[1:]] == [1, 96, 96] and not any(d.dim_param for d in dims[1:])
    with OnnxRuntimeEngine(exported["fp32"]) as engine:
        for n in (1, 5, 32):
            prob, intensity = engine.infer(np.zeros((n, 1, engine.input_size, engine.input_size), np.float32))
            assert prob.shape == (n, 18) and intensity.shape == (n, 17)


def test_manifest_describes_the_model(exported):
    manifest = json.loads(exported["fp32"].with_suffix(".json").read_text())
    from trainer.checkpoint import file_sha256

    assert manifest["checkpoint_sha256"] == file_sha256(DEFAULT_CHECKPOINT)
    assert manifest["intensity_aus"][0] == "AU01" and len(manifest["occurrence_aus"]) == 18
    assert manifest["normalization"]["in_graph"] and manifest["precision"] == "fp32"


def test_corrupt_truncated_or_mismatched_models_are_refused(exported, tmp_path):
    for name, damage in (("truncated", lambda b: b[: len(b) // 2]), ("corrupt", lambda b: b[:1000] + b"\0" * 64 + b[1064:])):
        target = tmp_path / f"{name}.onnx"
        target.write_bytes(damage(exported["fp32"].read_bytes()))
        shutil.copy(exported["fp32"].with_suffix(".json"), target.with_suffix(".json"))
        manifest = json.loads(target.with_suffix(".json").read_text())
        manifest["model_file"] = target.name
        target.with_suffix(".json").write_text(json.dumps(manifest))
        with pytest.raises(ModelError, match="do not match its manifest"):
            OnnxRuntimeEngine(target)
    lonely = tmp_path / "lonely.onnx"
    shutil.copy(exported["fp32"], lonely)
    with pytest.raises(ModelError, match="manifest missing"):
        OnnxRuntimeEngine(lonely)
    wrong = tmp_path / "wrong.onnx"
    shutil.copy(exported["fp32"], wrong)
    manifest = json.loads(exported["fp32"].with_suffix(".json").read_text())
    manifest.update(model_file="wrong.onnx", backend="tensorrt")
    wrong.with_suffix(".json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="not ONNX Runtime"):
        OnnxRuntimeEngine(wrong)


def test_torch_and_onnxruntime_backends_agree(faces):
    """Torch FP32 on the CPU, the reference the graphs are exported from (on a GPU the default is
    CUDA FP16, held to the FP16 tolerance in tests/engines/test_gpu.py)."""
    with TorchEngine(DEFAULT_CHECKPOINT, device="cpu") as torch_engine, OnnxRuntimeEngine(DEFAULT_MODEL) as ort_engine:
        a = torch_engine.infer(faces)
        b = ort_engine.infer(faces)
    assert np.abs(a[0] - b[0]).max() < 1e-4 and np.abs(a[1] - b[1]).max() < 1e-4


def test_auto_backend_on_this_machine():
    engine = open_engine("auto")
    ok, why = tensorrt_available()
    if ok:
        assert engine.name in ("tensorrt", "onnxruntime")
    else:
        assert engine.name == "onnxruntime" and why


def test_tensorrt_backend_refuses_clearly_without_a_gpu():
    ok, why = tensorrt_available()
    if ok:
        pytest.skip("TensorRT and a GPU are present: the GPU tests cover this machine")
    with pytest.raises(ModelError, match="TensorRT backend unavailable"):
        open_engine("tensorrt")

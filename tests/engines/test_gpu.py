"""GPU paths: the TensorRT engine built, inspected, chosen, refused and run (batch 1, an odd
size, the profile max and above it), compared with ONNX Runtime on real faces, and
`auvid process --backend tensorrt` end to end; torch CUDA FP16 with its CUDA graphs, and
`auvid process --backend torch` on CUDA end to end. Every test
skips with its reason on a machine without an NVIDIA GPU (CI and the development machines)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from auvid.errors import ModelError
from engines.manifest import manifest_path_for
from engines.select import DEFAULT_CHECKPOINT
from engines.tensorrt_backend import tensorrt_available
from tests.conftest import assert_same_traces, needs_shared, run_cli, traces_by_backend, use_pycuda_buffers

pytestmark = pytest.mark.gpu
trt_ok, trt_why = tensorrt_available()
needs_trt = pytest.mark.skipif(not trt_ok, reason=f"TensorRT unavailable: {trt_why}")


def _torch_cuda() -> str | None:
    """Why torch cannot run on CUDA here, or None."""
    try:
        import torch
    except ImportError:
        return "torch is not installed (auvid[train])"
    return None if torch.cuda.is_available() else "no CUDA GPU on this machine"


needs_torch_cuda = pytest.mark.skipif(_torch_cuda() is not None, reason=str(_torch_cuda()))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The FP16 engine of the shipped model, built the way `auvid build-engine` builds it."""
    from auvid.commands.build import run_build

    out = tmp_path_factory.mktemp("engines")
    assert run_build(str(DEFAULT_CHECKPOINT), "fp16", None, str(out), 1024, True) == 0
    return {"dir": out, "engine": next(out.glob("*.fp16.*.engine")), "fp32": next(out.glob("*.fp32.onnx"))}


@pytest.fixture(scope="module")
def faces(aligned_faces, built):
    """Real aligned faces at the model's input size, uint8 as the aligner makes them."""
    import cv2

    from engines.manifest import Manifest

    size = Manifest.load(manifest_path_for(built["fp32"])).input_size
    return np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in aligned_faces])[:, None]


def _tiled(faces: np.ndarray, n: int) -> np.ndarray:
    return np.concatenate([faces] * (n // len(faces) + 1))[:n]


@needs_trt
def test_the_engine_is_strongly_typed_and_its_layers_run_in_fp16(built):
    manifest = json.loads(manifest_path_for(built["engine"]).read_text())
    build = manifest["build"]
    assert build["strongly_typed"] and manifest["input_dtype"] == "uint8" and manifest["precision"] == "fp16"
    counts = build["layer_precisions"]
    assert counts.get("FP16", 0) >= 0.8 * sum(counts.values()), counts
    assert len(build["fp32_layers"]) <= 4, build["fp32_layers"]  # the casts back to FP32 at the exit
    assert list(built["dir"].glob("timing.*.cache"))


@needs_trt
@needs_shared
def test_batch_1_odd_profile_max_and_above_it_match_onnxruntime(built, faces):
    """FP16 against the FP32 graph on ONNX Runtime: probabilities within 0.02, intensities (0-5)
    within 0.05, the FP16 tolerance tests/engines/test_engines.py holds the FP16 ONNX to."""
    from engines.onnxrt import OnnxRuntimeEngine
    from engines.tensorrt_backend import TensorRTEngine

    with TensorRTEngine(built["engine"]) as trt_engine, OnnxRuntimeEngine(built["fp32"]) as ort_engine:
        top = trt_engine.max_batch
        for n in (1, 7, top, 2 * top + 3):
            pixels = _tiled(faces, n)
            (p, i), (q, j) = trt_engine.infer(pixels), ort_engine.infer(pixels)
            assert p.shape == q.shape == (n, len(trt_engine.occurrence_aus)) and i.shape == j.shape
            assert np.abs(p - q).max() < 0.02 and np.abs(i - j).max() < 0.05, n
            assert ((p > 0.5) != (q > 0.5)).mean() < 0.01
        float_pixels = _tiled(faces, 5).astype(np.float32)
        assert np.array_equal(trt_engine.infer(float_pixels)[1], trt_engine.infer(_tiled(faces, 5))[1])


@needs_trt
@needs_shared
def test_cuda_graphs_give_the_plain_engines_scores(built, faces):
    from engines.tensorrt_backend import TensorRTEngine

    pixels = _tiled(faces, 9)
    with TensorRTEngine(built["engine"]) as plain, TensorRTEngine(built["engine"], cuda_graphs=True) as graphed:
        expected = plain.infer(pixels)
        for _ in range(3):  # capture, then replays
            got = graphed.infer(pixels)
            assert np.abs(got[1] - expected[1]).max() < 1e-3 and np.abs(got[0] - expected[0]).max() < 1e-3
        assert "CUDA graphs" in graphed.description


@needs_trt
@needs_shared
def test_host_buffers_are_pinned_and_freed_on_close(built, faces):
    from cuda.bindings import runtime as cudart

    from engines.tensorrt_backend import TensorRTEngine

    engine = TensorRTEngine(built["engine"]).activate()
    pointer = engine._host_in.ctypes.data
    error, attributes = cudart.cudaPointerGetAttributes(pointer)
    assert int(error) == 0 and attributes.type == cudart.cudaMemoryType.cudaMemoryTypeHost
    engine.infer(_tiled(faces, 3))
    buffers = engine._buffers
    engine.deactivate()
    assert engine._buffers is None and not buffers._device and not buffers._pinned and buffers._stream is None


@needs_trt
@needs_shared
def test_the_pycuda_path_shares_the_engines_context(built, faces, monkeypatch):
    """pycuda only through autoprimaryctx: with pycuda.autoinit the stream and buffers lived in
    another context than the engine ('invalid resource handle')."""
    pytest.importorskip("pycuda", reason="pycuda is not installed (optional; cuda-python is the default)")
    from engines.onnxrt import OnnxRuntimeEngine
    from engines.tensorrt_backend import TensorRTEngine

    use_pycuda_buffers(monkeypatch)
    pixels = _tiled(faces, 5)
    with TensorRTEngine(built["engine"]) as engine, OnnxRuntimeEngine(built["fp32"]) as reference:
        assert "buffers via pycuda" in engine.description
        (p, i), (q, j) = engine.infer(pixels), reference.infer(pixels)
    assert np.abs(p - q).max() < 0.02 and np.abs(i - j).max() < 0.05


@needs_trt
def test_engines_that_do_not_match_their_manifest_are_refused(built, tmp_path):
    from engines.tensorrt_backend import TensorRTEngine

    def copy_with(name, **changes):
        engine = tmp_path / f"{name}.engine"
        shutil.copy(built["engine"], engine)
        manifest = json.loads(manifest_path_for(built["engine"]).read_text())
        manifest.update(model_file=engine.name, **changes)
        manifest_path_for(engine).write_text(json.dumps(manifest))
        return engine

    manifest = json.loads(manifest_path_for(built["engine"]).read_text())
    with pytest.raises(ModelError, match="this is tensorrt"):
        TensorRTEngine(copy_with("old-trt", backend_version="tensorrt 9.0.0"))
    with pytest.raises(ModelError, match="this GPU is sm"):
        TensorRTEngine(copy_with("other-gpu", device={"gpu": "NVIDIA T4", "compute_capability": "7.5"}))
    with pytest.raises(ModelError, match="engine output intensity"):
        TensorRTEngine(copy_with("fewer-aus", intensity_aus=manifest["intensity_aus"][:-1])).activate()
    with pytest.raises(ModelError, match="batch profile"):
        TensorRTEngine(copy_with("other-profile", batch_profile={"min": 1, "opt": 8, "max": 64})).activate()
    tampered = copy_with("tampered")
    tampered.write_bytes(tampered.read_bytes()[:-64])
    with pytest.raises(ModelError, match="do not match its manifest"):
        TensorRTEngine(tampered)


@needs_trt
def test_build_engine_keeps_an_up_to_date_engine_and_force_rebuilds_it(built):
    out = built["dir"]
    kept = run_cli("build-engine", "--out", str(out))
    assert kept.returncode == 0, kept.stderr
    assert f"kept {built['engine']} (TensorRT fp16, strongly typed" in kept.stdout
    assert "FP16" in kept.stdout
    forced = run_cli("build-engine", "--out", str(out), "--force")
    assert forced.returncode == 0 and f"built {built['engine']}" in forced.stdout


@needs_trt
def test_auto_chooses_the_engine_beside_the_model(built):
    from engines.select import open_engine

    engine = open_engine("auto", built["fp32"])
    try:  # this engine, or a fitting one built into engines/ on this machine before
        assert engine.name == "tensorrt" and engine.manifest.precision == "fp16"
        assert engine.manifest.checkpoint_sha256 == json.loads(manifest_path_for(built["fp32"]).read_text())["checkpoint_sha256"]
    finally:
        engine.deactivate()


@needs_trt
@needs_shared
def test_process_with_the_tensorrt_backend_end_to_end(built, tmp_path):
    fp32 = str(built["fp32"])
    tables, _ = traces_by_backend(tmp_path, {"tensorrt": fp32, "onnxruntime": fp32})
    assert_same_traces(tables["tensorrt"], tables["onnxruntime"], 0.06, 0.01)


@needs_torch_cuda
def test_torch_cuda_graphs_in_fp16_match_eager_fp32():
    """Graphs at batch 1, 8 and 32: a call of 3 is padded into the graph of 8, one of 45 runs as
    32 + 13; each face's scores are those of eager FP32 within the FP16 tolerance, whatever rows
    the padding holds from the call before; a result stays valid after the next replay (it is a
    copy, not the graph's output buffer); uint8 crops convert as float ones do."""
    from engines.torch_backend import TorchEngine

    x = np.random.default_rng(0).uniform(0, 255, (45, 1, 96, 96)).astype(np.float32)

    def close(got, want):
        return np.abs(got[1] - want[1]).max() < 0.05 and np.abs(got[0] - want[0]).max() < 0.02

    with TorchEngine(DEFAULT_CHECKPOINT, device="cuda", half=False, cuda_graph_batches=()) as fp32, \
            TorchEngine(DEFAULT_CHECKPOINT, device="cuda", half=True) as fp16:
        assert "CUDA graphs at batch 1, 8, 32" in fp16.description and "graph" not in fp32.description
        expected = fp32.infer(x)
        for n in (8, 3, 45, 1, 3):
            got = fp16.infer(x[:n])
            assert got[0].shape == (n, expected[0].shape[1]) and got[1].shape == (n, expected[1].shape[1])
            assert close(got, (expected[0][:n], expected[1][:n])), n
        first = fp16.infer(x[:3])
        fp16.infer(x[3:6])  # the same graph replays with other faces
        assert close(first, (expected[0][:3], expected[1][:3]))
        crops = x[:5].round().astype(np.uint8)
        assert close(fp16.infer(crops), fp32.infer(crops))


@needs_torch_cuda
@needs_shared
def test_process_with_the_torch_cuda_backend_end_to_end(tmp_path):
    """`auvid process --backend torch` on a GPU runs the checkpoint in CUDA FP16: its traces match
    the FP32 graph on ONNX Runtime within the FP16 tolerance."""
    model = str(DEFAULT_CHECKPOINT.with_suffix(".onnx"))
    tables, outputs = traces_by_backend(tmp_path, {"torch": model, "onnxruntime": model})
    assert "cuda, fp16" in outputs["torch"], outputs["torch"]
    assert_same_traces(tables["torch"], tables["onnxruntime"], 0.06, 0.01)

"""Choosing a backend: TensorRT where a matching engine and a GPU exist, else ONNX Runtime
(CUDA provider where present), else torch; and saying what was chosen and why."""
from __future__ import annotations

import logging
from pathlib import Path

from auvid.errors import ModelError
from engines.base import Engine

log = logging.getLogger(__name__)

PACKAGE_MODELS = Path(__file__).resolve().parent.parent / "auvid" / "models"
DEFAULT_MODEL = PACKAGE_MODELS / "default" / "auvid-default.onnx"
DEFAULT_CHECKPOINT = PACKAGE_MODELS / "default" / "auvid-default.pt"
ENGINES_DIR = Path(__file__).resolve().parent


def find_tensorrt_engine(checkpoint_sha: str, engines_dir: Path = ENGINES_DIR) -> Path | None:
    """The newest engine in ``engines_dir`` built from this checkpoint."""
    from engines.manifest import Manifest

    candidates = []
    for manifest_path in engines_dir.glob("*.json"):
        try:
            manifest = Manifest.load(manifest_path)
        except ModelError:
            continue
        if manifest.backend == "tensorrt" and manifest.checkpoint_sha256 == checkpoint_sha:
            candidates.append(manifest.model_path(manifest_path))
    return max(candidates, key=lambda p: p.stat().st_mtime, default=None) if candidates else None


def open_engine(backend: str = "auto", model: str | Path | None = None, threads: int | None = None) -> Engine:
    """An activated engine for ``backend`` (auto | onnxruntime | tensorrt | torch)."""
    model_path = Path(model) if model else DEFAULT_MODEL
    if not model_path.exists():
        raise ModelError(f"{model_path}: no such model file")
    if backend == "torch":
        from engines.torch_backend import TorchEngine

        checkpoint = model_path if model_path.suffix == ".pt" else model_path.with_suffix(".pt")
        if not checkpoint.is_file():
            raise ModelError(f"the torch backend needs a checkpoint (.pt); {checkpoint} does not exist")
        return TorchEngine(checkpoint).activate()
    if backend == "tensorrt" or (backend == "auto" and model_path.suffix == ".engine"):
        from engines.tensorrt_backend import TensorRTEngine, tensorrt_available

        ok, why = tensorrt_available()
        if not ok:
            raise ModelError(f"TensorRT backend unavailable: {why}")
        engine_path = model_path
        if model_path.suffix != ".engine":
            from engines.manifest import Manifest, manifest_path_for

            sha = Manifest.load(manifest_path_for(model_path)).checkpoint_sha256
            engine_path = find_tensorrt_engine(sha)
            if engine_path is None:
                raise ModelError("no TensorRT engine built from this model: run `auvid build-engine` first")
        return TensorRTEngine(engine_path).activate()
    if backend == "auto":
        engine = _try_tensorrt(model_path)
        if engine is not None:
            return engine
    if backend not in ("auto", "onnxruntime"):
        raise ModelError(f"unknown backend {backend!r} (auto, onnxruntime, tensorrt, torch)")
    from engines.onnxrt import OnnxRuntimeEngine

    if model_path.suffix == ".pt":
        raise ModelError(f"{model_path} is a checkpoint: use --backend torch, or export it with `auvid build-engine`")
    engine = OnnxRuntimeEngine(model_path, threads=threads).activate()
    if backend == "auto":
        log.info("backend: %s (no TensorRT engine usable here)", engine.description)
    return engine


def _try_tensorrt(model_path: Path) -> Engine | None:
    from engines.tensorrt_backend import tensorrt_available

    ok, why = tensorrt_available()
    if not ok:
        log.debug("TensorRT not used: %s", why)
        return None
    try:
        from engines.manifest import Manifest, manifest_path_for
        from engines.tensorrt_backend import TensorRTEngine

        sha = Manifest.load(manifest_path_for(model_path)).checkpoint_sha256
        engine_path = find_tensorrt_engine(sha)
        if engine_path is None:
            log.info("TensorRT available but no engine built for this model: run `auvid build-engine` for the GPU path")
            return None
        engine = TensorRTEngine(engine_path).activate()
        log.info("backend: %s, chosen because a matching engine and GPU exist", engine.description)
        return engine
    except ModelError as exc:
        log.warning("TensorRT engine refused (%s); falling back to ONNX Runtime", exc)
        return None

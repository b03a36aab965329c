"""Choosing a backend: TensorRT where an engine fitting the model, this TensorRT and this GPU
exists, else ONNX Runtime (its CUDA provider where onnxruntime-gpu is installed, else the CPU),
or torch on request; and saying in one line what was chosen and why.

``--backend auto`` never fails because of an engine: a stale manifest (engine file gone), a
corrupt one or an engine TensorRT refuses are skipped with their reason.
"""
from __future__ import annotations

import logging
from pathlib import Path

from auvid.errors import ModelError
from engines.base import Engine
from engines.manifest import Manifest, checkpoint_path_for, int8_path_for, manifest_path_for
from engines.matching import Platform, Wanted, choose

log = logging.getLogger(__name__)

PACKAGE_MODELS = Path(__file__).resolve().parent.parent / "auvid" / "models"
DEFAULT_MODEL = PACKAGE_MODELS / "default" / "auvid-default.onnx"  # FP32: the TensorRT and CUDA source
DEFAULT_CPU_MODEL = int8_path_for(DEFAULT_MODEL)  # its INT8 graph, for CPUs
DEFAULT_CHECKPOINT = PACKAGE_MODELS / "default" / "auvid-default.pt"
ENGINES_DIR = Path(__file__).resolve().parent  # `auvid build-engine`'s default --out


def engine_candidates(dirs: list[Path]) -> tuple[list[tuple[str, Manifest]], list[str]]:
    """Every TensorRT manifest in ``dirs`` whose engine file exists, newest engine first, and a
    reason for each manifest skipped (unreadable, or naming a file that is gone)."""
    found: list[tuple[float, str, Manifest]] = []
    skipped: list[str] = []
    seen: set[Path] = set()
    for directory in dirs:
        if not directory.is_dir():
            continue
        for manifest_path in sorted(directory.glob("*.json")):
            if manifest_path.resolve() in seen:
                continue
            seen.add(manifest_path.resolve())
            try:
                manifest = Manifest.load(manifest_path)
            except ModelError as exc:
                skipped.append(str(exc))
                continue
            if manifest.backend != "tensorrt":
                continue
            engine_path = manifest.model_path(manifest_path)
            try:
                built = engine_path.stat().st_mtime
            except OSError:
                skipped.append(f"{manifest_path}: stale manifest, {engine_path.name} is gone")
                continue
            found.append((built, str(engine_path), manifest))
    found.sort(key=lambda item: -item[0])
    return [(path, manifest) for _, path, manifest in found], skipped


def search_dirs(model_path: Path | None) -> list[Path]:
    """Engines live beside the model and in the default build folder."""
    dirs = [model_path.parent] if model_path is not None else []
    return dirs + [ENGINES_DIR]


def find_engine(wanted: Wanted, platform: Platform, dirs: list[Path]) -> tuple[Path | None, list[str]]:
    """The engine to use, and why each other one was not. Never raises."""
    candidates, skipped = engine_candidates(dirs)
    chosen, rejected = choose(candidates, wanted, platform)
    return (Path(chosen) if chosen else None), skipped + rejected


def current_platform() -> Platform:
    """This machine's TensorRT version and GPU, or ModelError saying what is missing."""
    from engines.tensorrt_backend import import_tensorrt, tensorrt_device

    trt = import_tensorrt()
    return Platform(trt.__version__, tensorrt_device()["compute_capability"])


def find_tensorrt_engine(checkpoint_sha: str, engines_dir: Path = ENGINES_DIR, mirror: bool = True,
                         precision: str = "fp16") -> Path | None:
    """The engine built from this checkpoint that runs here (benchmarks use it), or None."""
    try:
        platform = current_platform()
    except ModelError:
        return None
    path, _ = find_engine(Wanted(checkpoint_sha, mirror, precision), platform, [Path(engines_dir)])
    return path


def onnxruntime_has_cuda() -> bool:
    """Whether this ONNX Runtime build offers its CUDA provider (onnxruntime-gpu); whether a GPU
    then starts is only known once a session opens (see :func:`_open_default_onnx`)."""
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def shipped_int8_graph() -> Path | None:
    """The shipped INT8 graph if there is one and it was quantized from the shipped FP32 graph;
    a stale one (left by an interrupted install) is refused with a warning, never run."""
    if not DEFAULT_CPU_MODEL.is_file():
        return None
    try:
        int8 = Manifest.load(manifest_path_for(DEFAULT_CPU_MODEL))
        fp32 = Manifest.load(manifest_path_for(DEFAULT_MODEL))
    except ModelError as exc:
        log.warning("not using %s: %s", DEFAULT_CPU_MODEL.name, exc)
        return None
    if not int8.quantized_from(fp32):
        log.warning("not using %s: it was not quantized from %s (re-run `python -m trainer.ship`); running FP32",
                    DEFAULT_CPU_MODEL.name, DEFAULT_MODEL.name)
        return None
    return DEFAULT_CPU_MODEL


def default_onnx_model() -> Path:
    """The shipped model as ONNX Runtime runs it: the INT8 graph on a CPU, where the quantized
    network is what keeps the speed bar, and the FP32 graph where ONNX Runtime has CUDA (INT8
    QDQ graphs gain nothing there and lose a little accuracy)."""
    return _default_choice(shipped_int8_graph())


def _default_choice(int8: Path | None) -> Path:
    return int8 if int8 is not None and not onnxruntime_has_cuda() else DEFAULT_MODEL


def _open_default_onnx(threads: int | None) -> Engine:
    """The shipped model on ONNX Runtime as :func:`default_onnx_model` chooses it, falling back to
    the INT8 graph on the CPU where onnxruntime-gpu is installed but no GPU starts."""
    from engines.onnxrt import OnnxRuntimeEngine

    int8 = shipped_int8_graph()
    chosen = _default_choice(int8)
    engine = OnnxRuntimeEngine(chosen, threads=threads).activate()
    if chosen != int8 and int8 is not None and engine.provider != "CUDAExecutionProvider":
        engine.deactivate()
        engine = OnnxRuntimeEngine(int8, providers=["CPUExecutionProvider"], threads=threads).activate()
    return engine


def _wanted_for(model_path: Path) -> Wanted:
    return Wanted.like(Manifest.load(manifest_path_for(model_path)))


def _summary(reasons: list[str]) -> str:
    if not reasons:
        return "none built (run `auvid build-engine`)"
    more = f" (+{len(reasons) - 1} more, -v lists them)" if len(reasons) > 1 else ""
    return reasons[0] + more


def open_engine(backend: str = "auto", model: str | Path | None = None, threads: int | None = None) -> Engine:
    """An activated engine for ``backend`` (auto | onnxruntime | tensorrt | torch). With no
    ``model``, the shipped default: TensorRT engines built from its FP32 graph, else ONNX Runtime
    with :func:`default_onnx_model`. A named model file is run exactly as given."""
    model_path = Path(model) if model else DEFAULT_MODEL
    if not model_path.exists():
        raise ModelError(f"{model_path}: no such model file")
    if backend not in ("auto", "onnxruntime", "tensorrt", "torch"):
        raise ModelError(f"unknown backend {backend!r} (auto, onnxruntime, tensorrt, torch)")
    if backend == "torch":
        from engines.torch_backend import TorchEngine

        checkpoint = checkpoint_path_for(model_path)
        if not checkpoint.is_file():
            raise ModelError(f"the torch backend needs a checkpoint (.pt); {checkpoint} does not exist")
        return TorchEngine(checkpoint).activate()
    if backend == "tensorrt" or (backend == "auto" and model_path.suffix == ".engine"):
        return _open_tensorrt(model_path)
    if backend == "auto":
        engine = _try_tensorrt(model_path)
        if engine is not None:
            return engine
    from engines.onnxrt import OnnxRuntimeEngine

    if model_path.suffix == ".pt":
        raise ModelError(f"{model_path} is a checkpoint: use --backend torch, or export it with `auvid build-engine`")
    engine = OnnxRuntimeEngine(model_path, threads=threads).activate() if model else _open_default_onnx(threads)
    log.info("backend: %s", engine.description)
    return engine


def _open_tensorrt(model_path: Path) -> Engine:
    """``--backend tensorrt`` (or an .engine file): TensorRT or one line saying why not."""
    from engines.tensorrt_backend import TensorRTEngine, tensorrt_available

    ok, why = tensorrt_available()
    if not ok:
        raise ModelError(f"TensorRT backend unavailable: {why}")
    if model_path.suffix == ".engine":
        return TensorRTEngine(model_path).activate()
    path, reasons = find_engine(_wanted_for(model_path), current_platform(), search_dirs(model_path))
    for reason in reasons:
        log.info("TensorRT engine skipped: %s", reason)
    if path is None:
        raise ModelError(f"no TensorRT engine fits {model_path.name} on this GPU: {_summary(reasons)}; "
                         "run `auvid build-engine`")
    return TensorRTEngine(path).activate()


def _try_tensorrt(model_path: Path) -> Engine | None:
    """``--backend auto``: a TensorRT engine, or None with a one-line reason. Never raises."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        log.debug("TensorRT not used: the tensorrt package is not installed")
        return None
    except Exception as exc:  # a broken install (missing libnvinfer) must not stop the CPU path
        log.warning("TensorRT not used: it cannot load (%s); using ONNX Runtime", str(exc).splitlines()[0][:160])
        return None
    try:
        from engines.tensorrt_backend import TensorRTEngine

        platform = current_platform()
        path, reasons = find_engine(_wanted_for(model_path), platform, search_dirs(model_path))
        for reason in reasons:
            log.info("TensorRT engine skipped: %s", reason)
        if path is None:
            log.warning("TensorRT not used: no engine fits %s here (%s); using ONNX Runtime",
                        model_path.name, _summary(reasons))
            return None
        engine = TensorRTEngine(path).activate()
        log.info("backend: %s, chosen because its manifest fits the model, TensorRT and GPU", engine.description)
        return engine
    except ModelError as exc:
        log.warning("TensorRT not used: %s; using ONNX Runtime", exc)
        return None

"""ONNX -> TensorRT engine: a strongly typed network (TensorRT 10.x and 11.x alike), a dynamic
batch profile, a workspace limit, a timing cache kept next to the engines so rebuilds take
seconds, and an inspection of the built engine recorded in its manifest.

Why strongly typed from the FP16 ONNX: the weakly typed route (FP32 ONNX + ``BuilderFlag.FP16``)
only *allows* FP16, is deprecated since TensorRT 10.12, and ``BuilderFlag.FP16`` is gone in 11
(where every network is strongly typed and the ``STRONGLY_TYPED`` creation flag is kept but
ignored). A strongly typed network runs each layer in the type its ONNX tensors carry, so the
FP16 ONNX (every float tensor FP16, see engines/onnx_graph.py) gives an FP16 engine, and
``IEngineInspector`` confirms it layer by layer. ``--precision fp32`` builds from the FP32 ONNX
and clears ``BuilderFlag.TF32`` (TF32 is on by default and rounds FP32 inner products to 10-bit
mantissas): whoever asks for FP32 gets strict FP32.
"""
from __future__ import annotations

import json
import logging
import os
from collections import Counter
from pathlib import Path

from auvid.errors import ModelError
from engines.manifest import Manifest, manifest_path_for, sha256_file
from engines.matching import Platform, Wanted, model_mismatch, platform_mismatch, tensorrt_version_label

log = logging.getLogger(__name__)


def parse_batch(spec: str) -> dict[str, int]:
    """'1:8:32' -> {'min': 1, 'opt': 8, 'max': 32}."""
    try:
        low, opt, high = (int(v) for v in spec.split(":"))
    except ValueError:
        raise ModelError(f"--batch {spec!r}: expected min:opt:max, e.g. 1:8:32") from None
    if not 1 <= low <= opt <= high:
        raise ModelError(f"--batch {spec!r}: need 1 <= min <= opt <= max")
    return {"min": low, "opt": opt, "max": high}


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text.lower().replace(" ", "-"))


def engine_name(model_name: str, precision: str, device: dict, trt_version: str) -> str:
    gpu = _slug(device.get("gpu", "gpu"))
    return f"{model_name}.{precision}.{gpu}.sm{device.get('compute_capability', '0').replace('.', '')}.trt{trt_version}.engine"


def _datatype(description: str) -> str:
    """The data type in an inspector ``Format/Datatype`` string ('Row major linear FP16 format',
    'Half', 'Float', 'Row major linear UInt8 format', 'N/A due to dynamic shapes')."""
    text = description.lower()
    for needle, name in (("uint8", "UINT8"), ("int8", "INT8"), ("fp16", "FP16"), ("half", "FP16"), ("bf16", "BF16"),
                         ("fp32", "FP32"), ("float", "FP32"), ("int32", "INT32"), ("int64", "INT64"), ("bool", "BOOL")):
        if needle in text:
            return name
    return "unknown"


def layer_precisions(engine_information: str) -> dict:
    """What ``IEngineInspector.get_engine_information(JSON)`` (built with DETAILED profiling
    verbosity, inspected through a context whose input shape is set) says the layers run in:
    layers counted by the data type of their outputs, and the names of the float layers not in
    FP16 (in the FP16 engine, only the casts back to FP32 at the exit belong there)."""
    data = json.loads(engine_information)
    layers = data.get("Layers", []) if isinstance(data, dict) else []
    counts: Counter = Counter()
    not_fp16: list[str] = []
    for layer in layers:
        if not isinstance(layer, dict):  # LAYER_NAMES_ONLY verbosity gives bare names
            counts["unknown"] += 1
            continue
        types = {_datatype(str(t.get("Format/Datatype", ""))) for t in layer.get("Outputs", []) if isinstance(t, dict)}
        kind = "FP16" if types == {"FP16"} else "+".join(sorted(types)) or "unknown"
        counts[kind] += 1
        if "FP32" in types:
            not_fp16.append(str(layer.get("Name", "?"))[:120])
    return {"layer_precisions": dict(counts), "fp32_layers": not_fp16}


def _uint8_onnx_bytes(onnx_path: Path) -> bytes:
    """The ONNX with a uint8 entrance, serialised for the parser (not written to disk)."""
    from engines.onnx_graph import import_onnx, with_uint8_input

    onnx = import_onnx()
    return with_uint8_input(onnx.load(str(onnx_path))).SerializeToString()


def _up_to_date(target: Path, wanted: Wanted, platform: Platform, precision: str, batch: dict, source_sha: str) -> bool:
    """An engine already there, intact, and built from the same ONNX for the same settings here."""
    if not (target.is_file() and manifest_path_for(target).is_file()):
        return False
    try:
        existing = Manifest.for_model(target, "tensorrt", "TensorRT")
    except ModelError:
        return False
    return (model_mismatch(existing, wanted) is None and platform_mismatch(existing, platform) is None
            and existing.precision == precision and existing.batch_profile == batch
            and existing.build.get("source_onnx_sha256") == source_sha)


def build_engine(source_onnx: Path, out_dir: Path, precision: str, batch: dict[str, int], workspace_mb: int = 1024,
                 model_name: str = "model", force: bool = False) -> tuple[Path, bool]:
    """Build (or keep, unless ``force``) the engine for ``source_onnx``, the FP16 ONNX for
    ``precision='fp16'`` or the FP32 one for 'fp32'. Returns (engine path, whether it was kept)."""
    from engines.tensorrt_backend import INPUT_NAME, import_tensorrt, tensorrt_device

    trt = import_tensorrt()
    source_manifest = Manifest.for_model(source_onnx, "onnxruntime", "ONNX Runtime")
    if source_manifest.precision != precision:
        raise ModelError(f"{source_onnx} is {source_manifest.precision}; the {precision} engine is built from the {precision} ONNX")
    device = tensorrt_device()
    platform = Platform(trt.__version__, device["compute_capability"])
    source_sha = sha256_file(source_onnx)
    target = out_dir / engine_name(model_name, precision, device, trt.__version__)
    if not force and _up_to_date(target, Wanted.like(source_manifest, precision), platform, precision, batch, source_sha):
        return target, True

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    # STRONGLY_TYPED: required on 10.x, the only mode (flag ignored) on 11.x. EXPLICIT_BATCH is
    # not set: ignored since 10.0, removed in 11.
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(_uint8_onnx_bytes(source_onnx)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelError(f"TensorRT could not parse {source_onnx}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # so the inspector sees data types
    if precision == "fp32":
        config.clear_flag(trt.BuilderFlag.TF32)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_path = out_dir / f"timing.{_slug(device.get('gpu', 'gpu'))}.trt{trt.__version__}.cache"
    cache = config.create_timing_cache(cache_path.read_bytes() if cache_path.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=True)
    size = source_manifest.input_size
    profile = builder.create_optimization_profile()
    profile.set_shape(INPUT_NAME, (batch["min"], 1, size, size), (batch["opt"], 1, size, size), (batch["max"], 1, size, size))
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelError("TensorRT failed to build the engine (see the log above)")
    plan = bytes(serialized)
    inspection = inspect_engine(trt, logger, plan, size, batch["opt"])
    if precision == "fp16" and inspection["fp32_layers"]:
        log.info("layers with FP32 outputs in the FP16 engine (the exit casts belong here): %s",
                 ", ".join(inspection["fp32_layers"]))
    tmp = target.with_suffix(".part")
    tmp.write_bytes(plan)
    os.replace(tmp, target)
    cache_tmp = cache_path.with_suffix(".part")
    cache_tmp.write_bytes(bytes(config.get_timing_cache().serialize()))
    os.replace(cache_tmp, cache_path)
    manifest = Manifest(**{**source_manifest.__dict__, "model_file": target.name, "model_sha256": sha256_file(target),
                           "backend": "tensorrt", "precision": precision, "batch_profile": dict(batch),
                           "input_dtype": "uint8", "input_format": "grey uint8 pixels 0-255, face aligned by auvid.stages.align",
                           "backend_version": tensorrt_version_label(trt.__version__), "device": device,
                           "build": {"strongly_typed": True, "tf32": precision != "fp32", "workspace_mb": workspace_mb,
                                     "source_onnx": source_onnx.name, "source_onnx_sha256": source_sha, **inspection}})
    manifest.save(manifest_path_for(target))
    log.info("built %s: layers %s", target, inspection["layer_precisions"])
    return target, False


def inspect_engine(trt, logger, plan: bytes, size: int, batch: int) -> dict:
    """Per-layer data types of a serialized engine. The inspector reports formats only for
    concrete shapes, hence a context with the input shape set ('N/A due to dynamic shapes'
    otherwise)."""
    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(plan)
    if engine is None:
        raise ModelError("TensorRT cannot deserialize the engine it just built")
    context = engine.create_execution_context()
    if context is None or not context.set_input_shape("pixels", (batch, 1, size, size)):
        raise ModelError("TensorRT cannot set the input shape on the engine it just built")
    inspector = engine.create_engine_inspector()
    inspector.execution_context = context
    information = inspector.get_engine_information(trt.LayerInformationFormat.JSON)
    return layer_precisions(information)

"""ONNX -> FP16 TensorRT engine with a dynamic batch profile, a workspace limit and a timing
cache kept next to the engines so rebuilds take seconds.

TensorRT 10 takes the FP32 ONNX and the FP16 builder flag; newer releases that dropped the flag
build precision from a strongly typed network, so they get the FP16 ONNX instead.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from auvid.errors import ModelError
from engines.manifest import Manifest, manifest_path_for, sha256_file

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


def engine_name(model_name: str, precision: str, device: dict, trt_version: str) -> str:
    gpu = device.get("gpu", "gpu").lower().replace(" ", "-")
    return f"{model_name}.{precision}.{gpu}.sm{device.get('compute_capability', '0').replace('.', '')}.trt{trt_version}.engine"


def build_engine(onnx_fp32: Path, onnx_fp16: Path, out_dir: Path, precision: str, batch: dict[str, int],
                 workspace_mb: int = 1024, model_name: str = "model") -> Path:
    import tensorrt as trt

    from engines.cuda_buffers import gpu_identity

    source_manifest = Manifest.load(manifest_path_for(onnx_fp32))
    device = gpu_identity()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    has_fp16_flag = hasattr(trt.BuilderFlag, "FP16")
    strongly_typed = not has_fp16_flag
    flags = 0
    if strongly_typed:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    elif hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    onnx_path = onnx_fp16 if (strongly_typed and precision == "fp16") else onnx_fp32
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    if precision == "fp16" and has_fp16_flag:
        config.set_flag(trt.BuilderFlag.FP16)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_path = out_dir / f"timing.{device.get('gpu', 'gpu').lower().replace(' ', '-')}.trt{trt.__version__}.cache"
    cache = config.create_timing_cache(cache_path.read_bytes() if cache_path.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=True)
    size = source_manifest.input_size
    profile = builder.create_optimization_profile()
    profile.set_shape("pixels", (batch["min"], 1, size, size), (batch["opt"], 1, size, size), (batch["max"], 1, size, size))
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelError("TensorRT failed to build the engine (see the log above)")
    target = out_dir / engine_name(model_name, precision, device, trt.__version__)
    tmp = target.with_suffix(".part")
    tmp.write_bytes(bytes(serialized))
    os.replace(tmp, target)
    cache_tmp = cache_path.with_suffix(".part")
    cache_tmp.write_bytes(bytes(config.get_timing_cache().serialize()))
    os.replace(cache_tmp, cache_path)
    manifest = Manifest(**{**source_manifest.__dict__, "model_file": target.name, "model_sha256": sha256_file(target),
                           "backend": "tensorrt", "precision": precision, "batch_profile": batch,
                           "backend_version": f"tensorrt {trt.__version__}", "device": device})
    manifest.save(manifest_path_for(target))
    log.info("built %s", target)
    return target

"""The manifest that travels beside every model file: what it computes and what built it.

A backend refuses a model whose manifest does not match it (other AU list, other input, other
file contents, other GPU or TensorRT version) instead of silently producing wrong numbers.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from auvid.io.model_files import sha256_of as sha256_file  # noqa: F401  (one implementation, re-exported)
from auvid.errors import ModelError

FORMAT = "auvid-engine/1"


@dataclass
class Manifest:
    model_file: str  # file name, beside the manifest
    model_sha256: str
    backend: str  # "onnxruntime" | "tensorrt"
    precision: str  # "fp32" | "fp16"
    occurrence_aus: list[str]
    intensity_aus: list[str]
    input_size: int
    input_layout: str = "NCHW"
    input_channels: int = 1
    input_format: str = "grey float32 pixels 0-255, face aligned by auvid.stages.align (5-point similarity)"
    input_dtype: str = "float32"  # "uint8" for TensorRT engines: the crops go in as they are
    normalization: dict = field(default_factory=dict)  # applied inside the graph
    outputs: dict = field(default_factory=lambda: {"occurrence_prob": "N x occurrence_aus",
                                                   "intensity": "N x intensity_aus, 0-5"})
    batch_profile: dict = field(default_factory=lambda: {"min": 1, "opt": 8, "max": 32})
    mirror_averaged: bool = True
    checkpoint_sha256: str = ""
    backend_version: str = ""
    device: dict = field(default_factory=dict)  # TensorRT: gpu name, compute capability
    # TensorRT: how it was built and what IEngineInspector says its layers run in, e.g.
    # {"strongly_typed": true, "tf32": false, "layer_precisions": {"FP16": 61, "FP32": 2}, ...}
    build: dict = field(default_factory=dict)
    model_name: str = ""
    format: str = FORMAT

    def save(self, path: str | Path) -> None:
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        os.replace(tmp, path)

    @staticmethod
    def load(path: str | Path) -> "Manifest":
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: manifest missing (an engine needs its .json beside it)")
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelError(f"{path}: manifest is not valid JSON ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ModelError(f"{path}: not an auvid engine manifest (format {found!r})")
        known = set(Manifest.__dataclass_fields__)
        try:
            return Manifest(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:  # a required field missing
            raise ModelError(f"{path}: incomplete manifest ({exc})") from None

    @staticmethod
    def for_model(model_path: str | Path, backend: str, backend_label: str) -> "Manifest":
        """The verified manifest beside ``model_path``: it must be for ``backend`` and match the file."""
        manifest_file = manifest_path_for(model_path)
        manifest = Manifest.load(manifest_file)
        if manifest.backend != backend:
            raise ModelError(f"{manifest_file}: built for {manifest.backend}, not {backend_label}")
        manifest.verify_file(manifest_file)
        return manifest

    def quantized_from(self, source: "Manifest") -> bool:
        """Whether this is an INT8 graph quantized from ``source``'s graph (its build records the
        FP32 graph's sha256): what keeps a stale INT8 graph from standing in for a new model."""
        return self.precision == "int8" and self.build.get("source_sha256") == source.model_sha256

    def model_path(self, manifest_path: str | Path) -> Path:
        return Path(manifest_path).parent / self.model_file

    def verify_file(self, manifest_path: str | Path) -> Path:
        """The model file beside the manifest, after checking it is the one the manifest describes."""
        path = self.model_path(manifest_path)
        if not path.is_file():
            raise ModelError(f"{path}: model file missing (named by {manifest_path})")
        actual = sha256_file(path)
        if actual != self.model_sha256:
            raise ModelError(f"{path}: contents do not match its manifest (sha256 {actual[:12]}..., "
                             f"manifest says {self.model_sha256[:12]}...); the file is corrupt, truncated or "
                             "was replaced: rebuild it with `auvid build-engine --force`")
        return path


INT8_SUFFIX = ".int8.onnx"


def int8_path_for(model_path: str | Path) -> Path:
    """Where the INT8 graph quantized from an FP32 graph lives: ``m.onnx`` -> ``m.int8.onnx``."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + INT8_SUFFIX)


def checkpoint_path_for(model_path: str | Path) -> Path:
    """The torch checkpoint a graph was exported from: ``m.onnx`` and ``m.int8.onnx`` -> ``m.pt``."""
    model_path = Path(model_path)
    if model_path.suffix == ".pt":
        return model_path
    name = model_path.name
    stem = name[: -len(INT8_SUFFIX)] if name.endswith(INT8_SUFFIX) else model_path.stem
    return model_path.with_name(stem + ".pt")


def manifest_path_for(model_path: str | Path) -> Path:
    model_path = Path(model_path)
    return model_path.with_suffix(".json")

"""Whether a TensorRT engine's manifest fits what is asked (the model, precision, mirroring) and
where it would run (TensorRT version, GPU compute capability), and why not.

Pure functions over manifests: the engine choice of ``--backend auto`` and the refusal in the
TensorRT backend use the same rules, and both are tested without a GPU.
"""
from __future__ import annotations

from dataclasses import dataclass

from engines.manifest import Manifest


@dataclass(frozen=True)
class Wanted:
    """What the engine must compute: the model it stands in for."""

    checkpoint_sha256: str
    mirror_averaged: bool = True
    precision: str = "fp16"  # preferred; another precision is used only when no preferred one fits
    occurrence_aus: tuple[str, ...] | None = None
    intensity_aus: tuple[str, ...] | None = None
    input_size: int | None = None

    @staticmethod
    def like(model: Manifest, precision: str = "fp16") -> "Wanted":
        """An engine that computes what ``model`` (an ONNX model's manifest) computes."""
        return Wanted(model.checkpoint_sha256, model.mirror_averaged, precision, tuple(model.occurrence_aus),
                      tuple(model.intensity_aus), model.input_size)


@dataclass(frozen=True)
class Platform:
    """Where the engine would run: a serialized engine is tied to both."""

    tensorrt_version: str  # tensorrt.__version__
    compute_capability: str  # "8.9"


def tensorrt_version_label(version: str) -> str:
    return f"tensorrt {version}"


def platform_mismatch(manifest: Manifest, platform: Platform) -> str | None:
    """Why an engine cannot be deserialised here, or None."""
    if manifest.backend != "tensorrt":
        return f"built for {manifest.backend}, not TensorRT"
    if manifest.backend_version != tensorrt_version_label(platform.tensorrt_version):
        return f"built with {manifest.backend_version or 'an unknown TensorRT'}, this is tensorrt {platform.tensorrt_version}"
    built_for = manifest.device.get("compute_capability")
    if built_for != platform.compute_capability:
        return (f"built for {manifest.device.get('gpu', 'another GPU')} (sm {built_for}), "
                f"this GPU is sm {platform.compute_capability}")
    return None


def model_mismatch(manifest: Manifest, wanted: Wanted) -> str | None:
    """Why an engine does not compute what is wanted, or None (precision is a preference, not a
    mismatch: see :func:`choose`)."""
    if manifest.checkpoint_sha256 != wanted.checkpoint_sha256:
        return f"another checkpoint ({manifest.checkpoint_sha256[:8] or '?'}, model is {wanted.checkpoint_sha256[:8]})"
    if bool(manifest.mirror_averaged) != bool(wanted.mirror_averaged):
        built = "with" if manifest.mirror_averaged else "without"
        return f"built {built} mirror averaging, the model is {'with' if wanted.mirror_averaged else 'without'}"
    if wanted.occurrence_aus is not None and tuple(manifest.occurrence_aus) != wanted.occurrence_aus:
        return "another occurrence AU list"
    if wanted.intensity_aus is not None and tuple(manifest.intensity_aus) != wanted.intensity_aus:
        return "another intensity AU list"
    if wanted.input_size is not None and manifest.input_size != wanted.input_size:
        return f"input {manifest.input_size} px, the model takes {wanted.input_size}"
    return None


def choose(candidates: list[tuple[str, Manifest]], wanted: Wanted,
           platform: Platform) -> tuple[str | None, list[str]]:
    """The best engine among ``(path, manifest)`` candidates, and one reason per rejected one.

    Every candidate must fit the model and the platform; among those the wanted precision wins,
    then the newest build (the manifest's order in ``candidates`` breaks ties: callers pass them
    newest first). Never raises."""
    fitting: list[tuple[int, int, str]] = []
    reasons: list[str] = []
    for order, (path, manifest) in enumerate(candidates):
        why = model_mismatch(manifest, wanted) or platform_mismatch(manifest, platform)
        if why:
            reasons.append(f"{path}: {why}")
            continue
        fitting.append((0 if manifest.precision == wanted.precision else 1, order, path))
    if not fitting:
        return None, reasons
    fitting.sort()
    return fitting[0][2], reasons

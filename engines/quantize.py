"""ONNX Runtime static INT8 (QDQ) from an exported FP32 graph, calibrated on real face crops.

Why: on a CPU the AU model is the pipeline's largest stage; int8 convolutions run it about 1.6x
faster (``python -m benchmarks.int8_probe``), which pays for a larger model within the speed bar.
Weights are int8 per output channel, activations uint8 with ranges taken from crops made by the
runtime's own detector, tracker and aligner (never random pixels: activation ranges set on noise
clip real faces). Weights use a 7-bit range (``reduce_range``) on every machine: ONNX Runtime's
uint8 x int8 kernels on an x86 CPU without VNNI add pairs of products in 16 bits, which full-range
weights can saturate, so a graph quantized on a VNNI CPU drifts on one without it (the earlier shipped graph, quantized
on one with VNNI: |int8 - fp32| on the webcam clip end to end 0.008 there, 0.032 on an AVX2-only
EPYC; quantized with 7-bit weights, 0.012 on the latter: README, INT8 for CPUs). A graph is shipped to every kind of CPU,
so the range cannot depend on the one that quantizes it. The result is an ONNX Runtime graph with its own manifest (precision ``int8``,
the source's checkpoint hash); TensorRT builds from the FP32/FP16 graphs instead.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

from auvid.errors import ModelError
from engines.manifest import Manifest, manifest_path_for, sha256_file

log = logging.getLogger(__name__)

CALIBRATION_CROPS = 512  # enough for stable activation ranges; more only slows the build
CALIBRATION_BATCH = 8


def face_crops(videos: list[Path], size: int, count: int = CALIBRATION_CROPS, models_dir: str | None = None) -> np.ndarray:
    """Up to ``count`` aligned grey crops (n, size, size) spread evenly over ``videos``' frames,
    made by ``auvid process``'s own detector settings, face filters and aligner.

    Only about twice the crops needed are detected per video (frames evenly strided by the
    container's frame count, then thinned if the count was unknown), so an hour of video costs
    decoding time, not an hour of detection and a gigabyte of crops."""
    from auvid.io import model_files
    from auvid.io.sources import VideoFileSource, to_gray
    from auvid.pipeline import AnalyzerOptions
    from auvid.stages.align import Aligner
    from auvid.stages.detect import YuNetDetector
    from auvid.stages.track import Tracker

    options = AnalyzerOptions()
    detector = YuNetDetector(model_files.resolve(model_files.YUNET, models_dir), frame_width=options.detect_width)
    aligner = Aligner(size)
    crops: list[np.ndarray] = []
    for done, video in enumerate(videos):
        # An equal share of what is still missing: a short or face-less clip's shortfall is
        # made up by the clips after it.
        per_video = max(1, -(-(count - len(crops)) // (len(videos) - done)))
        source = VideoFileSource(video)
        stride = max(1, source.frame_count // (2 * per_video)) if source.frame_count else 1
        # Sampled frames lie far apart, so each one is a detection frame (a track would not carry over).
        tracker = Tracker(detector, detect_every=1 if stride > 1 else options.detect_every)
        found: list[np.ndarray] = []
        for frame in source:
            if (frame.index - 1) % stride:
                continue
            faces = [f for f in tracker.update(frame.image, frame.timestamp)
                     if min(f.box[2], f.box[3]) >= options.min_face][: options.max_faces]
            if faces:
                found.extend(aligner.align_many(to_gray(frame.image), [f.landmarks for f in faces]))
            if len(found) > 4 * per_video:  # no frame count: keep every other crop, still evenly spread
                found = found[::2]
                stride *= 2
        if found:
            picks = np.linspace(0, len(found) - 1, min(per_video, len(found))).round().astype(int)
            crops.extend(found[i] for i in picks)
    if not crops:
        raise ModelError("no face found in the calibration videos; INT8 ranges need real face crops")
    return np.stack(crops[:count])


def quantize_int8(source: str | Path, out: str | Path, crops: np.ndarray, model_name: str | None = None,
                  calibration_note: str = "", calibration_videos: list[str] = ()) -> Path:
    """Write ``out`` (QDQ int8 ONNX) and its manifest from the FP32 ``source`` and uint8 ``crops``."""
    import onnxruntime

    from engines.onnx_graph import import_onnx

    import_onnx()  # ONNX Runtime's quantization tools need the onnx package (auvid[onnx])
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source = Path(source)
    manifest = Manifest.for_model(source, "onnxruntime", "ONNX Runtime")
    if manifest.precision != "fp32":
        raise ModelError(f"{source}: quantize the FP32 graph, this one is {manifest.precision}")
    if crops.ndim != 3 or crops.shape[1:] != (manifest.input_size, manifest.input_size):
        raise ModelError(f"calibration crops are {crops.shape[1:]}, the model takes {manifest.input_size} px")
    pixels = crops.astype(np.float32)[:, None]  # the graph's input: grey 0-255, normalised inside
    input_name = "pixels"

    class Crops(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter([{input_name: pixels[i:i + CALIBRATION_BATCH]}
                                  for i in range(0, len(pixels), CALIBRATION_BATCH)])

        def get_next(self):
            return next(self._batches, None)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="auvid-int8-", dir=out.parent))
    try:
        prepared = work / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(work / "int8.onnx"), Crops(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        reduce_range=True)
        shutil.move(work / "int8.onnx", out)
    except Exception as exc:  # ORT's and onnx's own errors, about a graph they cannot handle: one line
        log.debug("quantization failed", exc_info=True)
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"{source}: ONNX Runtime could not quantize this graph: {first_line}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    quantized = Manifest(**{**manifest.__dict__, "model_file": out.name, "model_sha256": sha256_file(out),
                            "precision": "int8", "model_name": model_name or manifest.model_name,
                            "backend_version": f"onnxruntime {onnxruntime.__version__}, static QDQ",
                            "build": {"quantization": "static QDQ: int8 per-channel weights, uint8 activations"
                                                      + ", 7-bit weight range (the same results on every x86 CPU)",
                                      "calibration_crops": len(crops), "calibration": calibration_note,
                                      "calibration_videos": list(calibration_videos),
                                      "source_sha256": manifest.model_sha256}})
    quantized.save(manifest_path_for(out))
    log.info("quantized %s -> %s (%d calibration crops)", source.name, out, len(crops))
    return out

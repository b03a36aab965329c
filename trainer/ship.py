"""Install a trained checkpoint as auvid's shipped default model.

``python -m trainer.ship RUN_DIR/last.pt`` writes, in ``auvid/models/default/``:

- ``auvid-default.pt``: the checkpoint;
- ``auvid-default.onnx`` + ``.json``: its FP32 graph (the source of TensorRT engines and of
  ONNX Runtime's CUDA provider);
- ``auvid-default.int8.onnx`` + ``.json``: its INT8 graph for CPUs, statically calibrated on
  face crops the runtime path makes from *training-group* clips (never a validation or test
  person, whose figures it would otherwise flatter).

``python -m trainer.ship --int8-only`` re-quantizes the FP32 graph already there (a new
quantization rule, the same model).

The model card and the held-out figures are separate steps (``auvid eval``, ``trainer.model_card``),
so a checkpoint can be installed and measured before anything is published.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

CALIBRATION_CLIPS = 16  # spread over the training people; 512 crops in all (engines.quantize)


def training_clip_videos(data_root: Path, count: int = CALIBRATION_CLIPS) -> list[Path]:
    """Videos of ``count`` training-group people (one clip each, the people spread evenly over
    the sorted list), each with teacher-confirmed faces, so no calibration share is wasted on a
    face-less clip and no person counts twice."""
    from auvid.commands.heldout import MIN_TEACHER_CONFIDENCE, video_for
    from trainer.data.openface_csv import read_openface_csv
    from trainer.data.people import GROUPS, clips_of, person_of, read_people

    people = read_people(data_root)
    held_out = {clip for group in GROUPS for clip in clips_of(group, data_root)}
    first_clip: dict[str, Path] = {}
    for clip in sorted(people):
        person = person_of(clip, people)
        labels = data_root / "labels" / "openface" / f"{clip}.static.csv"
        video = video_for(data_root, clip)
        if clip in held_out or person in first_clip or video is None or not labels.is_file():
            continue
        if read_openface_csv(labels).valid(MIN_TEACHER_CONFIDENCE).sum() >= 25:
            first_clip[person] = video
    videos = [first_clip[person] for person in sorted(first_clip)]
    if not videos:
        raise SystemExit(f"{data_root}: no labelled training-group video (people.csv, videos/ and labels/ are expected there)")
    picks = np.linspace(0, len(videos) - 1, min(count, len(videos))).round().astype(int)
    return [videos[i] for i in sorted(set(picks))]


def quantize_for_shipping(fp32: Path, data_root: Path, out: Path, models_dir: str | None = None) -> Path:
    """The INT8 graph of ``fp32`` at ``out``, calibrated on crops of the training people's clips
    (:func:`training_clip_videos`); the video names are kept relative to the data root."""
    from engines.manifest import Manifest, manifest_path_for
    from engines.quantize import face_crops, quantize_int8

    videos = training_clip_videos(data_root)
    crops = face_crops(videos, Manifest.load(manifest_path_for(fp32)).input_size,
                       models_dir=models_dir or str(data_root / "models"))
    names = [f"videos/{video.name}" for video in videos]  # relative to the data root: no machine's paths
    note = f"{len(crops)} crops from {len(videos)} training-group people's clips of the shared data"
    return quantize_int8(fp32, out, crops, "auvid-default", note, names)


def requantize(target_dir: Path, data_root: Path, models_dir: str | None = None) -> list[Path]:
    """A new INT8 graph for the FP32 graph already in ``target_dir`` (checkpoint and FP32 graph
    untouched), made in a scratch folder and moved in only when complete."""
    from engines.manifest import int8_path_for, manifest_path_for

    fp32 = target_dir / "auvid-default.onnx"
    if not fp32.is_file():
        raise SystemExit(f"{fp32}: no FP32 graph to quantize")
    scratch = Path(tempfile.mkdtemp(prefix="auvid-ship-", dir=target_dir.parent))
    try:
        shutil.copyfile(fp32, scratch / fp32.name)
        shutil.copyfile(manifest_path_for(fp32), manifest_path_for(scratch / fp32.name))
        int8 = quantize_for_shipping(scratch / fp32.name, data_root, int8_path_for(scratch / fp32.name), models_dir)
        return [Path(shutil.move(made, target_dir / made.name)) for made in (int8, manifest_path_for(int8))]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def ship(checkpoint: Path, data_root: Path, target_dir: Path, models_dir: str | None = None) -> list[Path]:
    """Checkpoint, FP32 graph and calibrated INT8 graph in ``target_dir``; returns the files written.

    Everything is made in a scratch folder and moved in at the end, so a failure (no face, a
    graph ONNX Runtime cannot quantize) leaves the previous default whole, never a new FP32
    graph beside an old INT8 one."""
    from engines.export import export_onnx
    from engines.manifest import int8_path_for, manifest_path_for

    target_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="auvid-ship-", dir=target_dir.parent))
    try:
        pt = scratch / "auvid-default.pt"
        shutil.copyfile(checkpoint, pt)
        fp32 = export_onnx(pt, scratch / "auvid-default.onnx", model_name="auvid-default")
        int8 = quantize_for_shipping(fp32, data_root, int8_path_for(fp32), models_dir)
        written = []
        for made in (pt, fp32, manifest_path_for(fp32), int8, manifest_path_for(int8)):
            written.append(Path(shutil.move(made, target_dir / made.name)))
        return written
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m trainer.ship", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, nargs="?", help="omit with --int8-only")
    parser.add_argument("--int8-only", action="store_true",
                        help="re-quantize the FP32 graph already shipped in --out (checkpoint and FP32 graph untouched)")
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "auvid" / "models" / "default")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.int8_only:
        written = requantize(args.out, args.data_root)
    elif args.checkpoint is None:
        parser.error("a checkpoint is needed (or --int8-only)")
    else:
        written = ship(args.checkpoint, args.data_root, args.out)
    for path in written:
        print(path)


if __name__ == "__main__":
    main()

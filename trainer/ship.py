"""Install a trained checkpoint as auvid's shipped default model.

``python -m trainer.ship RUN_DIR/last.pt`` writes, in ``auvid/models/default/``:

- ``auvid-default.pt``: the checkpoint;
- ``auvid-default.onnx`` + ``.json``: its FP32 graph (the source of TensorRT engines and of
  ONNX Runtime's CUDA provider);
- ``auvid-default.int8.onnx`` + ``.json``: its INT8 graph for CPUs, statically calibrated on
  face crops the runtime path makes from *training-group* clips (never a validation or test
  person, whose figures it would otherwise flatter).

The model card and the held-out figures are separate steps (``auvid eval``, ``trainer.model_card``),
so a checkpoint can be installed and measured before anything is published.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

CALIBRATION_CLIPS = 16  # spread over the training people; 512 crops in all (engines.quantize)


def training_clip_videos(data_root: Path, count: int = CALIBRATION_CLIPS) -> list[Path]:
    """``count`` videos of training-group people, spread evenly over the sorted clip list."""
    from auvid.commands.heldout import _video_for
    from trainer.data.people import GROUPS, clips_of, read_people

    held_out = {clip for group in GROUPS for clip in clips_of(group, data_root)}
    videos = [video for clip in sorted(read_people(data_root)) if clip not in held_out
              for video in [_video_for(data_root, clip)] if video is not None]
    if not videos:
        raise SystemExit(f"{data_root}: no training-group video (people.csv and videos/ are expected there)")
    picks = np.linspace(0, len(videos) - 1, min(count, len(videos))).round().astype(int)
    return [videos[i] for i in sorted(set(picks))]


def ship(checkpoint: Path, data_root: Path, target_dir: Path, models_dir: str | None = None) -> list[Path]:
    """Checkpoint, FP32 graph and calibrated INT8 graph in ``target_dir``; returns the files written."""
    from engines.export import export_onnx
    from engines.manifest import Manifest, manifest_path_for
    from engines.quantize import face_crops, quantize_int8

    target_dir.mkdir(parents=True, exist_ok=True)
    pt = target_dir / "auvid-default.pt"
    if checkpoint.resolve() != pt.resolve():
        shutil.copyfile(checkpoint, pt)
    fp32 = export_onnx(pt, target_dir / "auvid-default.onnx", model_name="auvid-default")
    videos = training_clip_videos(data_root)
    crops = face_crops(videos, Manifest.load(manifest_path_for(fp32)).input_size, models_dir=models_dir)
    names = [f"videos/{video.name}" for video in videos]  # relative to the data root: no machine's paths
    note = f"{len(crops)} crops from {len(videos)} training-group clips of the shared data"
    int8 = quantize_int8(fp32, target_dir / "auvid-default.int8.onnx", crops, "auvid-default", note, names)
    return [pt, fp32, manifest_path_for(fp32), int8, manifest_path_for(int8)]


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m trainer.ship", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "auvid" / "models" / "default")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for path in ship(args.checkpoint, args.data_root, args.out):
        print(path)


if __name__ == "__main__":
    main()

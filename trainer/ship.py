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


def ship(checkpoint: Path, data_root: Path, target_dir: Path, models_dir: str | None = None) -> list[Path]:
    """Checkpoint, FP32 graph and calibrated INT8 graph in ``target_dir``; returns the files written.

    Everything is made in a scratch folder and moved in at the end, so a failure (no face, a
    graph ONNX Runtime cannot quantize) leaves the previous default whole, never a new FP32
    graph beside an old INT8 one."""
    from engines.export import export_onnx
    from engines.manifest import Manifest, int8_path_for, manifest_path_for
    from engines.quantize import face_crops, quantize_int8

    target_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="auvid-ship-", dir=target_dir.parent))
    try:
        pt = scratch / "auvid-default.pt"
        shutil.copyfile(checkpoint, pt)
        fp32 = export_onnx(pt, scratch / "auvid-default.onnx", model_name="auvid-default")
        videos = training_clip_videos(data_root)
        crops = face_crops(videos, Manifest.load(manifest_path_for(fp32)).input_size,
                           models_dir=models_dir or str(data_root / "models"))
        names = [f"videos/{video.name}" for video in videos]  # relative to the data root: no machine's paths
        note = f"{len(crops)} crops from {len(videos)} training-group people's clips of the shared data"
        int8 = quantize_int8(fp32, int8_path_for(fp32), crops, "auvid-default", note, names)
        written = []
        for made in (pt, fp32, manifest_path_for(fp32), int8, manifest_path_for(int8)):
            written.append(Path(shutil.move(made, target_dir / made.name)))
        return written
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


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

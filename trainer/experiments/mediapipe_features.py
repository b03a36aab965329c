"""MediaPipe FaceLandmarker (the shared ``models/face_landmarker.task``) on the frames of the
train and validation crops: 52 blendshapes and 478 landmarks (pixels) per frame, one face.

MediaPipe pins opencv-contrib-python, which clashes with auvid's opencv-python, so this runs in
its own environment:  python -m venv mp && mp/bin/pip install mediapipe av numpy
    mp/bin/python trainer/experiments/mediapipe_features.py FEATURES.npz OUT.npz [DATA_ROOT]
(FEATURES.npz from ``feature_heads features``: it names the clips and frames.)
"""
import sys
from pathlib import Path

import av
import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision


def main(features: str, out: str, root: str = "../shared/data") -> None:
    z, data = np.load(features), Path(root)
    wanted: dict[str, set[int]] = {}
    for part in ("train", "val"):
        for clip, key in zip(z[f"clip_{part}"], z[f"key_{part}"]):
            wanted.setdefault(str(clip), set()).add(int(key))
    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(data / "models" / "face_landmarker.task")),
        running_mode=vision.RunningMode.IMAGE, num_faces=1, output_face_blendshapes=True,
        min_face_detection_confidence=0.3)
    found: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
    with vision.FaceLandmarker.create_from_options(options) as landmarker:
        for clip in sorted(wanted):
            video = next((data / "videos").glob(clip + ".*"))
            with av.open(str(video)) as container:
                for index, frame in enumerate(container.decode(video=0), start=1):  # 1-based, as auvid
                    if index > max(wanted[clip]):
                        break
                    if index not in wanted[clip]:
                        continue
                    image = np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
                    result = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=image))
                    if result.face_landmarks:
                        h, w = image.shape[:2]
                        found[(clip, index)] = (
                            np.array([c.score for c in result.face_blendshapes[0]], np.float32),
                            np.array([[p.x * w, p.y * h, p.z * w] for p in result.face_landmarks[0]], np.float32))
            print(clip, len(wanted[clip]), "frames", flush=True)
    keys = sorted(found)
    np.savez(out, clip=np.array([c for c, _ in keys]), key=np.array([k for _, k in keys]),
             blendshapes=np.stack([found[k][0] for k in keys]), landmarks=np.stack([found[k][1] for k in keys]))


if __name__ == "__main__":
    main(*sys.argv[1:])

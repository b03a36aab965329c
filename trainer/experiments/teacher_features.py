"""Is the teacher learnable from its own inputs, and how fast does that improve with more people?

OpenFace's static AU models are linear (SVR) on HOG of a face aligned by its 68 landmarks, plus
the landmarks' shape. The shared labels carry those 68 landmarks for every frame, so the teacher's
own alignment can be rebuilt. A ridge head of the teacher's own form, fitted on the train group's
people and scored within clips on the validation people, says two things the CNN cannot:

* ``align``: whether the 68-point alignment makes the teacher more learnable than a 5-point one
  (auvid's template, here placed with five points taken from the teacher's own landmarks);
* ``curve``: within-clip PCC against the number of training *people* (seeded subsets), i.e. what
  another labelled person buys a model of the teacher's own form.

    python -m trainer.experiments.teacher_features extract OUT.npz [--data ../shared/data]
    python -m trainer.experiments.teacher_features align OUT.npz
    python -m trainer.experiments.teacher_features curve OUT.npz

Every frame is used once (face 0, teacher confidence >= 0.75); the test people are never read.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from auvid.stages.align import similarity, template
from trainer.experiments.feature_heads import ridge
from trainer.metrics import within_clip_pcc

log = logging.getLogger(__name__)

RIGID = list(range(27, 48))  # nose and eyes: they move least with expression (OpenFace aligns on its rigid points)
SIZE = 112
CELL = 8
LAMBDA = 1e3


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """The detector's five points (eye centres, nose tip, mouth corners) from 68 iBUG landmarks."""
    return np.array([landmarks[36:42].mean(0), landmarks[42:48].mean(0), landmarks[30], landmarks[48], landmarks[54]])


def hog(image: np.ndarray) -> np.ndarray:
    """Dalal-Triggs HOG of a SIZE x SIZE grey image: 8 px cells, 9 unsigned orientation bins
    (linear vote between neighbours), 2 x 2-cell blocks with L2-Hys normalisation; flattened."""
    import cv2

    pixels = image.astype(np.float32)
    gx = cv2.Sobel(pixels, cv2.CV_32F, 1, 0, ksize=1)
    gy = cv2.Sobel(pixels, cv2.CV_32F, 0, 1, ksize=1)
    magnitude = np.hypot(gx, gy)
    position = (np.rad2deg(np.arctan2(gy, gx)) % 180.0) / 20.0
    low = np.floor(position).astype(int) % 9
    weight = position - np.floor(position)
    cells = np.zeros((SIZE // CELL, SIZE // CELL, 9), np.float32)
    rows, cols = np.meshgrid(np.arange(SIZE) // CELL, np.arange(SIZE) // CELL, indexing="ij")
    np.add.at(cells, (rows, cols, low), magnitude * (1 - weight))
    np.add.at(cells, (rows, cols, (low + 1) % 9), magnitude * weight)
    blocks = np.concatenate([cells[:-1, :-1], cells[1:, :-1], cells[:-1, 1:], cells[1:, 1:]], -1)
    blocks = np.minimum(_unit(blocks), 0.2)  # L2-Hys: normalise, clip at 0.2, normalise again
    return _unit(blocks).ravel()


def _unit(blocks: np.ndarray) -> np.ndarray:
    return blocks / np.sqrt((blocks ** 2).sum(-1, keepdims=True) + 1e-6)


def mean_shape(samples: np.ndarray, rounds: int = 4) -> np.ndarray:
    """Generalised Procrustes mean of (n, 68, 2) shapes on the rigid points, placed in a SIZE crop
    with the face 0.75 of its width (as OpenFace's 112 px, 0.7-scale alignment leaves a margin)."""
    reference = samples[0] - samples[0].mean(0)
    for _ in range(rounds):
        moved = [shape @ m[:, :2].T + m[:, 2] for shape in samples
                 for m in [similarity(shape[RIGID], reference[RIGID])]]
        reference = np.mean(moved, 0)
        reference -= reference.mean(0)
    span = reference[:, 0].max() - reference[:, 0].min()
    return reference / span * 0.75 * SIZE + np.array([SIZE / 2, SIZE / 2 + 4])


def clip_groups(data_root: Path) -> list[tuple[str, str, Path, Path]]:
    """(group, person, video, static labels) for every train/validation clip; test people skipped."""
    from trainer.data.people import group_people, person_of, read_people
    from trainer.data.shared import labelled_clips

    people = read_people(data_root)
    validation, test = set(group_people("validation")), set(group_people("test"))
    out = []
    for video, labels in labelled_clips(data_root, "static"):
        person = person_of(video.stem, people)
        if person not in test:
            out.append(("val" if person in validation else "train", person, video, labels))
    return out


def extract(out: str, data_root: str = "../shared/data") -> None:
    """HOG of both alignments, the aligned 68-point shape and the labels of every usable frame."""
    import av
    import cv2

    from trainer.data.openface_csv import read_openface_csv

    clips = clip_groups(Path(data_root))
    teachers = {video: read_openface_csv(labels) for _, _, video, labels in clips}
    usable = {video: t.valid(0.75) & (t.face_ids == 0) for video, t in teachers.items()}
    samples = np.concatenate([teachers[v].landmarks[usable[v]][::40] for g, _, v, _ in clips if g == "train"])
    shape68, shape5 = mean_shape(samples.astype(np.float64)), template(SIZE)
    columns: dict[str, list] = {k: [] for k in ("group", "person", "clip", "hog68", "hog5", "shape", "label")}
    for group, person, video, _ in clips:
        teacher = teachers[video]
        rows = {int(float(teacher.keys[i])): i for i in np.flatnonzero(usable[video])}
        with av.open(str(video)) as container:
            for index, frame in enumerate(container.decode(video=0), start=1):
                row = rows.get(index)
                if row is None:
                    continue
                gray = frame.to_ndarray(format="gray")
                points = teacher.landmarks[row].astype(np.float64)
                by68, by5 = similarity(points[RIGID], shape68[RIGID]), similarity(five_points(points), shape5)
                for name, matrix in (("hog68", by68), ("hog5", by5)):
                    face = cv2.warpAffine(gray, matrix, (SIZE, SIZE), flags=cv2.INTER_LINEAR,
                                          borderMode=cv2.BORDER_REPLICATE)
                    columns[name].append(hog(face))
                columns["shape"].append((points @ by68[:, :2].T + by68[:, 2] - shape68).ravel())
                for key, value in (("group", group), ("person", person), ("clip", video.stem),
                                   ("label", teacher.intensity[row])):
                    columns[key].append(value)
        log.info("%s (%s): %d frames", video.stem, group, len(rows))
    np.savez(out, **{k: np.array(v, np.float32 if k in ("hog68", "hog5", "shape", "label") else None)
                     for k, v in columns.items()})


def within(predicted: np.ndarray, labels: np.ndarray, clips: np.ndarray) -> float:
    """Mean over AUs of the within-clip PCC (auvid eval's figure)."""
    return float(np.mean([within_clip_pcc(predicted[:, j], labels[:, j], clips) for j in range(labels.shape[1])]))


def _split(features: dict, names: tuple[str, ...]):
    x = np.hstack([features[n] for n in names]).astype(np.float64)
    train, val = features["group"] == "train", features["group"] == "val"
    return x[train], features["label"][train], features["person"][train], x[val], features["label"][val], features["clip"][val]


def align(path: str) -> dict[str, float]:
    """Validation within-clip PCC of ridge heads on each alignment's HOG (and with the shape)."""
    features = np.load(path)
    result = {}
    for names in (("hog68",), ("hog5",), ("hog68", "shape"), ("hog5", "shape"), ("shape",)):
        x_train, y_train, _, x_val, y_val, clips = _split(features, names)
        result[" + ".join(names)] = within(ridge(x_train, y_train, x_val, LAMBDA), y_val, clips)
        print(f"{' + '.join(names):14s} within-clip PCC {result[' + '.join(names)]:.3f}", flush=True)
    return result


def curve(path: str, fractions=(0.125, 0.25, 0.5, 1.0), seeds: int = 3) -> dict[int, list[float]]:
    """Within-clip PCC of the HOG(68) + shape ridge against the number of training people."""
    from trainer.datasets import training_people_share

    x_train, y_train, people, x_val, y_val, clips = _split(np.load(path), ("hog68", "shape"))
    result: dict[int, list[float]] = {}
    for fraction in fractions:
        for seed in range(seeds if fraction < 1 else 1):
            chosen = np.isin(people, training_people_share(people, fraction, seed))
            count = len(np.unique(people[chosen]))
            result.setdefault(count, []).append(within(ridge(x_train[chosen], y_train[chosen], x_val, LAMBDA), y_val, clips))
        print(f"{count:3d} people: within-clip PCC {np.mean(result[count]):.3f} (seeds {np.round(result[count], 3).tolist()})",
              flush=True)
    counts = sorted(result)
    slope, intercept = per_doubling(counts[-2:], [np.mean(result[c]) for c in counts[-2:]])
    print(f"last doubling: {slope:+.3f} within-clip PCC per doubling of the training people")
    return result


def per_doubling(people: list[float], scores: list[float]) -> tuple[float, float]:
    """Least-squares line of score against log2(people): (gain per doubling, score at one person)."""
    slope, intercept = np.polyfit(np.log2(np.asarray(people, float)), np.asarray(scores, float), 1)
    return float(slope), float(intercept)


def people_needed(target: float, people: float, score: float, gain_per_doubling: float) -> float:
    """People a log-linear curve through (people, score) needs to reach ``target`` (inf if flat)."""
    if score >= target:
        return float(people)
    if gain_per_doubling <= 0:
        return float("inf")
    return float(people * 2.0 ** ((target - score) / gain_per_doubling))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("extract", "align", "curve"))
    parser.add_argument("features", help="the .npz extract writes and align/curve read")
    parser.add_argument("--data", default="../shared/data")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.step == "extract":
        extract(args.features, args.data)
    else:
        {"align": align, "curve": curve}[args.step](args.features)


if __name__ == "__main__":
    main()

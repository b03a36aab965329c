"""Is the teacher learnable from its own inputs, and how fast does that improve with more people?

OpenFace's static AU models are linear (SVR) on HOG of a face aligned by its 68 landmarks, plus
the landmarks' shape. The shared labels carry those 68 landmarks for every frame, so the teacher's
alignment can be rebuilt (on OpenFace's rigid points; its FHOG, face mask and PCA are approximated
by a Dalal-Triggs HOG). A ridge head of that form, fitted on the train group's people and scored
within clips on the validation people, says two things the CNN cannot:

* ``alignments``: whether the 68-point alignment makes the teacher more learnable than auvid's
  5-point one (its template, placed with five points taken from the teacher's own landmarks;
  both crops have the same scale and position, so only the alignment differs);
* ``people``: within-clip PCC against the number of training *people* (nested seeded subsets),
  i.e. what another labelled person buys a model of the teacher's form, and how many people a
  log-linear trend would need for issue #11's 0.75.

    python -m trainer.experiments.teacher_features extract OUT.npz [--data ../shared/data]
    python -m trainer.experiments.teacher_features alignments OUT.npz
    python -m trainer.experiments.teacher_features people OUT.npz

Every frame is used once (face 0, the teacher's usable rows as in training); the test people are
never read.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from auvid.stages.align import Aligner, similarity
from trainer.experiments.feature_heads import ridge, score

log = logging.getLogger(__name__)

# OpenFace's rigid points (Face_utils.cpp, extract_rigid_points): upper jaw, nose bridge and
# base, eye corners and lower lids; what moves little with expression or blinks.
RIGID = [1, 2, 3, 4, 12, 13, 14, 15, 27, 28, 29, 31, 32, 33, 34, 35, 36, 39, 40, 41, 42, 45, 46, 47]
CROP_SIZE = 112
CELL = 8
RIDGE_LAMBDA = 1e3
TARGET_WITHIN_PCC = 0.75  # issue #11


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """The detector's five points (eye centres, nose tip, mouth corners) from 68 iBUG landmarks."""
    return np.array([landmarks[36:42].mean(0), landmarks[42:48].mean(0), landmarks[30], landmarks[48], landmarks[54]])


def hog(image: np.ndarray) -> np.ndarray:
    """HOG of a CROP_SIZE x CROP_SIZE grey image: 8 px cells, 9 unsigned orientation bins centred
    at 0, 20, ..., 160 degrees (linear vote between neighbours, none between cells), 2 x 2-cell
    blocks with L2-Hys normalisation; flattened ((CROP_SIZE / CELL - 1)^2 x 36 values)."""
    import cv2

    pixels = image.astype(np.float32)
    gx = cv2.Sobel(pixels, cv2.CV_32F, 1, 0, ksize=1)
    gy = cv2.Sobel(pixels, cv2.CV_32F, 0, 1, ksize=1)
    magnitude = np.hypot(gx, gy)
    position = (np.rad2deg(np.arctan2(gy, gx)) % 180.0) / 20.0
    low = np.floor(position).astype(int) % 9
    weight = position - np.floor(position)
    cells = np.zeros((CROP_SIZE // CELL, CROP_SIZE // CELL, 9), np.float32)
    rows, cols = np.meshgrid(np.arange(CROP_SIZE) // CELL, np.arange(CROP_SIZE) // CELL, indexing="ij")
    np.add.at(cells, (rows, cols, low), magnitude * (1 - weight))
    np.add.at(cells, (rows, cols, (low + 1) % 9), magnitude * weight)
    blocks = np.concatenate([cells[:-1, :-1], cells[1:, :-1], cells[:-1, 1:], cells[1:, 1:]], -1)
    return l2_hys(blocks).ravel()


def l2_hys(blocks: np.ndarray) -> np.ndarray:
    """Normalise each block (last axis) to unit length, clip at 0.2, normalise again: no single
    strong edge dominates a block."""
    def unit(values: np.ndarray) -> np.ndarray:
        return values / np.sqrt((values ** 2).sum(-1, keepdims=True) + 1e-6)

    return unit(np.minimum(unit(blocks), 0.2))


def _moved(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points under a 2 x 3 affine matrix."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def mean_shape(samples: np.ndarray, rounds: int = 4) -> np.ndarray:
    """Generalised Procrustes mean of (n, 68, 2) shapes on the rigid points, placed in the crop
    where auvid's template puts the same face (its five points on the template's), so the two
    alignments compared differ in how they align, not in scale or position."""
    reference = samples[0] - samples[0].mean(0)
    for _ in range(rounds):
        reference = np.mean([_moved(similarity(shape[RIGID], reference[RIGID]), shape) for shape in samples], 0)
        reference -= reference.mean(0)
    return _moved(similarity(five_points(reference), Aligner(CROP_SIZE).points), reference)


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
    import cv2

    from auvid.commands.heldout import MIN_TEACHER_CONFIDENCE
    from auvid.io.sources import VideoFileSource, to_gray
    from trainer.data.openface_csv import read_openface_csv

    clips = clip_groups(Path(data_root))
    teachers = {video: read_openface_csv(labels) for _, _, video, labels in clips}
    usable = {video: t.valid(MIN_TEACHER_CONFIDENCE) & (t.face_ids == 0) for video, t in teachers.items()}
    samples = np.concatenate([teachers[v].landmarks[usable[v]][::40] for g, _, v, _ in clips if g == "train"])
    shape68, five_point = mean_shape(samples.astype(np.float64)), Aligner(CROP_SIZE)
    columns: dict[str, list] = {k: [] for k in ("group", "person", "clip", "hog68", "hog5", "shape", "label")}
    for group, person, video, _ in clips:
        teacher = teachers[video]
        rows = {int(float(teacher.keys[i])): i for i in np.flatnonzero(usable[video])}
        for frame in VideoFileSource(video):
            row = rows.get(frame.index)
            if row is None:
                continue
            gray = to_gray(frame.image)
            points = teacher.landmarks[row].astype(np.float64)
            by68 = similarity(points[RIGID], shape68[RIGID])
            columns["hog68"].append(hog(cv2.warpAffine(gray, by68, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR,
                                                       borderMode=cv2.BORDER_REPLICATE)))
            columns["hog5"].append(hog(five_point.align(gray, five_points(points))))
            columns["shape"].append((_moved(by68, points) - shape68).ravel())
            for key, value in (("group", group), ("person", person), ("clip", video.stem),
                               ("label", teacher.intensity[row])):
                columns[key].append(value)
        log.info("%s (%s): %d frames", video.stem, group, len(rows))
    np.savez(out, **{k: np.array(v, np.float32 if k in ("hog68", "hog5", "shape", "label") else None)
                     for k, v in columns.items()})


def mean_within_clip_pcc(predicted: np.ndarray, labels: np.ndarray, clips: np.ndarray) -> float:
    """auvid eval's headline: within-clip PCC per AU (predictions clipped to 0-5), mean over AUs."""
    return score(np.clip(predicted, 0, 5), labels, clips)[0]


def _load(path: str) -> dict[str, np.ndarray]:
    """The extract's arrays, read once (the HOG columns are about 1 GB each)."""
    with np.load(path) as features:
        return {key: features[key] for key in features.files}


def _split(features: dict[str, np.ndarray], names: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """(x_train, y_train, people_train, x_val, y_val, clips_val) for the named feature columns."""
    x = np.hstack([features[n] for n in names])
    train, val = features["group"] == "train", features["group"] == "val"
    return x[train], features["label"][train], features["person"][train], x[val], features["label"][val], features["clip"][val]


def compare_alignments(path: str) -> dict[str, float]:
    """Validation within-clip PCC of ridge heads on each alignment's HOG (and with the shape)."""
    features = _load(path)
    result = {}
    for names in (("hog68",), ("hog5",), ("shape",), ("hog68", "shape"), ("hog5", "shape")):
        x_train, y_train, _, x_val, y_val, clips = _split(features, names)
        name = " + ".join(names)
        result[name] = mean_within_clip_pcc(ridge(x_train, y_train, x_val, RIDGE_LAMBDA), y_val, clips)
        print(f"{name:14s} within-clip PCC {result[name]:.3f}", flush=True)
    return result


def people_curve(path: str, fractions: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0), seeds: int = 3) -> dict[int, list[float]]:
    """Within-clip PCC of the HOG(68) + shape ridge against the number of training people."""
    from trainer.datasets import sample_training_people

    x_train, y_train, people, x_val, y_val, clips = _split(_load(path), ("hog68", "shape"))
    result: dict[int, list[float]] = {}
    for fraction in fractions:
        count = len(sample_training_people(people, fraction, 0))
        if count in result:  # two fractions rounding to one count would repeat the same subsets
            continue
        for seed in range(seeds if fraction < 1 else 1):
            chosen = np.isin(people, sample_training_people(people, fraction, seed))
            predicted = ridge(x_train[chosen], y_train[chosen], x_val, RIDGE_LAMBDA)
            result.setdefault(count, []).append(mean_within_clip_pcc(predicted, y_val, clips))
        print(f"{count:3d} people: within-clip PCC {np.mean(result[count]):.3f} "
              f"(seeds {np.round(result[count], 3).tolist()})", flush=True)
    counts = sorted(result)
    gain, _ = per_doubling(counts, [float(np.mean(result[c])) for c in counts])
    last = float(np.mean(result[counts[-1]]))
    print(f"{gain:+.3f} within-clip PCC per doubling of the training people (least squares over all counts); "
          f"{TARGET_WITHIN_PCC} would need about {people_needed(TARGET_WITHIN_PCC, counts[-1], last, gain):.0f} people")
    return result


def per_doubling(people: list[float], scores: list[float]) -> tuple[float, float]:
    """Least-squares line of score against log2(people): (gain per doubling, score at one person)."""
    slope, intercept = np.polyfit(np.log2(np.asarray(people, float)), np.asarray(scores, float), 1)
    return float(slope), float(intercept)


def people_needed(target: float, current_people: float, current_score: float, gain_per_doubling: float) -> float:
    """People a log-linear trend through (current_people, current_score) needs to reach ``target``
    (infinite when the trend is flat)."""
    if current_score >= target:
        return float(current_people)
    if gain_per_doubling <= 0:
        return float("inf")
    return float(current_people * 2.0 ** ((target - current_score) / gain_per_doubling))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("extract", "alignments", "people"))
    parser.add_argument("features", help="the .npz extract writes and the other steps read")
    parser.add_argument("--data", default="../shared/data")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.step == "extract":
        extract(args.features, args.data)
    else:
        {"alignments": compare_alignments, "people": people_curve}[args.step](args.features)


if __name__ == "__main__":
    main()

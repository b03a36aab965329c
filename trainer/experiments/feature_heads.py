"""Do linear heads on other signals follow validation faces better than the model's own heads?

Fitted on the train group of the person split, scored on the validation people (static teacher
labels, every cached validation frame, mirror-averaged as shipped), within-clip and pooled PCC:

* ``centred``: a ridge head on the model's features minus the clip's mean or median, fitted to
  labels minus the clip's mean (the person's neutral removed, as OpenFace's dynamic models do),
  alone and averaged with the model's own within-clip trace;
* ``mediapipe``: ridge heads on MediaPipe FaceLandmarker's 52 blendshapes and pose-normalised
  478-point geometry (from ``mediapipe_features.py``), alone and with the model's features.

    python -m trainer.experiments.feature_heads features CKPT OUT.npz
    python -m trainer.experiments.feature_heads centred OUT.npz
    python -m trainer.experiments.feature_heads mediapipe OUT.npz MEDIAPIPE.npz
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from auvid.aus import INTENSITY_AUS, INTENSITY_MAX
from trainer.metrics import pcc, within_clip_pcc



def extract(checkpoint: str, out: str) -> None:
    """Per-view features (concatenated) and intensities of the train and validation crops."""
    import torch

    from trainer import datasets
    from trainer.checkpoint import load_checkpoint
    from trainer.config import load_config
    from trainer.loop import resize_crops

    torch.set_num_threads(2)
    config = load_config("trainer/configs/default.yaml")
    config["data"]["fer"] = False  # still images have no clip to centre on
    data = datasets.build(config, Path("."))
    model = load_checkpoint(checkpoint)[0].eval()

    @torch.no_grad()
    def run(crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pixels = resize_crops(crops, model.config.input_size)
        features, intensity = [], []
        for start in range(0, len(pixels), 256):
            batch = pixels[start:start + 256].float()
            f_sum, i_sum = 0, 0
            for x in (batch, torch.flip(batch, dims=[3])):
                per_view = [view(model.normalize(x)) for view in model.views]
                f_sum = f_sum + torch.cat(per_view, 1)
                i_sum = i_sum + torch.stack([INTENSITY_MAX * torch.sigmoid(head(f))
                                             for head, f in zip(model.intensity_heads, per_view)]).mean(0)
            features.append((0.5 * f_sum).numpy())
            intensity.append((0.5 * i_sum).numpy())
        return np.concatenate(features), np.concatenate(intensity)

    f_train, p_train = run(data.train.crops)
    f_val, p_val = run(data.val.crops)
    np.savez(out, f_train=f_train, p_train=p_train, y_train=data.train.intensity, clip_train=data.train.source,
             key_train=data.train.key, f_val=f_val, p_val=p_val, y_val=data.val.intensity,
             clip_val=data.val.source, key_val=data.val.key)


def centre(values: np.ndarray, clips: np.ndarray, statistic: str = "mean") -> np.ndarray:
    out = values.astype(np.float64).copy()
    for clip in np.unique(clips):
        rows = clips == clip
        out[rows] -= np.median(values[rows], 0) if statistic == "median" else values[rows].mean(0)
    return out


def ridge(x_train: np.ndarray, y_train: np.ndarray, x_eval: np.ndarray, lam: float) -> np.ndarray:
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
    a, b = (x_train - mu) / sd, (x_eval - mu) / sd
    y_mean = y_train.mean(0)
    w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ (y_train - y_mean))
    return b @ w + y_mean


def score(predicted: np.ndarray, labels: np.ndarray, clips: np.ndarray) -> tuple[float, float, str]:
    within = [within_clip_pcc(predicted[:, j], labels[:, j], clips) for j in range(labels.shape[1])]
    pooled = [pcc(predicted[:, j], labels[:, j]) for j in range(labels.shape[1])]
    return float(np.mean(within)), float(np.mean(pooled)), f"{INTENSITY_AUS[int(np.argmin(within))]} {min(within):.3f}"


def report(name: str, predicted: np.ndarray, labels: np.ndarray, clips: np.ndarray) -> None:
    within, pooled, worst = score(np.clip(predicted, 0, 5), labels, clips)
    print(f"{name:40s} within {within:.4f} pooled {pooled:.4f} lowest {worst}", flush=True)


def centred_heads(features: str) -> None:
    z = np.load(features)
    report("model's own heads", z["p_val"], z["y_val"], z["clip_val"])
    y_centred = centre(z["y_train"], z["clip_train"])
    level = z["p_val"] - centre(z["p_val"], z["clip_val"], "median")  # the model's clip level
    for statistic in ("mean", "median"):
        x_train = centre(z["f_train"], z["clip_train"], statistic)
        x_val = centre(z["f_val"], z["clip_val"], statistic)
        for lam in (1e2, 1e3, 1e4):
            delta = ridge(x_train, y_centred, x_val, lam)
            report(f"centred ({statistic}) head, lam {lam:g}", level + delta, z["y_val"], z["clip_val"])
            both = level + 0.5 * delta + 0.5 * centre(z["p_val"], z["clip_val"], "median")
            report(f"  averaged with the model's trace", both, z["y_val"], z["clip_val"])


def geometry(landmarks: np.ndarray) -> np.ndarray:
    """2-D landmarks with position, scale and rotation removed (generalised Procrustes)."""
    shapes = landmarks[:, :, :2] - landmarks[:, :, :2].mean(1, keepdims=True)
    shapes /= np.sqrt((shapes ** 2).sum((1, 2), keepdims=True))
    reference = shapes[0]
    for _ in range(2):
        aligned = []
        for shape in shapes:
            u, s, vt = np.linalg.svd(shape.T @ reference)
            aligned.append(shape @ (u @ vt) * s.sum())
        aligned = np.stack(aligned)
        reference = aligned.mean(0) / np.linalg.norm(aligned.mean(0))
    return aligned.reshape(len(aligned), -1)


def mediapipe_heads(features: str, mediapipe: str) -> None:
    z, m = np.load(features), np.load(mediapipe)
    index = {(str(c), int(k)): i for i, (c, k) in enumerate(zip(m["clip"], m["key"]))}
    shape = geometry(m["landmarks"])
    sets = {}
    for part in ("train", "val"):
        rows = np.array([index.get((str(c), int(k)), -1) for c, k in zip(z[f"clip_{part}"], z[f"key_{part}"])])
        found = rows >= 0
        print(f"{part}: MediaPipe found the face in {found.mean():.3f} of the frames")
        sets[part] = {"F": z[f"f_{part}"][found], "P": z[f"p_{part}"][found], "Y": z[f"y_{part}"][found],
                      "C": z[f"clip_{part}"][found], "B": m["blendshapes"][rows[found]], "G": shape[rows[found]]}
    train, val = sets["train"], sets["val"]
    report("model's own heads (same frames)", val["P"], val["Y"], val["C"])
    for name, parts in (("blendshapes", "B"), ("geometry", "G"), ("blendshapes + geometry", "BG"),
                        ("model features + blendshapes", "FB"), ("model output + blendshapes + geometry", "PBG")):
        for lam in (1e2, 1e3, 1e4):
            x_train = np.concatenate([train[p] for p in parts], 1)
            x_val = np.concatenate([val[p] for p in parts], 1)
            report(f"{name}, lam {lam:g}", ridge(x_train, train["Y"], x_val, lam), val["Y"], val["C"])


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"features": extract, "centred": centred_heads, "mediapipe": mediapipe_heads}[command](*args)

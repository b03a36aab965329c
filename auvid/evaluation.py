"""``auvid eval``: a checkpoint or engine against the teacher on held-out people, or against
AFAR's human FACS codes."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from auvid.errors import ConfigError, InputError

log = logging.getLogger(__name__)

AFAR_AUS = ["AU01", "AU02", "AU04", "AU06", "AU07", "AU10", "AU12", "AU14", "AU15", "AU17", "AU23", "AU24"]


def _engine_and_config(model: str | None, backend: str):
    from engines.manifest import Manifest, manifest_path_for
    from engines.select import DEFAULT_MODEL, open_engine

    model_path = Path(model) if model else DEFAULT_MODEL
    if not model_path.exists():
        raise InputError(f"{model_path}: no such model")
    engine = open_engine("torch" if model_path.suffix == ".pt" and backend == "auto" else backend, model_path)
    checkpoint = model_path if model_path.suffix == ".pt" else model_path.with_suffix(".pt")
    train_config = None
    if checkpoint.is_file():
        import torch

        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        train_config = json.loads(state["train_config"]) if "train_config" in state else None
    elif model_path.suffix != ".pt":
        Manifest.load(manifest_path_for(model_path))
    return engine, train_config


def predict_crops(engine, crops: np.ndarray, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    size = engine.input_size
    probs, intensities = [], []
    for start in range(0, len(crops), batch):
        chunk = crops[start:start + batch]
        if chunk.shape[1] != size:
            chunk = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in chunk])
        prob, intensity = engine.infer(chunk[:, None].astype(np.float32))
        probs.append(prob)
        intensities.append(intensity)
    return np.concatenate(probs), np.concatenate(intensities)


def heldout_metrics(engine, train_config: dict, data_root: Path) -> dict:
    from trainer.data.identities import identity_of
    from trainer.data.shared import build_video_sets, labelled_clips
    from trainer.metrics import intensity_report, occurrence_report, summarize

    data = train_config["data"]
    cache = Path(data["cache"])
    held_clips = [video.stem for video, _ in labelled_clips(data_root, data["teacher"])
                  if identity_of(video.stem) in data["val_identities"]]
    if not held_clips:
        raise ConfigError("the config names no held-out identities present in the data")
    videos = build_video_sets(data_root, cache, teacher=data["teacher"], min_confidence=data["min_confidence"],
                              every=data["frame_step"], clips=held_clips)
    groups = np.array([identity_of(s) for s in videos.source])
    held = videos.subset(np.isin(groups, data["val_identities"]))
    if not len(held):
        raise ConfigError("the config names no held-out identities present in the data")
    prob, intensity = predict_crops(engine, held.crops)
    intensity_metrics = intensity_report(intensity, held.intensity, engine.intensity_aus)
    occurrence_metrics = occurrence_report(prob, held.occurrence, engine.occurrence_aus)
    return {"summary": summarize(intensity_metrics, occurrence_metrics), "intensity": intensity_metrics,
            "occurrence": occurrence_metrics, "frames": int(len(held)),
            "identities": sorted(set(groups[np.isin(groups, data["val_identities"])].tolist()))}


def afar_metrics(engine, data_root: Path) -> dict:
    """F1 per shared AU on AFAR's 18 human-coded frames (our detector and aligner on each)."""
    import csv

    import cv2

    from auvid import model_files
    from auvid.align import Aligner
    from auvid.detect import YuNetDetector
    from trainer.metrics import f1

    afar = data_root / "afar"
    rows = list(csv.DictReader(open(afar / "labels.csv")))
    detector = YuNetDetector(model_files.resolve(model_files.YUNET, data_root / "models"), frame_width=10_000)
    aligner = Aligner(engine.input_size)
    crops, labels, missed = [], [], []
    for row in rows:
        image = cv2.imread(str(afar / row["image"]), cv2.IMREAD_COLOR)
        # AFAR's frames are tight crops; a border gives the detector the context it expects.
        padded = cv2.copyMakeBorder(image, 60, 60, 60, 60, cv2.BORDER_REPLICATE)
        faces = detector.detect(padded)
        if not faces:
            missed.append(row["image"])
            continue
        best = max(faces, key=lambda f: f.score)
        crops.append(aligner.align(cv2.cvtColor(padded, cv2.COLOR_BGR2GRAY), best.landmarks))
        labels.append(row)
    if not crops:
        raise InputError("no face found in any AFAR frame")
    prob, _ = engine.infer(np.stack(crops)[:, None].astype(np.float32))
    report = {}
    for au in AFAR_AUS:
        column = next((c for c in rows[0] if c.upper() in (au, au.replace("AU0", "AU"))), None)
        if column is None or au not in engine.occurrence_aus:
            continue
        reference = np.array([int(float(r[column])) for r in labels])
        predicted = prob[:, engine.occurrence_aus.index(au)] >= 0.5
        report[au] = {"f1": f1(predicted, reference == 1), "positives": int(reference.sum()), "frames": len(reference)}
    return {"occurrence": report, "frames": len(crops), "missed": missed}


def run_eval(model, data: str, data_root: str, config_path, json_out, backend) -> dict:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    root = Path(data_root)
    if not root.is_dir():
        raise InputError(f"{root}: data folder not found (pass --data-root)")
    engine, train_config = _engine_and_config(model, backend)
    if data == "afar":
        result = afar_metrics(engine, root)
        table = Table(title=f"AFAR human-coded frames ({result['frames']} faces)")
        for column in ("AU", "F1", "positives"):
            table.add_column(column)
        for au, values in result["occurrence"].items():
            table.add_row(au, f"{values['f1']:.3f}", str(values["positives"]))
    else:
        if config_path:
            from trainer.config import load_config

            train_config = load_config(config_path)
        if train_config is None:
            raise ConfigError("held-out evaluation needs the training config: pass --config, or a model with its .pt beside it")
        result = heldout_metrics(engine, train_config, root)
        table = Table(title=f"held-out people vs teacher ({result['frames']} frames)")
        for column in ("AU", "PCC", "CCC", "ICC(3,1)", "MAE", "F1"):
            table.add_column(column, justify="right")
        for au in engine.occurrence_aus:
            i = result["intensity"].get(au, {})
            o = result["occurrence"].get(au, {})
            table.add_row(au, *(f"{i[k]:.3f}" if k in i else "-" for k in ("pcc", "ccc", "icc", "mae")),
                          f"{o['f1']:.3f}" if o else "-")
        s = result["summary"]
        table.add_row("mean", f"{s['mean_pcc']:.3f}", f"{s['mean_ccc']:.3f}", f"{s['mean_icc']:.3f}",
                      f"{s['mean_mae']:.3f}", f"{s['mean_f1']:.3f}", style="bold")
    console.print(table)
    console.print(f"model: {engine.description}")
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=2, default=float))
        console.print(f"wrote {json_out}")
    return result

"""``auvid eval``: a checkpoint or engine against the teacher on held-out people, or against
AFAR's human FACS codes."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from auvid.errors import InputError

log = logging.getLogger(__name__)

AFAR_AUS = ["AU01", "AU02", "AU04", "AU06", "AU07", "AU10", "AU12", "AU14", "AU15", "AU17", "AU23", "AU24"]


def _engine_and_checkpoint(model: str | None, backend: str):
    """The engine to evaluate, and what its checkpoint (if beside it) says it was trained on."""
    from engines.manifest import Manifest, checkpoint_path_for, manifest_path_for
    from engines.select import DEFAULT_MODEL, open_engine

    model_path = Path(model) if model else DEFAULT_MODEL
    if not model_path.exists():
        raise InputError(f"{model_path}: no such model")
    # No --model: the default as `auvid process` runs it (its INT8 graph on a CPU, where shipped).
    engine = open_engine("torch" if model_path.suffix == ".pt" and backend == "auto" else backend, model)
    checkpoint = checkpoint_path_for(model_path)  # an INT8 graph's is its FP32 graph's
    model_data = None
    if checkpoint.is_file():
        import torch

        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model_data = json.loads(state["data"]) if "data" in state else None
    elif model_path.suffix != ".pt":
        Manifest.load(manifest_path_for(model_path))
    return engine, model_data


def heldout_metrics(engine, group: str, data_root: Path, model_data: dict | None) -> dict:
    """The model on one person group (validation or test) through the runtime path."""
    from auvid.commands.heldout import group_clips, heldout_report, heldout_traces

    clips = group_clips(group, data_root, model_data)
    traces = heldout_traces(engine, clips, data_root)
    report = heldout_report(traces, engine.intensity_aus, engine.occurrence_aus)
    report["group"] = group
    return report


def afar_decisions(engine, data_root: Path) -> dict:
    """The model's occurrence decisions (probability >= 0.5) and AFAR's human codes on the 18
    human-coded frames (our detector and aligner on each), per shared AU: what F1 and paired
    model comparisons (``auvid.commands.afar_compare``) are computed from."""
    import csv

    import cv2

    from auvid.io import model_files
    from auvid.stages.align import Aligner
    from auvid.stages.detect import YuNetDetector

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
    predicted, reference = {}, {}
    for au in AFAR_AUS:
        column = next((c for c in rows[0] if c.upper() in (au, au.replace("AU0", "AU"))), None)
        if column is None or au not in engine.occurrence_aus:
            continue
        reference[au] = np.array([int(float(r[column])) == 1 for r in labels])
        predicted[au] = prob[:, engine.occurrence_aus.index(au)] >= 0.5
    return {"images": [r["image"] for r in labels], "predicted": predicted, "reference": reference, "missed": missed}


def afar_metrics(engine, data_root: Path) -> dict:
    """F1 per shared AU on AFAR's 18 human-coded frames."""
    from trainer.metrics import f1

    decisions = afar_decisions(engine, data_root)
    report = {au: {"f1": f1(decisions["predicted"][au], reference), "positives": int(reference.sum()),
                   "frames": len(reference)} for au, reference in decisions["reference"].items()}
    return {"occurrence": report, "frames": len(decisions["images"]), "missed": decisions["missed"]}


def run_eval(model, data: str, data_root: str, split: str, json_out, backend, calibrate: bool = False) -> dict:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    root = Path(data_root)
    if not root.is_dir():
        raise InputError(f"{root}: data folder not found (pass --data-root)")
    engine, model_data = _engine_and_checkpoint(model, backend)
    if data == "afar":
        result = afar_metrics(engine, root)
        table = Table(title=f"AFAR human-coded frames ({result['frames']} faces)")
        for column in ("AU", "F1", "positives"):
            table.add_column(column)
        for au, values in result["occurrence"].items():
            table.add_row(au, f"{values['f1']:.3f}", str(values["positives"]))
    elif calibrate:  # vs the teacher's dynamic output, without and with --calibrate (auvid/commands/calibration_eval.py)
        from auvid.commands.calibration_eval import calibration_metrics, calibration_table

        result = calibration_metrics(engine, split, root, model_data)
        table = calibration_table(result)
    else:
        result = heldout_metrics(engine, split, root, model_data)
        table = heldout_table(result)
    console.print(table)
    console.print(f"model: {engine.description}")
    result["model"] = {"engine": engine.description, "precision": engine.manifest.precision,
                       "file": Path(getattr(engine, "model_path", None) or model or "").name}
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=2, default=float))
        console.print(f"wrote {json_out}")
    return result


def heldout_table(result: dict):
    """Pooled figures, then within-clip ones, then the clip-mean floor, per AU and their means."""
    from rich.table import Table

    s = result["summary"]
    table = Table(title=f"{result['group']} people vs teacher: {len(result['people'])} people, {len(result['clips'])} clips, "
                        f"{result['frames']} of {result['labelled_frames']} labelled frames matched",
                  caption="within: clip-centred traces pooled; per-clip: mean r where the teacher moves "
                          f"(std >= 0.3, {s['moving_pairs']} clip-AU pairs); clip-mean: the pooled PCC of "
                          "predicting each clip's teacher mean")
    for column in ("AU", "PCC", "CCC", "ICC", "MAE", "F1", "within", "per-clip", "clip-mean"):
        table.add_column(column, justify="right")

    def cell(values: dict, key: str) -> str:
        value = values.get(key)
        return "-" if value is None or value != value else f"{value:.3f}"

    for au in sorted(set(result["intensity"]) | set(result["occurrence"])):
        i = result["intensity"].get(au, {})
        o = result["occurrence"].get(au, {})
        table.add_row(au, *(cell(i, k) for k in ("pcc", "ccc", "icc", "mae")), cell(o, "f1"),
                      *(cell(i, k) for k in ("within_pcc", "per_clip_r", "clip_mean_pcc")))
    table.add_row("mean", *(cell(s, k) for k in ("mean_pcc", "mean_ccc", "mean_icc", "mean_mae", "mean_f1",
                                                  "mean_within_pcc", "mean_per_clip_r", "mean_clip_mean_pcc")),
                  style="bold")
    return table

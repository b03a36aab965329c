"""Writes a model card (MODEL_CARD.md) from a checkpoint's own record: data, config, metrics on
held-out people, and the ablation run when one is given. Numbers come only from the files."""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from engines.manifest import int8_path_for, manifest_path_for
from trainer.checkpoint import file_sha256


def _fmt(value: float, digits: int = 3) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _on_minus_off(runs: list[tuple[str, dict, dict]]) -> list[str]:
    """Each run with co-regularization off against the run that differs from it only in that switch
    (same epochs and multi-view form): the only comparisons the table supports."""
    def key(train: dict) -> tuple:
        return train["epochs"], train.get("mv_form", "cos")

    lines = []
    for name, train, summary in runs:
        if train["co_regularization"]:
            continue
        base = next(((n, s) for n, t, s in runs if t["co_regularization"] and t["use_unlabelled"]
                     and key(t) == key(train)), None)
        if base is None:
            continue
        lines.append(f"- co-regularization + unlabelled on minus off at {train['epochs']} epochs (`{base[0]}` minus "
                     f"`{name}`): PCC {base[1]['mean_pcc'] - summary['mean_pcc']:+.3f}, F1 "
                     f"{base[1]['mean_f1'] - summary['mean_f1']:+.3f}, MAE {base[1]['mean_mae'] - summary['mean_mae']:+.3f}.")
    return lines


def _run_row(name: str, train: dict, summary: dict) -> str:
    return (f"| {name} | {train['epochs']} | {train.get('mv_form', 'cos')} | {train['co_regularization']} | {train['use_unlabelled']} | "
            f"{_fmt(summary['mean_pcc'])} | {_fmt(summary['mean_ccc'])} | {_fmt(summary['mean_mae'])} | {_fmt(summary['mean_f1'])} |")


TEST_SECTION_TITLE = "## Test people: how well the traces follow the teacher"
COMPARISON_TITLE = "## The decision: configurations over seeds on the validation people"


def comparison_section(table: dict, command: str, chosen: str) -> list[str]:
    """Each configuration's mean and spread over seeds (trainer.compare_runs), the rows a model
    decision rests on; every row is measured on the same validation frames."""
    lines = [COMPARISON_TITLE, "",
             "Every row is scored on all frames of the validation group's 22 people (cached runtime-path crops, mirror "
             "averaged, no smoothing), mean +- standard deviation over seeds. The test people played no part.", "",
             "```", command, "```", "",
             "| configuration | seeds | within-clip PCC | per-clip r | pooled PCC | clip-mean PCC | CCC | MAE | F1 |",
             "|---|---|---|---|---|---|---|---|---|"]
    keys = ("mean_within_pcc", "mean_per_clip_r", "mean_pcc", "mean_clip_mean_pcc", "mean_ccc", "mean_mae", "mean_f1")
    for name, row in table.items():
        cells = [f"{row['mean'][k]:.3f} +- {row['std'][k]:.3f}" if len(row["seeds"]) > 1 else f"{row['mean'][k]:.3f}"
                 for k in keys]
        label = f"**{name}** (shipped)" if name == chosen else name
        lines.append(f"| {label} | {len(row['seeds'])} | " + " | ".join(cells) + " |")
    return lines + [""]


def test_people_section(report: dict) -> list[str]:
    """The published figures: `auvid eval --split test` (runtime path) with within-clip agreement and
    the clip-mean reference beside the pooled figures, per AU and as means."""
    s = report["summary"]
    lines = [TEST_SECTION_TITLE, "",
             f"`auvid eval --split test` runs each clip of the {len(report['people'])} test people "
             f"({len(report['clips'])} clips, trainer/data/splits.yaml; never used for a decision) through "
             f"`auvid process`'s own path (detector, tracker, aligner, smoothing; no cached crops) and matches "
             f"{report['frames']} of {report['labelled_frames']} teacher-labelled frames.",
             "",
             f"Mean over 17 AUs: **within-clip PCC {s['mean_within_pcc']:.3f}** (clip-centred traces, pooled over clips; "
             f"lowest AU {s['min_within_pcc']:.3f}), mean per-clip r {s['mean_per_clip_r']:.3f} over the "
             f"{s['moving_pairs']} (clip, AU) pairs where the teacher moves (std >= 0.3), "
             f"**pooled PCC {s['mean_pcc']:.3f}** against **{s['mean_clip_mean_pcc']:.3f} for the clip-mean reference** "
             f"(each clip's teacher mean on every frame, which follows nothing within a clip), CCC {s['mean_ccc']:.3f}, "
             f"MAE {s['mean_mae']:.3f}, occurrence F1 {s['mean_f1']:.3f}.",
             "",
             "| AU | within-clip PCC | per-clip r | pooled PCC | clip-mean PCC | CCC | MAE | F1 |",
             "|---|---|---|---|---|---|---|---|"]
    for au in sorted(set(report["intensity"]) | set(report["occurrence"])):
        i = report["intensity"].get(au, {})
        o = report["occurrence"].get(au, {})
        lines.append(f"| {au} | " + " | ".join(_fmt(i.get(k)) for k in ("within_pcc", "per_clip_r", "pcc", "clip_mean_pcc",
                                                                          "ccc", "mae")) + f" | {_fmt(o.get('f1'))} |")
    return lines


def write_card(checkpoint: Path, out: Path, command: str, ablation: list[Path] | None = None, minutes: float | None = None,
               afar: Path | None = None, test_people: Path | None = None, comparison: Path | None = None,
               comparison_command: str = "", chosen: str = "", base_note: str = "", afar_note: str = "") -> Path:
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    config = json.loads(state["train_config"])
    metrics = json.loads(state["metrics"])
    data = json.loads(state["data"])
    history = json.loads(state["history"])
    int8_manifest = manifest_path_for(int8_path_for(checkpoint.with_suffix(".onnx")))
    int8_note = (json.loads(int8_manifest.read_text())["build"].get("calibration") or "calibrated on face crops"
                 ) if int8_manifest.is_file() else None
    lines = [
        "# auvid default model",
        "",
        "A two-view MLCR model (Niu et al., NeurIPS 2019: two feature generators, GCN-refined per-AU classifiers,",
        "multi-view and co-regularization losses) distilled from the OpenFace 2.0.6 teacher, as FG2020's",
        "noisy-label pre-training recipe does. It predicts OpenFace's 17 AU intensities (0-5) and 18 AU occurrences.",
        "",
        "## Files",
        "- `auvid-default.onnx` + `auvid-default.json`: the fused FP32 inference graph (normalisation, both views, the GCN-derived",
        "  classifiers, mirror and view averaging, sigmoid) and its manifest; the source of TensorRT engines and what ONNX",
        "  Runtime runs where it has CUDA" + ("." if int8_note is None else ";"),
        *([] if int8_note is None else [
            "- `auvid-default.int8.onnx` + `auvid-default.int8.json`: the same graph quantized by ONNX Runtime (static QDQ, int8",
            f"  per-channel weights, uint8 activations; {int8_note}); what `auvid process` runs by default on a CPU.",
            "  Written by `python -m trainer.ship CHECKPOINT`. The test-people and AFAR figures below are `auvid eval`'s,",
            "  which runs the default as `auvid process` does (this graph, on a CPU; each JSON names the graph it ran);",
            "  the validation figures are the trainer's (torch, FP32)."]),
        f"- `auvid-default.pt`: the checkpoint (sha256 `{file_sha256(checkpoint)}`), `torch.load(weights_only=True)`.",
        "",
        f"- Size: {sum(int(v.numel()) for v in state['state_dict'].values()) / 1e6:.2f} M weights (state dict, batch-norm statistics included) for both views and the GCN "
        f"({config['model']['backbone']} backbone, width {config['model']['width']}, {config['model']['input_size']}x"
        f"{config['model']['input_size']} grey input).",
        "",
        "## Data and teacher",
        f"- Teacher: {data['teacher']} (per-frame, no person calibration), not human FACS codes.",
        f"- Training faces: {data['train_faces']} ({len(data['train_sources'])} sources: shared talking-head clips and FER2013 faces with teacher labels);",
        (f"  unlabelled pool for co-regularization: {data['unlabelled_faces']} FER2013 faces the teacher failed on."
         if config["train"]["co_regularization"] and config["train"]["use_unlabelled"] else
         "  no unlabelled pool: co-regularization and the unlabelled pool are off in this run."),
        f"- Held-out validation: {data['val_faces']} frames of {len(data['val_identities'])} identities never seen in training:",
        f"  {', '.join(data['val_identities'])}.",
        "- Splits are by person (`people.csv` in the shared data), never by frame.",
        "- Faces are cropped by auvid's own YuNet detector, tracker and 5-point aligner, the same code `auvid process` runs.",
        "",
        "## Configuration",
        "```json",
        json.dumps({k: config[k] for k in ("model", "train")}, indent=1),
        "```",
        "",
        "Reproduce (about " + (f"{minutes:.0f}" if minutes else "?") + " minutes on a 2-core CPU):",
        "```",
        command,
        "```",
        *(["", base_note] if base_note else []),
        "",
        *(comparison_section(json.loads(Path(comparison).read_text()), comparison_command, chosen) if comparison else []),
        *(test_people_section(json.loads(Path(test_people).read_text())) + [""] if test_people else []),
        "## Validation metrics recorded at training time (validation people, cached crops, all frames pooled)",
        "",
        "What the trainer measured on its validation people when it finished. A pooled figure mostly measures "
        "differences *between* clips; the test-people section above is the one to read.",
        "",
        f"Mean over the 17 intensity AUs: **PCC {_fmt(metrics['summary']['mean_pcc'])}**, CCC {_fmt(metrics['summary']['mean_ccc'])}, "
        f"ICC(3,1) {_fmt(metrics['summary']['mean_icc'])}, MAE {_fmt(metrics['summary']['mean_mae'])}; "
        f"occurrence F1 {_fmt(metrics['summary']['mean_f1'])} (18 AUs). {metrics['frames']} frames."
        + (f" Within-clip PCC {_fmt(metrics['summary']['mean_within_pcc'])}, clip-mean reference "
           f"{_fmt(metrics['summary']['mean_clip_mean_pcc'])}." if "mean_within_pcc" in metrics["summary"] else ""),
        "",
        "| AU | PCC | CCC | ICC(3,1) | MAE | F1 | teacher base rate |",
        "|---|---|---|---|---|---|---|",
    ]
    for au, values in metrics["intensity"].items():
        occurrence = metrics["occurrence"].get(au, {})
        lines.append(f"| {au} | {_fmt(values['pcc'])} | {_fmt(values['ccc'])} | {_fmt(values['icc'])} | {_fmt(values['mae'])} | "
                     f"{_fmt(occurrence.get('f1'))} | {_fmt(occurrence.get('base_rate'), 2)} |")
    for au, values in metrics["occurrence"].items():
        if au not in metrics["intensity"]:
            lines.append(f"| {au} | - | - | - | - | {_fmt(values['f1'])} | {_fmt(values['base_rate'], 2)} |")
    lines += ["", "Training history (validation between epochs uses every 4th held-out frame without mirroring):", "",
              "| epoch | train loss | val PCC | val MAE | val F1 | seconds |", "|---|---|---|---|---|---|"]
    for record in history:
        lines.append(f"| {record['epoch']} | {_fmt(record['train'].get('loss'))} | {_fmt(record['val'].get('mean_pcc'))} | "
                     f"{_fmt(record['val'].get('mean_mae'))} | {_fmt(record['val'].get('mean_f1'))} | {record['seconds']:.0f} |")
    last_mv = history[-1]["train"].get("mv") if history else None
    if last_mv is not None:
        form = config["train"].get("mv_form", "cos")
        lines += ["", f"Multi-view term over the last epoch (`train.mv_form={form}`): {last_mv:.3f}"
                  + (" (mean cosine of the two views' per-AU classifier weights: near -1 means anti-parallel, not "
                     "orthogonal; `mv_form=abs` penalises both)." if form == "cos" else " (mean |cosine|: 0 is orthogonal).")]
    if ablation:
        lines += ["", "## Ablation: co-regularization + unlabelled pool", "",
                  "Same split, seed, data and architecture. Each run below differs from the shipped one only in what its "
                  "columns show; compare runs with the same number of epochs (the learning-rate schedule spans the run).", "",
                  "| run | epochs | L_mv | co-reg | unlabelled | PCC | CCC | MAE | F1 |", "|---|---|---|---|---|---|---|---|---|",
                  _run_row("shipped", config["train"], metrics["summary"])]
        runs = [("shipped", config["train"], metrics["summary"])]
        for other_path in ablation:
            other = torch.load(other_path, map_location="cpu", weights_only=True)
            runs.append((Path(other_path).parent.name, json.loads(other["train_config"])["train"],
                         json.loads(other["metrics"])["summary"]))
            lines.append(_run_row(*runs[-1]))
        lines.append("")
        comparisons = _on_minus_off(runs)
        lines += comparisons
        if comparisons and all("): PCC -" in line for line in comparisons):
            lines.append("- On this teacher-labelled data the co-regularization term and the unlabelled pool did not "
                         "raise held-out agreement at any length measured. The shipped model keeps them: it is the "
                         "MLCR model the trainer exists to train, whose unlabelled term is meant for scarce labels, "
                         "not for 34k teacher-labelled faces. `--set train.co_regularization=false "
                         "train.use_unlabelled=false` trains without them.")
        lines.append("- One seed per run; run-to-run noise was not measured, so differences of about 0.01 are not "
                     "evidence either way.")
    if afar:
        report = json.loads(Path(afar).read_text())
        lines += ["", "## Human FACS codes: AFAR's 18 frames", "",
                  f"`auvid eval --data afar` on the {report['frames']} frames of ../shared/data/afar where our detector found the face "
                  f"({len(report['missed'])} missed). The only human-coded AU labels here: too few frames for a benchmark, "
                  "but a check that the teacher-distilled model agrees with FACS coders, not just with OpenFace.", "",
                  "| AU | F1 | positives | frames |", "|---|---|---|---|"]
        for au, values in report["occurrence"].items():
            lines.append(f"| {au} | {_fmt(values['f1'])} | {values['positives']} | {values['frames']} |")
        f1s = [v["f1"] for v in report["occurrence"].values() if not math.isnan(v["f1"])]
        if f1s:  # an AU without positives or predictions has no F1 and is left out of the mean
            lines += ["", f"Mean F1 over {len(f1s)} AUs: {_fmt(sum(f1s) / len(f1s))}." + (f" {afar_note}" if afar_note else "")]
    lines += ["", "## Licence terms inherited",
              "- The labels are outputs of OpenFace 2.0.6, whose licence allows academic, non-commercial research use only;",
              "  several training clips carry the same terms (OpenFace samples), and FER2013 is for research use.",
              "- So this model is for **non-commercial research use only**. The auvid code is separate from these terms.",
              "", "## Limits",
              "- It imitates a teacher: where OpenFace is wrong, this model learned to be wrong the same way.",
              "- Grey 96x96 crops: fine-grained cues (AU14 dimples, AU23 lip tightening) are harder than brow and mouth opening.",
              "- Its traces are per-frame (OpenFace's static kind). OpenFace's default video output is person-calibrated; "
              "`--calibrate` (auvid/stages/calibrate.py) removes each face's baseline to approach it.", ""]
    out.write_text("\n".join(lines))
    return out


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--command", required=True)
    parser.add_argument("--ablation", type=Path, action="append", help="another run to compare (repeatable)")
    parser.add_argument("--minutes", type=float)
    parser.add_argument("--afar", type=Path, help="JSON from `auvid eval --data afar --json FILE`")
    parser.add_argument("--test-people", type=Path, help="JSON from `auvid eval --split test --json FILE`")
    parser.add_argument("--comparison", type=Path, help="JSON from `python -m trainer.compare_runs`")
    parser.add_argument("--comparison-command", default="", help="the command that wrote --comparison")
    parser.add_argument("--chosen", default="", help="the configuration of --comparison that was shipped")
    parser.add_argument("--base-note", default="", help="a paragraph on what the run started from")
    parser.add_argument("--afar-note", default="", help="a paragraph after the AFAR table (other models' figures)")
    args = parser.parse_args()
    print(write_card(args.checkpoint, args.out, args.command, args.ablation, args.minutes, args.afar, args.test_people,
                     args.comparison, args.comparison_command, args.chosen, args.base_note, args.afar_note))

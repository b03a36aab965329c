"""``auvid eval --calibrate``: person calibration judged against OpenFace's *dynamic* output.

OpenFace's default video output is person-calibrated (its dynamic AU models and whole-clip
post-processing); ``--calibrate`` exists to match it. Each clip of a person group goes once through
the runtime path (:class:`~auvid.pipeline.Analyzer`, as ``auvid process`` runs it); the same results
are then read twice, as they are and after :meth:`auvid.stages.calibrate.Calibrator.offline`, and matched
to the teacher's ``*.dynamic.csv`` rows by the rule ``auvid eval`` uses (:func:`auvid.commands.heldout.clip_traces`),
so both columns of the table are measured on the same frames.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from auvid.errors import InputError

log = logging.getLogger(__name__)


class _Replay:
    """Hands :func:`auvid.commands.heldout.clip_traces` results computed once, in place of a second run."""

    def __init__(self, results: list) -> None:
        self.results = results

    def run(self, frames):
        return iter(self.results)


def _calibrated_copy(results: list, engine, settings=None) -> list:
    """The results after offline calibration; the calibrated 0/1 occurrence goes where the
    probability was, so F1 at the usual 0.5 threshold scores the calibration's rule."""
    from auvid.stages.calibrate import Calibrator

    copies = [replace(r, faces=list(r.faces), image=None) for r in results]
    calibrated = list(Calibrator(engine.intensity_aus, engine.occurrence_aus, settings).offline(copies))
    for result in calibrated:
        result.faces = [replace(f, occurrence_prob=f.occurrence.astype(np.float32)) for f in result.faces]
    return calibrated


def live_offline_gap(results: list, engine) -> float | None:
    """Mean |live - offline| calibrated intensity over one clip's rows after the live baseline
    settled (None when it never settles): how far a live session's output is from the offline one."""
    from auvid.stages.calibrate import Calibrator

    def calibrated(mode: str) -> list:
        calibrator = Calibrator(engine.intensity_aus, engine.occurrence_aus)
        copies = [replace(r, faces=list(r.faces), image=None) for r in results]
        return list(calibrator.offline(copies) if mode == "offline" else calibrator.live(copies))

    gaps = [np.abs(live.intensity - offline.intensity).mean()
            for live_result, offline_result in zip(calibrated("live"), calibrated("offline"))
            for live, offline in zip(live_result.faces, offline_result.faces) if live.calibrated]
    return float(np.mean(gaps)) if gaps else None


def _traces(columns: dict, labelled: int):
    from auvid.commands.heldout import HeldoutTraces

    return HeldoutTraces(**{k: np.array(v) for k, v in columns.items()}, labelled_frames=labelled)


def teacher_static_traces(static_csv: Path, engine) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """frame -> (OpenFace's static intensities, the same after :class:`~auvid.stages.calibrate.Calibrator`
    with a baseline from all of the clip's usable rows): what the calibration does to the teacher's
    own per-frame output, a reference for what it can do to a model that follows faces as closely."""
    from auvid.stages.calibrate import Calibrator
    from auvid.frames import Face, FaceResult, FrameResult
    from auvid.commands.heldout import MIN_TEACHER_CONFIDENCE
    from trainer.data.openface_csv import read_openface_csv

    teacher = read_openface_csv(static_csv)
    valid = np.nonzero(teacher.valid(MIN_TEACHER_CONFIDENCE))[0]
    face = Face(np.zeros(4, np.float32), np.zeros((5, 2), np.float32), 1.0, 0)  # OpenFace follows one face
    results = [FrameResult(int(float(teacher.keys[i])), float(n), [FaceResult(
        face, teacher.intensity[i], teacher.occurrence[i].astype(np.float32))], {}) for n, i in enumerate(valid)]
    raw = {r.frame_index: r.faces[0].intensity for r in results}
    calibrated = Calibrator(engine.intensity_aus, engine.occurrence_aus).offline(
        [replace(r, faces=list(r.faces)) for r in results])
    return {r.frame_index: (raw[r.frame_index], r.faces[0].intensity) for r in calibrated}


def reference_figures(uncalibrated, static: dict, intensity_aus: list[str]) -> dict[str, float]:
    """Mean pooled PCC over AUs vs the dynamic labels of: the best any per-clip shift of the
    model's traces could do (each clip's trace moved to the teacher's dynamic clip mean), and
    OpenFace's static output without and with this calibration (frames where it has a row)."""
    from trainer.metrics import clip_means, nanmean, pcc

    t = uncalibrated
    shifted = np.stack([t.intensity[:, j] - clip_means(t.intensity[:, j], t.clip)
                        + clip_means(t.teacher_intensity[:, j], t.clip) for j in range(len(intensity_aus))], 1)
    keys = [(c, int(f)) for c, f in zip(t.clip, t.frame)]
    rows = [i for i, key in enumerate(keys) if key in static]
    raw = np.array([static[keys[i]][0] for i in rows]).reshape(-1, len(intensity_aus))
    cal = np.array([static[keys[i]][1] for i in rows]).reshape(-1, len(intensity_aus))
    reference = t.teacher_intensity[rows]

    def mean_pcc(predicted, target):
        return nanmean(pcc(predicted[:, j], target[:, j]) for j in range(len(intensity_aus)))

    return {"shift_bound_pcc": mean_pcc(shifted, t.teacher_intensity),
            "openface_static_pcc": mean_pcc(raw, reference),
            "openface_static_calibrated_pcc": mean_pcc(cal, reference), "openface_static_frames": len(rows)}


def calibration_traces(engine, clips: list[str], data_root: Path, options=None):
    """(uncalibrated, calibrated) :class:`~auvid.commands.heldout.HeldoutTraces` vs the dynamic labels, and
    the teacher's static output (raw, calibrated) by (clip, frame)."""
    from auvid.commands.heldout import video_for, clip_traces
    from auvid.pipeline import Analyzer, AnalyzerOptions
    from auvid.io.sources import VideoFileSource
    from trainer.data.people import person_of, read_people

    options = options or AnalyzerOptions()
    options.models_dir = options.models_dir or str(data_root / "models")
    people = read_people(data_root)
    keys = ("clip", "person", "frame", "face_id", "timestamp", "intensity", "probability", "teacher_intensity",
            "teacher_occurrence")
    both = ({k: [] for k in keys}, {k: [] for k in keys})
    labelled = 0
    static: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
    gaps: dict[str, float] = {}
    for clip in clips:
        video = video_for(data_root, clip)
        labels = data_root / "labels" / "openface" / f"{clip}.dynamic.csv"
        if video is None or not labels.is_file():
            log.warning("%s: no video or no dynamic labels; skipped", clip)
            continue
        analyzer = Analyzer(options, engine=engine)
        results = []
        for result in analyzer.run(VideoFileSource(video)):
            result.image = None
            results.append(result)
        person = person_of(clip, people)
        for columns, replayed in zip(both, (results, _calibrated_copy(results, engine))):
            rows, count = clip_traces(lambda: _Replay(replayed), video, labels, person)
            for row in rows:
                for key, value in zip(keys, (clip, person, *row)):
                    columns[key].append(value)
        labelled += count
        gap = live_offline_gap(results, engine)
        if gap is not None:
            gaps[clip] = gap
        static_csv = labels.with_name(f"{clip}.static.csv")
        if static_csv.is_file():
            static.update({(clip, frame): values for frame, values in teacher_static_traces(static_csv, engine).items()})
    if not both[0]["frame"]:
        raise InputError("no held-out frame could be matched to the dynamic labels: is --data-root the shared data set?")
    return _traces(both[0], labelled), _traces(both[1], labelled), static, gaps


def calibration_metrics(engine, group: str, data_root: Path, model_data: dict | None) -> dict:
    """Pooled and within-clip agreement with the dynamic labels, uncalibrated beside calibrated."""
    from auvid.commands.heldout import group_clips, heldout_report

    clips = group_clips(group, data_root, model_data)
    uncalibrated, calibrated, static, gaps = calibration_traces(engine, clips, data_root)
    reports = {name: heldout_report(traces, engine.intensity_aus, engine.occurrence_aus)
               for name, traces in (("uncalibrated", uncalibrated), ("calibrated", calibrated))}
    first = reports["uncalibrated"]
    return {"group": group, "teacher": "dynamic", "frames": first["frames"],
            "labelled_frames": first["labelled_frames"], "clips": first["clips"], "people": first["people"], **reports,
            "references": reference_figures(uncalibrated, static, engine.intensity_aus),
            "live_vs_offline": {"clips": len(gaps), "median_gap": float(np.median(list(gaps.values()))) if gaps else None,
                                "worst_gap": max(gaps.values()) if gaps else None, "per_clip": gaps}}


def calibration_table(result: dict):
    """Per AU: pooled PCC, within-clip PCC and occurrence F1, each without and with calibration;
    under it, the reference figures (:func:`reference_lines`)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{result['group']} people vs the teacher's dynamic (person-calibrated) output: "
                        f"{len(result['people'])} people, {len(result['clips'])} clips, "
                        f"{result['frames']} of {result['labelled_frames']} labelled frames matched",
                  caption="raw: auvid process; cal: auvid process --calibrate; within: clip-centred traces pooled")
    for column in ("AU", "PCC raw", "PCC cal", "within raw", "within cal", "F1 raw", "F1 cal"):
        table.add_column(column, justify="right")
    raw, cal = result["uncalibrated"], result["calibrated"]

    def cell(values: dict, key: str) -> str:
        value = values.get(key)
        return "-" if value is None or value != value else f"{value:.3f}"

    for au in sorted(set(raw["intensity"]) | set(raw["occurrence"])):
        cells = []
        for key, part in (("pcc", "intensity"), ("within_pcc", "intensity"), ("f1", "occurrence")):
            cells += [cell(raw[part].get(au, {}), key), cell(cal[part].get(au, {}), key)]
        table.add_row(au, *cells)
    table.add_row("mean", *(cell(report["summary"], key) for key in ("mean_pcc", "mean_within_pcc", "mean_f1")
                            for report in (raw, cal)), style="bold")
    return Group(table, *(Text(line) for line in reference_lines(result)))


def reference_lines(result: dict) -> list[str]:
    """What the pooled figure could be: the ceiling of any per-clip shift, and the calibration
    applied to OpenFace's own static output."""
    r = result["references"]
    return [f"best any per-clip shift of these traces could do (each clip moved to the teacher's dynamic mean): "
            f"pooled PCC {r['shift_bound_pcc']:.3f}",
            f"OpenFace's static output vs its dynamic output, {r['openface_static_frames']} frames: pooled PCC "
            f"{r['openface_static_pcc']:.3f} raw, {r['openface_static_calibrated_pcc']:.3f} with this calibration"] + (
        [f"live calibration after settling vs offline, mean |difference| per clip: median {g['median_gap']:.3f}, "
         f"worst {g['worst_gap']:.3f} ({g['clips']} clips that settled)"] if (g := result["live_vs_offline"])["clips"] else [])


def search_settings(engine, group: str, data_root: Path, candidates: list) -> list[dict]:
    """How the shipped settings were chosen: each clip of ``group`` runs once through the runtime
    path, then every candidate :class:`~auvid.stages.calibrate.CalibrationSettings` calibrates the same
    results; mean pooled PCC, within-clip PCC and F1 vs the dynamic labels for each."""
    from auvid.commands.heldout import video_for, clip_traces, group_clips, heldout_report
    from auvid.pipeline import Analyzer, AnalyzerOptions
    from auvid.io.sources import VideoFileSource
    from trainer.data.people import person_of, read_people

    options = AnalyzerOptions(models_dir=str(data_root / "models"))
    people = read_people(data_root)
    runs = []
    for clip in group_clips(group, data_root, None):
        video, labels = video_for(data_root, clip), data_root / "labels" / "openface" / f"{clip}.dynamic.csv"
        if video is None or not labels.is_file():
            continue
        results = [replace(r, image=None) for r in Analyzer(options, engine=engine).run(VideoFileSource(video))]
        runs.append((clip, video, labels, person_of(clip, people), results))
    keys = ("clip", "person", "frame", "face_id", "timestamp", "intensity", "probability", "teacher_intensity",
            "teacher_occurrence")
    table = []
    for settings in [None, *candidates]:
        columns: dict[str, list] = {k: [] for k in keys}
        labelled = 0
        for clip, video, labels, person, results in runs:
            replayed = results if settings is None else _calibrated_copy(results, engine, settings)
            rows, count = clip_traces(lambda: _Replay(replayed), video, labels, person)
            labelled += count
            for row in rows:
                for key, value in zip(keys, (clip, person, *row)):
                    columns[key].append(value)
        summary = heldout_report(_traces(columns, labelled), engine.intensity_aus, engine.occurrence_aus)["summary"]
        table.append({"settings": "uncalibrated" if settings is None else settings,
                      **{k: summary[k] for k in ("mean_pcc", "mean_within_pcc", "mean_f1")}})
    return table


def _search_main() -> None:
    """``python -m auvid.commands.calibration_eval [DATA_ROOT]``: the validation search behind the defaults."""
    import sys

    from auvid.stages.calibrate import PASS_THROUGH_AUS, CalibrationSettings
    from engines.select import open_engine

    data_root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
    candidates = [CalibrationSettings(percentile=q, pass_through=passed)
                  for passed in ((), PASS_THROUGH_AUS) for q in (10, 20, 30, 40, 50, 60, 70, 80, 90)]
    candidates += [CalibrationSettings(occurrence_min=m) for m in (0.1, 0.25, 0.5)]
    for row in search_settings(open_engine("auto"), "validation", data_root, candidates):
        s = row["settings"]
        name = s if isinstance(s, str) else (f"p{s.percentile:g} pass-through {'6 AUs' if s.pass_through else 'none'} "
                                             f"occurrence >= {s.occurrence_min:g}")
        print(f"{name:50s} pooled {row['mean_pcc']:.3f}  within {row['mean_within_pcc']:.3f}  F1 {row['mean_f1']:.3f}")


if __name__ == "__main__":
    _search_main()

"""``auvid eval --calibrate``: person calibration judged against OpenFace's *dynamic* output.

OpenFace's default video output is person-calibrated (its dynamic AU models and whole-clip
post-processing); ``--calibrate`` exists to match it. Each clip of a person group goes once through
the runtime path (:class:`~auvid.pipeline.Analyzer`, as ``auvid process`` runs it); the same results
are then read twice, as they are and after :meth:`auvid.calibrate.Calibrator.offline`, and matched
to the teacher's ``*.dynamic.csv`` rows by the rule ``auvid eval`` uses (:func:`auvid.heldout.clip_traces`),
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
    """Hands :func:`auvid.heldout.clip_traces` results computed once, in place of a second run."""

    def __init__(self, results: list) -> None:
        self.results = results

    def run(self, frames):
        return iter(self.results)


def _calibrated_copy(results: list, engine) -> list:
    """The results after offline calibration; the calibrated 0/1 occurrence goes where the
    probability was, so F1 at the usual 0.5 threshold scores the calibration's rule."""
    from auvid.calibrate import Calibrator

    copies = [replace(r, faces=list(r.faces), image=None) for r in results]
    calibrated = list(Calibrator(engine.intensity_aus, engine.occurrence_aus).offline(copies))
    for result in calibrated:
        result.faces = [replace(f, occurrence_prob=f.occurrence.astype(np.float32)) for f in result.faces]
    return calibrated


def _traces(columns: dict, labelled: int):
    from auvid.heldout import HeldoutTraces

    return HeldoutTraces(**{k: np.array(v) for k, v in columns.items()}, labelled_frames=labelled)


def calibration_traces(engine, clips: list[str], data_root: Path, options=None):
    """(uncalibrated, calibrated) :class:`~auvid.heldout.HeldoutTraces` vs the dynamic labels."""
    from auvid.heldout import _video_for, clip_traces
    from auvid.pipeline import Analyzer, AnalyzerOptions
    from auvid.sources import VideoFileSource
    from trainer.data.people import person_of, read_people

    options = options or AnalyzerOptions()
    options.models_dir = options.models_dir or str(data_root / "models")
    people = read_people(data_root)
    keys = ("clip", "person", "frame", "face_id", "timestamp", "intensity", "probability", "teacher_intensity",
            "teacher_occurrence")
    both = ({k: [] for k in keys}, {k: [] for k in keys})
    labelled = 0
    for clip in clips:
        video = _video_for(data_root, clip)
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
    if not both[0]["frame"]:
        raise InputError("no held-out frame could be matched to the dynamic labels: is --data-root the shared data set?")
    return _traces(both[0], labelled), _traces(both[1], labelled)


def calibration_metrics(engine, group: str, data_root: Path, model_data: dict | None) -> dict:
    """Pooled and within-clip agreement with the dynamic labels, uncalibrated beside calibrated."""
    from auvid.heldout import group_clips, heldout_report

    clips = group_clips(group, data_root, model_data)
    uncalibrated, calibrated = calibration_traces(engine, clips, data_root)
    reports = {name: heldout_report(traces, engine.intensity_aus, engine.occurrence_aus)
               for name, traces in (("uncalibrated", uncalibrated), ("calibrated", calibrated))}
    first = reports["uncalibrated"]
    return {"group": group, "teacher": "dynamic", "frames": first["frames"],
            "labelled_frames": first["labelled_frames"], "clips": first["clips"], "people": first["people"], **reports}


def calibration_table(result: dict):
    """Per AU: pooled PCC, within-clip PCC and occurrence F1, each without and with calibration."""
    from rich.table import Table

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
    return table

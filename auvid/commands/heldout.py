"""Held-out evaluation through the runtime path: each clip of a person group goes through
:class:`~auvid.pipeline.Analyzer` exactly as ``auvid process`` runs it (detector, tracker, aligner,
engine, smoothing), and each teacher-labelled frame is matched to the tracked face under the
teacher's landmarks. Nothing is cached, so a changed aligner or detector shows in the figures.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auvid.errors import ConfigError, InputError

log = logging.getLogger(__name__)

MIN_TEACHER_CONFIDENCE = 0.75  # the teacher's own threshold for a usable row (as in training)
MIN_MATCH_IOU = 0.3


@dataclass
class HeldoutTraces:
    """Per matched (clip, frame): the runtime output beside the teacher's labels."""

    clip: np.ndarray  # (n,) clip stem
    person: np.ndarray  # (n,) person (people.csv)
    frame: np.ndarray  # (n,) 1-based frame index
    face_id: np.ndarray  # (n,) the tracker's id for the matched face
    timestamp: np.ndarray  # (n,) seconds
    intensity: np.ndarray  # (n, 17) predicted, 0-5
    probability: np.ndarray  # (n, 18) predicted occurrence probability
    teacher_intensity: np.ndarray  # (n, 17)
    teacher_occurrence: np.ndarray  # (n, 18)
    labelled_frames: int  # teacher-valid frames in the clips, matched or not

    def __len__(self) -> int:
        return len(self.frame)


def video_for(data_root: Path, clip: str) -> Path | None:
    """The shared video of ``clip`` (any container), or None where it is missing."""
    return next(iter(sorted((data_root / "videos").glob(f"{clip}.*"))), None)


def clip_traces(analyzer_factory, video: Path, labels_csv: Path, person: str):
    """Run one clip through a fresh analyzer; return matched rows and the labelled-frame count."""
    from auvid.io.sources import VideoFileSource
    from auvid.stages.track import iou
    from trainer.data.openface_csv import read_openface_csv

    teacher = read_openface_csv(labels_csv)
    valid = teacher.valid(MIN_TEACHER_CONFIDENCE)
    by_frame = {int(float(k)): i for i, k in enumerate(teacher.keys) if valid[i]}
    rows: list[tuple] = []
    analyzer = analyzer_factory()
    for result in analyzer.run(VideoFileSource(video)):
        row = by_frame.get(result.frame_index)
        if row is None or not result.faces:
            continue
        points = teacher.landmarks[row]
        teacher_box = np.array([*points.min(0), *(points.max(0) - points.min(0))], np.float32)
        best = max(result.faces, key=lambda f: iou(f.face.box, teacher_box))
        if iou(best.face.box, teacher_box) < MIN_MATCH_IOU:
            continue
        rows.append((result.frame_index, best.face.face_id, result.timestamp, best.intensity,
                     best.occurrence_prob, teacher.intensity[row], teacher.occurrence[row]))
    return rows, len(by_frame)


def heldout_traces(engine, clips: list[str], data_root: Path, teacher: str = "static",
                   options=None) -> HeldoutTraces:
    """Runtime-path predictions for ``clips`` beside the teacher's ``teacher`` labels."""
    from auvid.pipeline import Analyzer, AnalyzerOptions
    from trainer.data.people import person_of, read_people

    options = options or AnalyzerOptions()
    options.models_dir = options.models_dir or str(data_root / "models")
    people = read_people(data_root)
    columns: dict[str, list] = {k: [] for k in ("clip", "person", "frame", "face_id", "timestamp", "intensity",
                                                "probability", "teacher_intensity", "teacher_occurrence")}
    labelled = 0
    for clip in clips:
        video = video_for(data_root, clip)
        labels = data_root / "labels" / "openface" / f"{clip}.{teacher}.csv"
        if video is None or not labels.is_file():
            log.warning("%s: no video or no %s labels; skipped", clip, teacher)
            continue
        rows, count = clip_traces(lambda: Analyzer(options, engine=engine), video, labels, person_of(clip, people))
        labelled += count
        for frame, face_id, timestamp, intensity, prob, t_int, t_occ in rows:
            for key, value in zip(columns, (clip, person_of(clip, people), frame, face_id, timestamp, intensity,
                                            prob, t_int, t_occ)):
                columns[key].append(value)
        log.info("%s: %d of %d labelled frames matched", clip, len(rows), count)
    if not columns["frame"]:
        raise InputError("no held-out frame could be matched: is --data-root the shared data set?")
    return HeldoutTraces(**{k: np.array(v) for k, v in columns.items()}, labelled_frames=labelled)


def heldout_report(traces: HeldoutTraces, intensity_aus: list[str], occurrence_aus: list[str]) -> dict:
    """Pooled, within-clip and per-clip agreement with the teacher, and the clip-mean floor."""
    from trainer.metrics import intensity_report, occurrence_report, summarize, summarize_traces, trace_report

    intensity_metrics = intensity_report(traces.intensity, traces.teacher_intensity, intensity_aus)
    occurrence_metrics = occurrence_report(traces.probability, traces.teacher_occurrence, occurrence_aus)
    trace_metrics = trace_report(traces.intensity, traces.teacher_intensity, traces.clip, intensity_aus)
    for au, values in trace_metrics.items():
        intensity_metrics[au].update(values)
    summary = summarize(intensity_metrics, occurrence_metrics)
    summary.update(summarize_traces(trace_metrics))
    summary["min_within_pcc"] = float(np.nanmin([v["within_pcc"] for v in trace_metrics.values()]))
    return {"summary": summary, "intensity": intensity_metrics, "occurrence": occurrence_metrics,
            "frames": int(len(traces)), "labelled_frames": int(traces.labelled_frames),
            "clips": sorted(set(traces.clip.tolist())), "people": sorted(set(traces.person.tolist()))}


def group_clips(group: str, data_root: Path, model_data: dict | None) -> list[str]:
    """The clips of a split group, refusing a model that trained on any of its people."""
    from trainer.data.people import clips_of, person_of, read_people

    if not (data_root / "people.csv").is_file():
        raise InputError(f"{data_root}/people.csv not found: --data-root must be the shared data set")
    clips = clips_of(group, data_root)
    if model_data:
        people = read_people(data_root)
        trained = {person_of(c, people) for c in model_data.get("train_sources", [])}
        overlap = trained & {person_of(c, people) for c in clips}
        if overlap:
            raise ConfigError(f"the model trained on {len(overlap)} {group} people ({', '.join(sorted(overlap)[:3])}...): "
                              "its held-out figures would not be held out")
    return clips

"""Is the within-clip gap (issue #11) the teacher's frame-to-frame noise? The teacher's own trace,
passed through auvid's one-euro smoother, scored against the raw teacher with the within-clip PCC
`auvid eval` reports. If the teacher jittered, even a perfect smooth predictor would score well
below 1 and the 0.75 target would be out of reach for any smoothed output; a figure near 1 says
the gap is the model's.

    python -m trainer.experiments.teacher_ceiling [--data ../shared/data] [--group validation]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from auvid.aus import INTENSITY_AUS
from auvid.commands.heldout import MIN_TEACHER_CONFIDENCE
from auvid.stages.smooth import OneEuro
from trainer.data.openface_csv import read_openface_csv
from trainer.metrics import within_clip_pcc


def smoothed_like_auvid(trace: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """(n, aus) trace through auvid's default one-euro filter, driven by the frames' own times."""
    one_euro = OneEuro()
    return np.stack([one_euro(row, t) for row, t in zip(trace, seconds)]) if len(trace) else trace.copy()


def moving_average(trace: np.ndarray, frames: int) -> np.ndarray:
    """Centred moving average over ``frames`` (odd) frames, edges padded with the edge value."""
    pad = frames // 2
    padded = np.pad(trace, ((pad, pad), (0, 0)), mode="edge")
    kernel = np.ones(frames) / frames
    return np.stack([np.convolve(padded[:, j], kernel, "valid") for j in range(trace.shape[1])], 1)


def ceiling(traces: list[np.ndarray], seconds: list[np.ndarray]) -> dict[str, list[float]]:
    """Per-AU within-clip PCC of smoothed teacher traces against the raw ones, pooled over clips."""
    raw = np.concatenate(traces)
    clips = np.concatenate([np.full(len(t), i) for i, t in enumerate(traces)])
    smoothed = {"one-euro (auvid's)": np.concatenate([smoothed_like_auvid(t, s) for t, s in zip(traces, seconds)]),
                "moving average, 3 frames": np.concatenate([moving_average(t, 3) for t in traces]),
                "moving average, 9 frames": np.concatenate([moving_average(t, 9) for t in traces])}
    return {name: [within_clip_pcc(values[:, j], raw[:, j], clips) for j in range(raw.shape[1])]
            for name, values in smoothed.items()}


def teacher_traces(data_root: Path, group: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The static teacher's intensities and times on the rows `auvid eval` scores (its confidence
    threshold), for each clip of ``group``."""
    from trainer.data.people import clips_of

    traces, seconds = [], []
    for clip in clips_of(group, data_root):
        teacher = read_openface_csv(data_root / "labels" / "openface" / f"{clip}.static.csv")
        valid = teacher.valid(MIN_TEACHER_CONFIDENCE)
        if valid.sum() >= 10:
            traces.append(teacher.intensity[valid])
            seconds.append(teacher.timestamps[valid])
    return traces, seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--group", default="validation", choices=("validation", "test"))
    args = parser.parse_args(argv)
    traces, seconds = teacher_traces(args.data, args.group)
    print(f"{args.group}: {len(traces)} clips, {sum(len(t) for t in traces)} frames")
    for name, values in ceiling(traces, seconds).items():
        low = int(np.argmin(values))
        print(f"  {name}: mean within-clip PCC {np.mean(values):.3f}, lowest {INTENSITY_AUS[low]} {values[low]:.3f}")


if __name__ == "__main__":
    main()

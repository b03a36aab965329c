"""``auvid plot``: AU intensity traces over time from an auvid or OpenFace CSV, one row per AU."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from auvid.aus import au_label, normalize_au
from auvid.errors import InputError, OutputError


def read_traces(path: str | Path) -> tuple[list[str], dict[int, dict[str, np.ndarray]]]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with open(path, newline="") as handle:
            reader = csv.reader(handle, skipinitialspace=True)
            try:
                header = [h.strip() for h in next(reader)]
            except StopIteration:
                raise InputError(f"{path}: empty file") from None
            rows = [r for r in reader if r]
    except (UnicodeDecodeError, csv.Error):
        raise InputError(f"{path}: not a CSV file (give the CSV that auvid process or OpenFace wrote)") from None
    needed = {"timestamp", "success"}
    if not needed <= set(header):
        raise InputError(f"{path}: not an AU CSV (needs timestamp, success and AUxx_r columns)")
    aus = [h[:-2] for h in header if h.startswith("AU") and h.endswith("_r")]
    if not aus:
        raise InputError(f"{path}: no AUxx_r intensity columns")
    index = {h: i for i, h in enumerate(header)}
    traces: dict[int, dict[str, list[float]]] = {}
    for row in rows:
        try:
            if float(row[index["success"]]) < 1:
                continue
            face = int(float(row[index["face_id"]])) if "face_id" in index else 0
            entry = traces.setdefault(face, {"timestamp": []} | {au: [] for au in aus})
            entry["timestamp"].append(float(row[index["timestamp"]]))
            for au in aus:  # an empty cell: an AU this model does not estimate (auvid leaves it blank)
                cell = row[index[f"{au}_r"]].strip()
                entry[au].append(float(cell) if cell else math.nan)
        except (ValueError, IndexError):
            raise InputError(f"{path}: malformed row {row[:3]}...") from None
    return aus, {face: {k: np.asarray(v) for k, v in data.items()} for face, data in traces.items()}


def plot_traces(csv_path: str | Path, out: str | Path, aus: list[str] | None = None,
                face_ids: list[int] | None = None, ymax: float | None = None) -> Path:
    """One panel per AU, all on one y scale so panels compare: ``ymax`` or, by default, the
    largest plotted value rounded up to 0.5 (at least 1), since everyday faces rarely pass 2 of 5."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    available, traces = read_traces(csv_path)
    if not traces:
        raise InputError(f"{csv_path}: no rows with a face (success=1) to plot")
    chosen = available
    if aus:
        try:
            chosen = [normalize_au(a) for a in aus]
        except ValueError as exc:
            raise InputError(str(exc)) from None
        missing = [a for a in chosen if a not in available]
        if missing:
            raise InputError(f"{csv_path}: no intensity column for {', '.join(missing)} (has {', '.join(available)})")
    faces = sorted(traces) if not face_ids else [f for f in face_ids if f in traces]
    if not faces:
        raise InputError(f"{csv_path}: none of face ids {face_ids} appear (has {sorted(traces)})")
    out = Path(out)
    if not out.parent.exists():
        raise OutputError(f"{out}: folder {out.parent} does not exist")
    if ymax is None:
        peak = max(float(np.nanmax(traces[f][au])) if np.isfinite(traces[f][au]).any() else 0.0
                   for f in faces for au in chosen)
        ymax = max(1.0, math.ceil(peak * 2) / 2)
    elif not 0 < ymax <= 5:
        raise InputError(f"--ymax {ymax}: the intensity scale is 0-5")
    fig, axes = plt.subplots(len(chosen), 1, figsize=(10, 0.9 * len(chosen) + 1.2), sharex=True, squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for row, au in enumerate(chosen):
        ax = axes[row, 0]
        for k, face in enumerate(faces):
            ax.plot(traces[face]["timestamp"], traces[face][au], lw=1.0, color=colors[k % len(colors)],
                    label=f"face {face}")
        ax.set_ylim(0, ymax)
        ax.set_yticks([0, ymax])
        ax.set_ylabel(au_label(au), rotation=0, ha="right", va="center", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0, 0].set_title(f"AU intensity traces: {Path(csv_path).name}")
    if len(faces) > 1:
        axes[0, 0].legend(loc="upper right", fontsize=7, ncol=len(faces))
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    tmp = out.with_name(out.name + ".partial.png")
    try:
        fig.savefig(tmp, dpi=100)
    except OSError as exc:
        raise OutputError(f"{out}: cannot write ({exc.strerror})") from None
    finally:
        plt.close(fig)
    tmp.replace(out)
    return out

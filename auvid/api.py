"""The notebook API: :func:`analyze` (one source -> DataFrame) and :func:`analyze_many` (a corpus
-> its summary), the habit py-feat's ``detect_video`` set. Both run the CLI's own code."""
from __future__ import annotations

import dataclasses
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported when a table is made
    import pandas as pd

log = logging.getLogger(__name__)


def _options(options: dict):
    """Split keyword options into AnalyzerOptions fields and the rest; unknown names are errors."""
    from auvid.errors import ConfigError
    from auvid.pipeline import AnalyzerOptions

    names = {f.name for f in dataclasses.fields(AnalyzerOptions)}
    unknown = set(options) - names
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(names))}, "
                          "max_frames, fps")
    return AnalyzerOptions(**options)


def _check_fps(fps: float) -> None:
    """The rule the CLI's --fps follows: a finite number above zero (0 divided, nan gave nan times)."""
    import math

    from auvid.errors import ConfigError

    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise ConfigError(f"fps={fps!r} is not a positive number")


def analyze(path: str | Path, max_frames: int | None = None, fps: float = 30.0, **options) -> "pd.DataFrame":
    """AU traces of one video file or image folder as a pandas DataFrame with OpenFace's columns
    (``frame, face_id, timestamp, confidence, success, AUxx_r..., AUxx_c...``), the same values
    ``auvid process --out`` writes. ``options``: any :class:`~auvid.pipeline.AnalyzerOptions`
    field, e.g. ``smooth=False``, ``detect_every=5``, ``backend="onnxruntime"``.

    Raises :class:`~auvid.errors.InputError` for a source that cannot be read; a clip without a
    face gives ``success == 0`` rows (and a logged warning), as OpenFace does.
    """
    import pandas as pd

    from auvid.errors import InputError
    from auvid.commands.process import FAILED, INTERRUPTED, NO_FACE, analyze_source

    _check_fps(fps)
    analyzer_options = _options(options)
    with tempfile.TemporaryDirectory(prefix="auvid-") as scratch:
        out = Path(scratch) / "aus.csv"
        result = analyze_source(path, out, analyzer_options, max_frames=max_frames, fps=fps)
        if result.status == INTERRUPTED:
            raise KeyboardInterrupt
        if result.status == FAILED:
            raise InputError(result.error)
        for warning in result.warnings:
            log.warning("%s", warning)
        if result.status == NO_FACE:
            log.warning("no face found in %d frames of %s", result.frames, path)
        return pd.read_csv(out)


def analyze_many(paths: str | Path | list[str | Path], out_dir: str | Path, executor: str = "local", workers: int | None = None,
                 force: bool = False, ray_address: str | None = None, also: tuple[str, ...] = (),
                 max_frames: int | None = None, fps: float = 30.0, **options) -> "pd.DataFrame":
    """Analyse a corpus (files, folders, glob patterns) into ``out_dir``, as ``auvid process
    SOURCE... --out-dir`` does, resuming where an earlier call stopped; returns this run's summary
    (one row per source: ``source, status, frames, faces, face_ids, seconds, fps, error, ...``).

    ``executor``: ``"local"`` (``workers`` processes, default one per core; 0 runs in this
    process), ``"inline"`` (this process) or ``"ray"``.
    """
    import pandas as pd

    from auvid.corpus.runner import run_corpus

    if isinstance(paths, (str, Path)):
        paths = [paths]
    _check_fps(fps)
    report = run_corpus([str(p) for p in paths], out_dir, _options(options), kinds=("csv", *also),
                        max_frames=max_frames, fps=fps, executor=executor, workers=workers,
                        ray_address=ray_address, force=force)
    if report.interrupted:
        raise KeyboardInterrupt
    return pd.DataFrame([row.to_csv() | {"frames": row.frames, "faces": row.faces, "seconds": row.seconds,
                                         "fps": row.fps, "face_ids": row.face_ids} for row in report.rows])

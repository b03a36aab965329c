"""auvid: real-time facial Action Unit intensity traces from video.

    import auvid
    table = auvid.analyze("clip.mp4")                      # pandas DataFrame, OpenFace columns
    summary = auvid.analyze_many(["videos/"], out_dir="results")  # one CSV per video + summary

    from auvid import Analyzer                             # frame by frame
    from auvid.io.sources import open_source
    for result in Analyzer().run(open_source("clip.mp4")):
        ...
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Analyzer", "AnalyzerOptions", "analyze", "analyze_many", "__version__"]


def __getattr__(name: str):
    # Lazy, so `import auvid` (and `auvid --help`) do not load OpenCV, ONNX Runtime or pandas.
    if name in ("Analyzer", "AnalyzerOptions"):
        from auvid import pipeline

        return getattr(pipeline, name)
    if name in ("analyze", "analyze_many"):
        from auvid import api

        return getattr(api, name)
    raise AttributeError(name)

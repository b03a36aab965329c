"""auvid: real-time facial Action Unit intensity traces from video.

    from auvid import Analyzer
    from auvid.sources import open_source
    for result in Analyzer().run(open_source("clip.mp4")):
        ...
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Analyzer", "AnalyzerOptions", "__version__"]


def __getattr__(name: str):
    # Lazy, so `import auvid` (and `auvid --help`) do not load OpenCV or ONNX Runtime.
    if name in ("Analyzer", "AnalyzerOptions"):
        from auvid import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)

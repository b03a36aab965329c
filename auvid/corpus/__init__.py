"""Many sources in one run: discovery and output names (:mod:`.plan`), the summary file
(:mod:`.summary`), executors that run sources inline, in a process pool or on Ray
(:mod:`.executors`, :mod:`.ray_executor`), and the run itself (:mod:`.runner`)."""
from __future__ import annotations

__all__ = ["run_corpus"]


def __getattr__(name: str):
    if name == "run_corpus":
        from auvid.corpus.runner import run_corpus

        return run_corpus
    raise AttributeError(name)

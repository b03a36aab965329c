"""Which person a shared clip shows, so splits are by person and never by frame or clip.

The shared data's README names the clips that show the same person; every other clip is its own
identity.
"""
from __future__ import annotations

import re

_SAME_PERSON = [
    (re.compile(r"^mead_(M030|W009)_"), lambda m: f"mead_{m.group(1)}"),
    (re.compile(r"^eamm_video_(fear|surprised)$"), lambda m: "eamm_curly_haired_woman"),
    (re.compile(r"^(retalking_face3|sadtalker_WDA_AOC)$"), lambda m: "AOC"),
    # OpenFace's sample clips were filmed in one lab and may share people: kept together so no
    # one of them is ever on both sides of a split.
    (re.compile(r"^(2015-10-15-15-14|default|changeLighting|multi_face)$"), lambda m: "openface_samples"),
]


def identity_of(clip: str) -> str:
    for pattern, name in _SAME_PERSON:
        match = pattern.search(clip)
        if match:
            return name(match)
    return clip

"""The FACS Action Unit catalog and OpenFace's AU sets.

OpenFace 2.x predicts intensity for 17 AUs and occurrence for those plus AU28; auvid follows the
same sets and column order so its CSVs drop into existing OpenFace/py-feat analyses.
"""
from __future__ import annotations

AU_NAMES: dict[str, str] = {
    "AU01": "inner brow raiser",
    "AU02": "outer brow raiser",
    "AU04": "brow lowerer",
    "AU05": "upper lid raiser",
    "AU06": "cheek raiser",
    "AU07": "lid tightener",
    "AU09": "nose wrinkler",
    "AU10": "upper lip raiser",
    "AU11": "nasolabial deepener",
    "AU12": "lip corner puller",
    "AU13": "sharp lip puller",
    "AU14": "dimpler",
    "AU15": "lip corner depressor",
    "AU16": "lower lip depressor",
    "AU17": "chin raiser",
    "AU18": "lip pucker",
    "AU20": "lip stretcher",
    "AU22": "lip funneler",
    "AU23": "lip tightener",
    "AU24": "lip pressor",
    "AU25": "lips part",
    "AU26": "jaw drop",
    "AU27": "mouth stretch",
    "AU28": "lip suck",
    "AU43": "eyes closed",
    "AU45": "blink",
    "AU46": "wink",
}

#: AUs OpenFace 2.x gives an intensity (0-5) for, in its column order.
INTENSITY_AUS: tuple[str, ...] = (
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12",
    "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45",
)
#: AUs OpenFace 2.x gives an occurrence (0/1) for: the intensity set plus AU28.
OCCURRENCE_AUS: tuple[str, ...] = tuple(sorted(INTENSITY_AUS + ("AU28",)))

INTENSITY_MAX = 5.0


def au_label(code: str) -> str:
    """'AU12' -> 'AU12 lip corner puller' (unknown codes are returned unchanged)."""
    name = AU_NAMES.get(normalize_au(code))
    return f"{normalize_au(code)} {name}" if name else code


def normalize_au(code: str) -> str:
    """Accept 'AU1', 'au01', '1', 'AU01_r' and return the canonical 'AU01'."""
    text = code.strip().upper()
    for suffix in ("_R", "_C"):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
    if text.startswith("AU"):
        text = text[2:]
    if not text.isdigit():
        raise ValueError(f"not an AU code: {code!r}")
    return f"AU{int(text):02d}"


def intensity_columns(aus: tuple[str, ...] = INTENSITY_AUS) -> list[str]:
    return [f"{au}_r" for au in aus]


def occurrence_columns(aus: tuple[str, ...] = OCCURRENCE_AUS) -> list[str]:
    return [f"{au}_c" for au in aus]

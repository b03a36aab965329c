"""Makes docs/overlay-example.png: what `auvid process --overlay` draws on one frame (boxes, ids,
landmarks, AU panels), drawn by the same code on a copy of the frame reduced to coarse blocks, so
that no face from the shared data (research-only licences) is copied into the repository.

    AUVID_MODELS_DIR=../shared/data/models python docs/overlay_example.py \
        ../shared/data/videos/multi_face.avi docs/overlay-example.png --frame 151
"""
from __future__ import annotations

import argparse

import cv2

from auvid.io.overlay import draw
from auvid.pipeline import Analyzer, AnalyzerOptions
from auvid.io.sources import VideoFileSource


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip")
    parser.add_argument("out")
    parser.add_argument("--frame", type=int, default=151, help="1-based frame number, as in the CSV")
    args = parser.parse_args()
    analyzer = Analyzer(AnalyzerOptions())
    last = None
    for result in analyzer.run(VideoFileSource(args.clip, max_frames=args.frame)):
        last = result
    if last is None or last.frame_index != args.frame:
        raise SystemExit(f"{args.clip}: no frame {args.frame}")
    height, width = last.image.shape[:2]
    blocks = cv2.resize(cv2.resize(last.image, (width // 32, height // 32), interpolation=cv2.INTER_AREA),
                        (width, height), interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(args.out, draw((blocks * 0.6).astype("uint8"), last, analyzer.intensity_aus))


if __name__ == "__main__":
    main()

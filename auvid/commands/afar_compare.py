"""Two models on AFAR's 18 human-coded frames, paired: is one model's mean occurrence F1 really
lower, or is the difference what 18 frames allow? A paired bootstrap resamples the frames (the
same frames for both models) and reports the distribution of the difference in mean F1.

    python -m auvid.commands.afar_compare MODEL_A MODEL_B [--data-root ../shared/data] [--resamples 2000]

Each MODEL is a graph or checkpoint as ``auvid eval`` takes it (``default`` for the shipped one).
Why a bootstrap over frames: with 1 to 13 positives per AU, one flipped frame moves an AU's F1 by
0.1-0.3, so a difference between two means is only evidence when it survives resampling.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def mean_f1(predicted: dict, reference: dict, frames: np.ndarray) -> float:
    """Mean F1 over the AUs that have a positive or a prediction among ``frames`` (others have no F1)."""
    from trainer.metrics import f1

    values = [f1(predicted[au][frames], reference[au][frames]) for au in reference]
    values = [v for v in values if not np.isnan(v)]
    return float(np.mean(values)) if values else float("nan")


def paired_bootstrap(a: dict, b: dict, reference: dict, resamples: int = 2000, seed: int = 0) -> dict:
    """Mean F1 of ``a`` minus ``b`` on all frames, and over ``resamples`` resamplings of the frames."""
    frames = len(next(iter(reference.values())))
    everything = np.arange(frames)
    rng = np.random.default_rng(seed)
    differences = []
    for _ in range(resamples):
        sample = rng.integers(0, frames, frames)
        difference = mean_f1(a, reference, sample) - mean_f1(b, reference, sample)
        if not np.isnan(difference):
            differences.append(difference)
    differences = np.array(differences)
    return {"a": mean_f1(a, reference, everything), "b": mean_f1(b, reference, everything),
            "difference": mean_f1(a, reference, everything) - mean_f1(b, reference, everything),
            "median": float(np.median(differences)), "interval_95": np.percentile(differences, [2.5, 97.5]).tolist(),
            "share_a_lower": float((differences < 0).mean()), "resamples": len(differences),
            "frames_deciding_differently": {au: int((a[au] != b[au]).sum()) for au in reference}}


def main() -> None:
    from auvid.commands.evaluation import _engine_and_checkpoint, afar_decisions

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_a")
    parser.add_argument("model_b")
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args()
    decisions = []
    for model in (args.model_a, args.model_b):
        engine, _ = _engine_and_checkpoint(None if model == "default" else model, "auto")
        decisions.append(afar_decisions(engine, args.data_root))
        print(f"{model}: {engine.description}")
    if decisions[0]["images"] != decisions[1]["images"]:
        raise SystemExit("the two models were judged on different frames (a face missed by one of them)")
    result = paired_bootstrap(decisions[0]["predicted"], decisions[1]["predicted"], decisions[0]["reference"],
                              args.resamples)
    low, high = result["interval_95"]
    print(f"mean F1 over AFAR's AUs: A {result['a']:.3f}, B {result['b']:.3f}, A - B {result['difference']:+.3f}")
    print(f"paired bootstrap over {len(decisions[0]['images'])} frames ({result['resamples']} resamples): "
          f"median {result['median']:+.3f}, 95% interval [{low:+.3f}, {high:+.3f}], A lower in "
          f"{result['share_a_lower']:.0%} of them")
    print("frames where A and B decide differently: "
          + ", ".join(f"{au} {n}" for au, n in result["frames_deciding_differently"].items()))


if __name__ == "__main__":
    from auvid.errors import AuvidError

    try:
        main()
    except AuvidError as error:  # one line, as the CLI prints it
        raise SystemExit(f"afar_compare: {error}") from None

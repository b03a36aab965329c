"""The clip-run epoch order: every row once, runs of one clip, still images kept out of runs."""
import numpy as np
import torch

from trainer.sampling import clip_grouped_order, is_video_frame


def test_runs_hold_one_clip_and_every_row_appears_once():
    sources = np.array(["a"] * 10 + ["b"] * 7 + ["fer"] * 5)
    keys = np.array([str(i) for i in range(17)] + [f"img/{i}.png" for i in range(5)])
    in_clip = is_video_frame(keys)
    assert in_clip.tolist() == [True] * 17 + [False] * 5
    order, runs = clip_grouped_order(sources, in_clip, 4, torch.Generator().manual_seed(0))
    assert sorted(order.tolist()) == list(range(22))
    assert (runs[torch.from_numpy(~in_clip)[order]] == -1).all()  # stills: no run
    for run in set(runs.tolist()) - {-1}:
        members = order[runs == run].numpy()
        assert 1 <= len(members) <= 4 and len(set(sources[members])) == 1 and in_clip[members].all()
        assert np.ptp(np.flatnonzero((runs == run).numpy())) == len(members) - 1  # contiguous in the order
    # a clip of 10 frames in runs of 4: 4 + 4 + 2
    sizes = sorted(int((runs == r).sum()) for r in set(runs.tolist()) - {-1} if sources[order[runs == r][0]] == "a")
    assert sizes == [2, 4, 4]


def test_orders_differ_by_generator_and_repeat_with_the_same_seed():
    sources = np.repeat(np.array(["a", "b", "c"]), 20)
    in_clip = np.ones(60, bool)
    first, _ = clip_grouped_order(sources, in_clip, 8, torch.Generator().manual_seed(1))
    again, _ = clip_grouped_order(sources, in_clip, 8, torch.Generator().manual_seed(1))
    other, _ = clip_grouped_order(sources, in_clip, 8, torch.Generator().manual_seed(2))
    assert torch.equal(first, again) and not torch.equal(first, other)

"""Within-clip metrics on hand-made series with known answers (no data needed)."""
import numpy as np
import pytest

from trainer.metrics import clip_means, pcc, per_clip_pcc, summarize_traces, trace_report, within_clip_pcc


def _two_clips(seed: int = 0):
    rng = np.random.default_rng(seed)
    clips = np.array(["a"] * 200 + ["b"] * 200)
    # clip b sits 2 points higher: between-clip variance a pooled PCC rewards
    teacher = np.concatenate([rng.normal(0.5, 0.4, 200), rng.normal(2.5, 0.4, 200)]).clip(0, 5)
    return clips, teacher


def test_clip_mean_predictor_scores_zero_within_clips_but_high_pooled():
    clips, teacher = _two_clips()
    predictor = clip_means(teacher, clips)
    assert within_clip_pcc(predictor, teacher, clips) == 0.0
    assert pcc(predictor, teacher) > 0.85  # the pooled figure it gets for following nothing


def test_shifted_scaled_copy_of_the_teacher_scores_one():
    clips, teacher = _two_clips()
    copy = 0.3 * teacher + 1.7
    assert within_clip_pcc(copy, teacher, clips) == pytest.approx(1.0)
    assert per_clip_pcc(copy, teacher, clips) == pytest.approx([1.0, 1.0])
    # per-clip offsets do not matter within clips either
    offset = teacher + np.where(clips == "a", 3.0, -1.0)
    assert within_clip_pcc(offset, teacher, clips) == pytest.approx(1.0)


def test_constant_prediction_scores_zero_not_nan():
    clips, teacher = _two_clips()
    flat = np.full_like(teacher, 0.7)
    assert pcc(flat, teacher) == 0.0
    assert within_clip_pcc(flat, teacher, clips) == 0.0
    report = trace_report(np.stack([flat, teacher], 1), np.stack([teacher, teacher], 1), clips, ["AU01", "AU02"])
    summary = summarize_traces(report)
    assert summary["mean_within_pcc"] == pytest.approx(0.5)  # the constant AU pulls the mean down


def test_per_clip_r_only_counts_clips_where_the_teacher_moves():
    rng = np.random.default_rng(1)
    clips = np.array(["still"] * 100 + ["moving"] * 100)
    teacher = np.concatenate([np.full(100, 1.0) + rng.normal(0, 0.05, 100), rng.uniform(0, 4, 100)])
    prediction = teacher + rng.normal(0, 0.3, 200)
    values = per_clip_pcc(prediction, teacher, clips, min_std=0.3)
    assert len(values) == 1 and values[0] > 0.9
    report = trace_report(prediction[:, None], teacher[:, None], clips, ["AU12"])
    assert report["AU12"]["moving_clips"] == 1


def test_anticorrelated_trace_is_negative_within_clips():
    clips, teacher = _two_clips()
    assert within_clip_pcc(-teacher, teacher, clips) == pytest.approx(-1.0)

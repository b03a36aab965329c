"""The measurement helpers behind issue #11's negative results (trainer/experiments)."""
import numpy as np

from trainer.experiments.feature_heads import centre, geometry, ridge


def test_geometry_ignores_position_scale_and_rotation():
    rng = np.random.default_rng(0)
    faces = rng.normal(size=(3, 478, 3)).astype(np.float32)
    angle = 0.4
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = faces.copy()  # every face but the first (the frame of reference) moved, scaled and turned
    moved[1:, :, :2] = 2.5 * faces[1:, :, :2] @ rotation.T + np.array([100.0, -40.0])
    assert np.allclose(geometry(faces), geometry(moved), atol=1e-4)
    changed = faces.copy()
    changed[1, :10, :2] += 0.5  # an expression: some points move relative to the others
    assert not np.allclose(geometry(faces)[1], geometry(changed)[1], atol=1e-3)


def test_centre_removes_each_clips_mean_or_median():
    values = np.array([[1.0], [3.0], [8.0], [10.0], [30.0]])
    clips = np.array(["a", "a", "b", "b", "b"])
    assert np.allclose(centre(values, clips).ravel(), [-1, 1, -8, -6, 14])
    assert np.allclose(centre(values, clips, "median").ravel(), [-1, 1, -2, 0, 20])


def test_ridge_recovers_a_linear_map_and_shrinks_with_lambda():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 4))
    y = x @ np.array([[1.0], [-2.0], [0.0], [0.5]]) + 3.0
    assert np.allclose(ridge(x, y, x, 1e-6), y, atol=1e-4)
    assert np.abs(ridge(x, y, x, 1e6) - 3.0).max() < 0.05  # everything shrunk to the mean


def test_teacher_ceiling_is_near_one_for_a_slow_trace_and_low_for_jitter():
    """The smoothed-teacher ceiling tells smooth teachers from jittery ones (30 fps, two clips)."""
    from trainer.experiments.teacher_ceiling import ceiling, moving_average

    seconds = [np.arange(300) / 30.0, np.arange(200) / 30.0]
    slow = [np.stack([np.sin(2 * np.pi * 0.3 * s), 2 + np.cos(2 * np.pi * 0.2 * s)], 1) for s in seconds]
    rng = np.random.default_rng(2)
    jitter = [rng.normal(size=(len(s), 2)) for s in seconds]
    for name, values in ceiling(slow, seconds).items():
        assert min(values) > 0.95, (name, values)
    smooth_of_jitter = ceiling(jitter, seconds)
    assert max(smooth_of_jitter["moving average, 9 frames"]) < 0.45  # 1/sqrt(9) = 0.33 for white noise
    assert max(smooth_of_jitter["one-euro (auvid's)"]) < 0.9
    assert np.allclose(moving_average(np.arange(5.0)[:, None], 3).ravel(), [1 / 3, 1, 2, 3, 11 / 3])

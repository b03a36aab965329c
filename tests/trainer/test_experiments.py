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

"""The measurement helpers behind issue #11's negative results (trainer/experiments)."""
import numpy as np

from tests.conftest import SHARED, needs_shared

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


def test_hog_votes_for_the_edge_orientation_and_is_block_normalised():
    from trainer.experiments.teacher_features import SIZE, hog

    vertical = np.zeros((SIZE, SIZE), np.uint8)
    vertical[:, SIZE // 2:] = 200  # a vertical edge: horizontal gradient, orientation bin 0
    horizontal = vertical.T.copy()  # gradient at 90 degrees: bin 4.5, split between bins 4 and 5
    features = hog(vertical).reshape(13, 13, 4, 9)
    assert features.shape == (13, 13, 4, 9)
    at_edge = features[6, 6].sum(0)
    assert at_edge.argmax() == 0 and at_edge[1:].sum() < 1e-3
    across = hog(horizontal).reshape(13, 13, 4, 9)[6, 6].sum(0)
    assert set(np.argsort(across)[-2:]) == {4, 5}
    norms = np.linalg.norm(features.reshape(-1, 36), axis=1)
    assert np.allclose(norms[norms > 0], 1.0, atol=1e-3)
    assert np.allclose(hog(np.full((SIZE, SIZE), 90, np.uint8)), 0)  # a flat image has no gradient


def test_five_points_from_68_landmarks():
    from trainer.experiments.teacher_features import five_points

    landmarks = np.zeros((68, 2))
    landmarks[36:42] = [10.0, 20.0]
    landmarks[42:48] = [30.0, 20.0]
    landmarks[30], landmarks[48], landmarks[54] = [20.0, 30.0], [12.0, 40.0], [28.0, 40.0]
    assert np.allclose(five_points(landmarks), [[10, 20], [30, 20], [20, 30], [12, 40], [28, 40]])


def test_people_needed_follows_a_log_linear_curve():
    from trainer.experiments.teacher_features import people_needed, per_doubling

    slope, intercept = per_doubling([13, 26, 52], [0.50, 0.54, 0.58])
    assert np.isclose(slope, 0.04) and np.isclose(intercept + slope * np.log2(52), 0.58)
    assert np.isclose(people_needed(0.66, 52, 0.58, 0.04), 208)  # two more doublings
    assert people_needed(0.5, 52, 0.58, 0.04) == 52
    assert people_needed(0.7, 52, 0.58, 0.0) == float("inf")


@needs_shared
def test_teacher_feature_clips_never_include_a_test_person():
    from trainer.data.people import group_people
    from trainer.experiments.teacher_features import clip_groups

    clips = clip_groups(SHARED)
    assert {group for group, *_ in clips} == {"train", "val"}
    assert not {person for _, person, *_ in clips} & set(group_people("test"))
    assert {person for group, person, *_ in clips if group == "val"} == set(group_people("validation"))

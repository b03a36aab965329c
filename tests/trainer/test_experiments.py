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


def test_hog_votes_for_the_edge_orientation_in_the_right_cell():
    from trainer.experiments.teacher_features import CROP_SIZE, hog

    blocks = (CROP_SIZE // 8 - 1) ** 2
    assert hog(np.zeros((CROP_SIZE, CROP_SIZE), np.uint8)).shape == (blocks * 36,)
    assert np.allclose(hog(np.full((CROP_SIZE, CROP_SIZE), 90, np.uint8)), 0)  # no gradient, no vote
    vertical = np.zeros((CROP_SIZE, CROP_SIZE), np.uint8)
    vertical[:, CROP_SIZE // 2:] = 200  # horizontal gradient: orientation 0, bin 0 only
    at_edge = hog(vertical).reshape(13, 13, 4, 9)[6, 6].sum(0)
    assert at_edge.argmax() == 0 and at_edge[1:].sum() < 1e-3
    across = hog(vertical.T.copy()).reshape(13, 13, 4, 9)[6, 6].sum(0)  # 90 degrees: bins 4 and 5 share it
    assert set(np.argsort(across)[-2:]) == {4, 5} and np.isclose(across[4], across[5], rtol=1e-3)
    ramp = (np.arange(CROP_SIZE)[None, :] * 1.0 - np.arange(CROP_SIZE)[:, None] * np.tan(np.deg2rad(10)) * 1.0)
    tilted = hog(np.clip(ramp + 60, 0, 255).astype(np.uint8)).reshape(13, 13, 4, 9)[6, 6].sum(0)
    assert set(np.argsort(tilted)[-2:]) == {8, 0}  # -10 degrees = 170: split between the last and first bin
    patch = np.zeros((CROP_SIZE, CROP_SIZE), np.uint8)
    patch[8:16, 40:48] = np.tile(np.arange(0, 160, 20, dtype=np.uint8), (8, 1))  # in cell row 1, column 5
    cells = hog(patch).reshape(13, 13, 4, 9).sum(-1)
    assert cells[1, 5, 0] > 0 and cells[5, 1].sum() == 0  # block (1, 5)'s top-left cell, not its transpose


def test_l2_hys_clips_a_dominant_component():
    from trainer.experiments.teacher_features import l2_hys

    assert np.allclose(l2_hys(np.array([3.0, 4.0, 0.0, 0.0])), [np.sqrt(0.5), np.sqrt(0.5), 0, 0], atol=1e-4)
    balanced = np.ones(36)
    assert np.allclose(l2_hys(balanced), balanced / 6.0)  # nothing above 0.2: plain unit length


def test_five_points_from_68_landmarks():
    from trainer.experiments.teacher_features import five_points

    landmarks = np.zeros((68, 2))
    landmarks[36:42] = [[8, 20], [10, 18], [12, 18], [14, 20], [12, 22], [10, 22]]  # eye centre (11, 20)
    landmarks[42:48] = landmarks[36:42] + [20, 0]
    landmarks[30], landmarks[48], landmarks[54] = [20.0, 30.0], [12.0, 40.0], [28.0, 40.0]
    assert np.allclose(five_points(landmarks), [[11, 20], [31, 20], [20, 30], [12, 40], [28, 40]])


def test_the_68_point_mean_shape_sits_where_the_5_point_template_puts_the_face():
    from auvid.stages.align import Aligner
    from trainer.experiments.teacher_features import CROP_SIZE, five_points, mean_shape

    rng = np.random.default_rng(3)
    face = rng.normal(size=(68, 2)) * 20
    five = Aligner(CROP_SIZE).points * 0.5 + [10, -5]  # the face's five points: a similar copy of the template's
    face[36:42], face[42:48], face[30], face[48], face[54] = five[0], five[1], five[2], five[3], five[4]
    angle = 0.3
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    samples = np.stack([face, 1.7 * face @ turn.T + [300, 120], 0.6 * face + [40, 80]])
    shape = mean_shape(samples)  # copies of one face: their mean is that face, placed as the template places it
    assert np.linalg.norm(five_points(shape) - Aligner(CROP_SIZE).points, axis=1).max() < 1e-6


def test_people_needed_follows_a_log_linear_curve():
    from trainer.experiments.teacher_features import people_needed, per_doubling

    slope, intercept = per_doubling([13, 26, 52], [0.50, 0.54, 0.58])
    assert np.isclose(slope, 0.04) and np.isclose(intercept + slope * np.log2(52), 0.58)
    assert np.isclose(people_needed(0.66, 52, 0.58, 0.04), 208)  # two more doublings
    assert np.isclose(people_needed(0.60, 52, 0.58, 0.04), 52 * np.sqrt(2))
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

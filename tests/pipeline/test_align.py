import numpy as np

from auvid.stages.align import Aligner, similarity, template


def test_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, (5, 2))
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -4.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = (scale * rotation @ src.T).T + shift
    matrix = similarity(src, dst)
    np.testing.assert_allclose(matrix[:, :2], scale * rotation, atol=1e-9)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-9)


def test_template_scales_with_size_and_keeps_brows_in_frame():
    assert np.allclose(template(224), template(112) * 2)
    points = template(112)
    assert points[:2, 1].min() > 35  # eyes low enough to keep the brows and forehead in the crop
    assert points[3:, 1].max() < 85  # mouth high enough to keep the chin


def test_aligns_landmarks_onto_the_template():
    aligner = Aligner(96)
    image = np.zeros((300, 300), np.uint8)
    landmarks = aligner.points * 2.0 + 40  # a face twice the template size, shifted
    for x, y in landmarks.astype(int):
        image[y - 2:y + 3, x - 2:x + 3] = 255
    crop = aligner.align(image, landmarks)
    assert crop.shape == (96, 96)
    for x, y in np.round(aligner.points).astype(int):
        assert crop[y, x] > 100

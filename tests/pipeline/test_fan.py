"""`--landmarks fan` (face-alignment's 68 points). face-alignment downloads its weights on first
use, which no test may do: the test runs only where the package and its weights are present."""
import importlib.util

import pytest

from tests.conftest import clip, needs_shared, read_csv, run_cli

pytestmark = needs_shared


def _why_not() -> str | None:
    if importlib.util.find_spec("face_alignment") is None:
        return "face-alignment is not installed (pip install 'auvid[fan]')"
    from auvid.stages.landmarks_fan import fan_weights_present

    if not fan_weights_present():
        return "face-alignment's 2DFAN4 weights are not in torch's hub cache, and tests never download"
    return None


def test_fan_landmarks_process_a_clip(tmp_path):
    why = _why_not()
    if why:
        pytest.skip(why)
    out = tmp_path / "a.csv"
    result = run_cli("process", str(clip("single_face.mp4")), "--out", str(out), "--landmarks", "fan", "--quiet")
    assert result.returncode == 0, result.stderr
    assert read_csv(out)["success"].mean() > 0.9


def test_fan_without_the_package_is_a_clear_error(tmp_path):
    if importlib.util.find_spec("face_alignment") is not None:
        pytest.skip("face-alignment is installed here")
    result = run_cli("process", str(clip("single_face.mp4")), "--out", str(tmp_path / "a.csv"), "--landmarks", "fan")
    assert result.returncode == 2 and "auvid[fan]" in result.stderr


def test_68_points_reduce_to_the_aligners_5(tmp_path):
    """FAN's 68 points follow the iBUG layout that OpenFace's teacher landmarks use, so the
    teacher's points test the reduction without the package. Against YuNet's own 5 points on the
    same frames the reduced points lie within ~0.15 interocular distances on average (measured
    0.03-0.15 on d0, d3, d13 and the webcam clip; a swapped eye or mouth corner is 1.0 off), and
    faces aligned on them give the model's traces of YuNet-aligned faces (d3: per-AU r 0.98-1.00,
    mean difference 0.033)."""
    import cv2
    import numpy as np

    from auvid.stages.align import Aligner
    from auvid.stages.detect import YuNetDetector
    from auvid.stages.landmarks_fan import five_from_68
    from auvid.io.sources import VideoFileSource
    from engines.select import open_engine
    from tests.conftest import MODELS, teacher

    labels = teacher("d3.static.csv")
    detector = YuNetDetector(MODELS / "face_detection_yunet_2023mar.onnx")
    engine = open_engine("onnxruntime")
    aligner = Aligner(engine.input_size)
    errors, from_yunet, from_68 = [], [], []
    for frame in VideoFileSource(clip("d3.mp4"), max_frames=240):
        if frame.index % 3:
            continue
        yunet = detector.detect(frame.image)[0].landmarks
        reduced = five_from_68(labels.landmarks[frame.index - 1])
        errors.append(np.linalg.norm(reduced - yunet, axis=1) / np.linalg.norm(yunet[0] - yunet[1]))
        gray = cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY)
        from_yunet.append(aligner.align(gray, yunet))
        from_68.append(aligner.align(gray, reduced))
    errors = np.array(errors)
    assert errors.mean(axis=0).max() < 0.25 and errors.max() < 0.4, errors.mean(axis=0)
    a = engine.infer(np.stack(from_yunet)[:, None].astype(np.float32))[1]
    b = engine.infer(np.stack(from_68)[:, None].astype(np.float32))[1]
    moving = np.flatnonzero(a.std(axis=0) > 0.15)
    correlations = [np.corrcoef(a[:, j], b[:, j])[0, 1] for j in moving]
    assert len(moving) >= 5 and np.median(correlations) > 0.9, correlations
    assert np.abs(a - b).mean() < 0.15

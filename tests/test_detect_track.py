from collections import Counter

from auvid.detect import YuNetDetector
from auvid.sources import VideoFileSource
from auvid.track import Tracker
from tests.conftest import MODELS, clip, needs_shared, teacher

pytestmark = needs_shared


def _detector():
    return YuNetDetector(MODELS / "face_detection_yunet_2023mar.onnx")


def test_detects_the_face_the_teacher_saw():
    labels = teacher("2015-10-15-15-14.static.csv")
    detector = _detector()
    for frame in VideoFileSource(clip("2015-10-15-15-14.avi"), max_frames=60):
        if frame.index % 20:
            continue
        faces = detector.detect(frame.image)
        assert len(faces) == 1
        points = labels.landmarks[frame.index - 1]
        x, y, w, h = faces[0].box
        centre = points.mean(0)
        assert x < centre[0] < x + w and y < centre[1] < y + h


def test_no_face_clip_has_no_faces():
    tracker = Tracker(_detector())
    found = sum(len(tracker.update(f.image, f.timestamp)) for f in VideoFileSource(clip("no_face.mp4")))
    assert found == 0


def test_multi_face_clip_keeps_three_stable_ids():
    tracker = Tracker(_detector())
    counts = Counter()
    frames = 0
    for frame in VideoFileSource(clip("multi_face.avi")):
        frames += 1
        for face in tracker.update(frame.image, frame.timestamp):
            counts[face.face_id] += 1
    steady = [face_id for face_id, n in counts.items() if n > frames * 0.5]
    assert len(steady) == 3, counts
    # ids that flicker for a few frames would fragment traces: nearly all rows are the 3 people
    assert sum(counts[i] for i in steady) > 0.97 * sum(counts.values()), counts


def test_tracking_detects_the_full_frame_rarely():
    tracker = Tracker(_detector(), detect_every=15)
    n = 0
    for frame in VideoFileSource(clip("2015-10-15-15-14.avi"), max_frames=150):
        tracker.update(frame.image, frame.timestamp)
        n += 1
    assert tracker.full_detections <= n / 10

import time

import numpy as np
import pytest

from auvid.errors import InputError
from auvid.sources import ImageFolderSource, LatestFrame, Prefetch, VideoFileSource
from tests.conftest import clip, needs_shared

pytestmark = needs_shared


def test_video_frames_are_numbered_from_one_with_container_timestamps():
    frames = list(VideoFileSource(clip("2015-10-15-15-14.avi")))
    assert len(frames) == 842
    assert [f.index for f in frames[:3]] == [1, 2, 3]
    assert frames[0].image.shape == (480, 640, 3)
    assert frames[1].timestamp == pytest.approx(1 / 30, abs=1e-6)
    assert frames[-1].timestamp == pytest.approx(841 / 30, abs=1e-3)


def test_variable_frame_rate_timestamps_come_from_the_container():
    source = VideoFileSource(clip("face_noface.mov"))  # HEVC, 26.398 fps on average
    stamps = np.array([f.timestamp for f in source])
    assert len(stamps) == 169
    steps = np.diff(stamps)
    assert (steps > 0).all()
    # index/fps would put the last frame at 168/26.398 = 6.364 s; the container says otherwise
    assert stamps[-1] == pytest.approx(6.3603515625, abs=1e-6)


def test_wmv_decodes():
    frames = list(VideoFileSource(clip("default.wmv"), max_frames=20))
    assert len(frames) == 20 and frames[0].timestamp == pytest.approx(0.009, abs=1e-6)


def test_missing_and_non_video_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        VideoFileSource(tmp_path / "nope.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(InputError, match="not a readable video|no video stream|no frame"):
        list(VideoFileSource(text))


def test_truncated_video_keeps_the_frames_before_the_cut(tmp_path):
    data = clip("2015-10-15-15-14.avi").read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    frames = list(VideoFileSource(cut))
    assert 300 < len(frames) < 842
    assert [f.index for f in frames] == list(range(1, len(frames) + 1))


def test_truncated_mp4_without_its_index_is_a_clear_error(tmp_path):
    data = clip("d10.mp4").read_bytes()  # its index (moov) sits at the end of the file
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="not a readable video"):
        list(VideoFileSource(cut))


def test_corrupt_packets_are_skipped_and_counted(tmp_path):
    data = bytearray(clip("2015-10-15-15-14.avi").read_bytes())
    rng = np.random.default_rng(0)
    for offset in rng.integers(len(data) // 4, len(data) - 1000, 40):  # scribble over the middle
        data[offset:offset + 200] = rng.integers(0, 256, 200, dtype=np.uint8).tobytes()
    broken = tmp_path / "broken.avi"
    broken.write_bytes(bytes(data))
    source = VideoFileSource(broken)
    frames = list(source)
    assert len(frames) > 400  # it kept going past the damage
    assert source.stats.bad_packets + (842 - len(frames)) > 0


def test_image_folder_in_name_order(tmp_path):
    import cv2

    for i, frame in enumerate(VideoFileSource(clip("single_face.mp4"), max_frames=3)):
        cv2.imwrite(str(tmp_path / f"img_{2 - i}.png"), frame.image)
    frames = list(ImageFolderSource(tmp_path, fps=10))
    assert [f.index for f in frames] == [1, 2, 3]
    assert frames[2].timestamp == pytest.approx(0.2)
    with pytest.raises(InputError, match="no images"):
        ImageFolderSource(tmp_path / "..", fps=10) if False else ImageFolderSource(_empty(tmp_path))


def _empty(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    return empty


def test_prefetch_keeps_order():
    frames = [f.index for f in Prefetch(VideoFileSource(clip("single_face.mp4")))]
    assert frames == list(range(1, 73))


def test_latest_frame_drops_stale_frames_when_the_consumer_is_slow():
    source = LatestFrame(VideoFileSource(clip("single_face.mp4")))
    seen = []
    for frame in source:
        seen.append(frame.index)
        time.sleep(0.02)  # far slower than decoding
    assert source.stats.dropped > 0
    assert len(seen) + source.stats.dropped == 72
    assert seen == sorted(seen) and seen[-1] == 72

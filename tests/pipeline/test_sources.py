import time

import numpy as np
import pytest

from auvid.errors import InputError
from auvid.io.sources import ImageFolderSource, LatestFrame, Prefetch, VideoFileSource
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
    # the container starts this stream at 0.009 s; times count from the first frame, as OpenFace's do
    assert len(frames) == 20 and frames[0].timestamp == 0.0
    assert frames[1].timestamp == pytest.approx(0.073 - 0.009, abs=1e-6)


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
    """Scribbling over the middle of the AVI makes the demuxer skip 4 damaged chunks silently (it
    renumbers the rest) and FFmpeg conceal errors in 35 frames: every one of the 842 frames the
    container lists must be either delivered or counted as lost, never vanish."""
    data = bytearray(clip("2015-10-15-15-14.avi").read_bytes())
    rng = np.random.default_rng(0)
    for offset in rng.integers(len(data) // 4, len(data) - 1000, 40):  # scribble over the middle
        data[offset:offset + 200] = rng.integers(0, 256, 200, dtype=np.uint8).tobytes()
    broken = tmp_path / "broken.avi"
    broken.write_bytes(bytes(data))
    source = VideoFileSource(broken)
    frames = list(source)
    assert len(frames) > 400  # it kept going past the damage
    assert source.stats.bad_packets > 0 and source.stats.corrupt_frames > 0, source.stats
    assert len(frames) + source.stats.bad_packets == 842, source.stats


def test_clean_files_report_no_lost_packets():
    """An MP4 edit list makes the decoder drop 3 of no_face.mp4's 98 packets on purpose: not damage."""
    for name, frames in (("no_face.mp4", 95), ("2015-10-15-15-14.avi", 842)):
        source = VideoFileSource(clip(name))
        assert len(list(source)) == frames and source.stats.bad_packets == 0, (name, source.stats)


def test_image_folder_in_name_order(tmp_path):
    """Name order, not the order the files were written in: the folder's images are written in
    reverse, and each frame must carry the picture of its own file."""
    import cv2

    images = [frame.image for frame in VideoFileSource(clip("single_face.mp4"), max_frames=40)][::8]  # 5 distinct
    for i in reversed(range(len(images))):
        cv2.imwrite(str(tmp_path / f"img_{i:03d}.png"), images[i])  # PNG: lossless, so pixels compare exactly
    frames = list(ImageFolderSource(tmp_path, fps=10))
    assert [f.index for f in frames] == [1, 2, 3, 4, 5]
    for i, frame in enumerate(frames):
        assert np.array_equal(frame.image, images[i]), f"frame {frame.index} is not img_{i:03d}.png"
    assert [f.timestamp for f in frames] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    with pytest.raises(InputError, match="no images"):
        ImageFolderSource(_empty(tmp_path))


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

"""`auvid plot` and `auvid process --overlay`, checked as pictures."""
import cv2
import numpy as np

from auvid.sources import VideoFileSource
from tests.conftest import clip, needs_shared, run_cli

pytestmark = needs_shared


def test_overlay_video_has_every_frame_and_drawn_boxes(tmp_path):
    out, overlay = tmp_path / "a.csv", tmp_path / "a.mp4"
    result = run_cli("process", str(clip("single_face.mp4")), "--out", str(out), "--overlay", str(overlay))
    assert result.returncode == 0, result.stderr
    frames = [f.image for f in VideoFileSource(overlay)]
    originals = [f.image for f in VideoFileSource(clip("single_face.mp4"))]
    assert len(frames) == len(originals) == 72
    assert frames[0].shape == originals[0].shape
    difference = np.abs(frames[10].astype(int) - originals[10].astype(int)).mean(axis=2)
    assert (difference > 60).mean() > 0.002  # boxes and bars were drawn ...
    assert (difference > 60).mean() < 0.2  # ... on the picture, which is otherwise intact


def test_plot_has_the_expected_size_and_content(tmp_path):
    out = tmp_path / "a.csv"
    assert run_cli("process", str(clip("multi_face.avi")), "--out", str(out), "--quiet", "--max-frames", "120").returncode == 0
    png = tmp_path / "a.png"
    result = run_cli("plot", str(out), "--out", str(png), "--aus", "AU01,AU12,AU25")
    assert result.returncode == 0, result.stderr
    image = cv2.imread(str(png))
    assert image.shape == (int(round((0.9 * 3 + 1.2) * 100)), 1000, 3)
    assert image.std() > 20 and (image < 128).mean() > 0.01  # lines and text, not a blank canvas
    colours = {tuple(int(v) // 32 for v in p) for p in image.reshape(-1, 3)[::7]}
    assert len(colours) > 8  # several faces -> several line colours

    # The axis fits the data by default: the same traces spread over more pixel rows than on 0-5.
    full = tmp_path / "full.png"
    assert run_cli("plot", str(out), "--out", str(full), "--aus", "AU01,AU12,AU25", "--ymax", "5").returncode == 0

    def line_rows(path) -> int:
        picture = cv2.imread(str(path)).astype(int)
        coloured = (picture.max(axis=2) - picture.min(axis=2)) > 60  # trace colours, not black/grey text
        return int(coloured.any(axis=1).sum())

    assert line_rows(png) > 1.3 * line_rows(full)
    result = run_cli("plot", str(out), "--out", str(full), "--ymax", "7")
    assert result.returncode == 2 and "0-5" in result.stderr


def test_plot_bad_inputs(tmp_path):
    result = run_cli("plot", str(tmp_path / "none.csv"), "--out", str(tmp_path / "x.png"))
    assert result.returncode == 2 and "no such file" in result.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    result = run_cli("plot", str(bad), "--out", str(tmp_path / "x.png"))
    assert result.returncode == 2 and "not an AU CSV" in result.stderr


def test_au_panels_of_several_faces_do_not_cover_each_other():
    """Three faces side by side on a 640x480 frame (multi_face.avi's layout): every panel lies in
    the frame and no two panels overlap, where the old fixed placement stacked them."""
    from auvid.overlay import _overlap, place_panel

    boxes = [(491, 27, 65, 83), (268, 165, 111, 134), (117, 51, 55, 67)]
    placed = []
    for box in boxes:
        panel = place_panel(box, (84, 191), placed, boxes, (480, 640))
        assert 0 <= panel[0] and panel[0] + panel[2] <= 640 and 0 <= panel[1] and panel[1] + panel[3] <= 480
        placed.append(panel)
    assert all(_overlap(a, b) == 0 for i, a in enumerate(placed) for b in placed[i + 1:])

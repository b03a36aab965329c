"""`auvid plot` and `auvid process --overlay`, checked as pictures."""
import cv2
import numpy as np
import pytest

from auvid.io.sources import VideoFileSource
from tests.conftest import LABELS, clip, needs_shared, read_csv, run_cli

# matplotlib's default colour cycle (BGR), which the plot gives face 0, 1, 2 in turn
FACE_COLOURS = [(180, 119, 31), (14, 127, 255), (44, 160, 44)]


def _pixels_of(image: np.ndarray, colour) -> np.ndarray:
    """Mask of the pixels drawn in ``colour`` (antialiased edges aside)."""
    return np.abs(image.astype(int) - np.array(colour)).max(axis=2) < 30


def _panels(image: np.ndarray) -> list[tuple[int, int]]:
    """(top, bottom) pixel rows of each panel, from the black axis frames spanning the width."""
    rows = np.flatnonzero((image.max(axis=2) < 100).mean(axis=1) > 0.6)
    lines = [g[0] for g in np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)] if len(rows) else []
    return list(zip(lines[::2], lines[1::2]))


def _peak_offset(image: np.ndarray, panel: int, colour, t: np.ndarray, values: np.ndarray, ymax: float):
    """(columns, rows) between the highest drawn pixel of a line and where the data's peak belongs.
    The time axis is read off the line's own extent; the value axis runs 0..ymax over the panel.
    Use a panel below the first: the legend's samples sit in the first."""
    top, bottom = _panels(image)[panel]
    rows, columns = np.nonzero(_pixels_of(image[top + 2:bottom - 1], colour))
    assert len(rows), f"no line of colour {colour} in panel {panel}"
    expected_column = columns.min() + (t[values.argmax()] - t.min()) / (t.max() - t.min()) * (columns.max() - columns.min())
    expected_row = (bottom - top) * (1 - values.max() / ymax)
    return abs(columns[rows.argmin()] - expected_column), abs(rows.min() + 2 - expected_row)


@pytest.fixture(scope="module")
def multi_csv(tmp_path_factory):
    out = tmp_path_factory.mktemp("plot") / "multi.csv"
    result = run_cli("process", str(clip("multi_face.avi")), "--out", str(out), "--quiet", "--max-frames", "120")
    assert result.returncode == 0, result.stderr
    return out


@needs_shared
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


@needs_shared
def test_plot_has_a_panel_per_au_and_a_line_per_face(multi_csv, tmp_path):
    out = multi_csv
    png = tmp_path / "a.png"
    result = run_cli("plot", str(out), "--out", str(png), "--aus", "AU01,AU12,AU25")
    assert result.returncode == 0, result.stderr
    image = cv2.imread(str(png))
    panels = _panels(image)
    assert len(panels) == 3, panels  # one panel per AU asked for
    assert image.shape[1] >= 800 and all(bottom - top >= 60 for top, bottom in panels)  # readable
    assert all(_pixels_of(image, colour).sum() > 300 for colour in FACE_COLOURS)  # three faces, three lines
    six = tmp_path / "six.png"
    assert run_cli("plot", str(out), "--out", str(six), "--aus", "AU01,AU02,AU04,AU06,AU12,AU25").returncode == 0
    assert len(_panels(cv2.imread(str(six)))) == 6

    # The trace is the data: on a 0-2 axis, face 1's AU12 peak sits where its time and value put it.
    fixed = tmp_path / "fixed.png"
    assert run_cli("plot", str(out), "--out", str(fixed), "--aus", "AU01,AU12,AU25", "--ymax", "2").returncode == 0
    table = read_csv(out)
    face = table[(table["face_id"] == 1) & (table["success"] == 1)]
    columns, rows = _peak_offset(cv2.imread(str(fixed)), 1, FACE_COLOURS[1], face["timestamp"].to_numpy(),
                                 face["AU12_r"].to_numpy(), 2.0)
    assert columns < 15 and rows < 6, (columns, rows)  # measured: 1.3 and 0.5 px

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


@needs_shared
def test_plot_face_shows_only_that_face(multi_csv, tmp_path):
    """--face 1 draws exactly what a CSV holding only face 1's rows draws (same file name, so the
    same title): pixel for pixel, in one colour."""
    picked = tmp_path / "picked.png"
    result = run_cli("plot", str(multi_csv), "--out", str(picked), "--face", "1", "--aus", "AU12,AU25")
    assert result.returncode == 0, result.stderr
    alone = tmp_path / "alone"
    alone.mkdir()
    table = read_csv(multi_csv)
    table[table["face_id"] == 1].to_csv(alone / multi_csv.name, index=False)
    reference = tmp_path / "reference.png"
    assert run_cli("plot", str(alone / multi_csv.name), "--out", str(reference), "--aus", "AU12,AU25").returncode == 0
    image = cv2.imread(str(picked))
    assert np.array_equal(image, cv2.imread(str(reference)))
    assert _pixels_of(image, FACE_COLOURS[0]).sum() > 300
    assert _pixels_of(image, FACE_COLOURS[1]).sum() == _pixels_of(image, FACE_COLOURS[2]).sum() == 0
    both = tmp_path / "both.png"
    assert run_cli("plot", str(multi_csv), "--out", str(both), "--face", "0", "--face", "2").returncode == 0
    assert _pixels_of(cv2.imread(str(both)), FACE_COLOURS[1]).sum() > 300  # the second face listed
    result = run_cli("plot", str(multi_csv), "--out", str(both), "--face", "7")
    assert result.returncode == 2 and "none of face ids [7]" in result.stderr and "Traceback" not in result.stderr


@needs_shared
def test_plot_reads_an_openface_csv(tmp_path):
    """OpenFace's own output: its landmark and pose columns around the AUs, four faces, and in the
    native file the ", " separator; both spellings of the same rows give the same picture."""
    source = LABELS / "multi_face.multi.csv"
    if not source.exists():
        pytest.skip(f"{source} is not in the shared data")
    plain_dir, native_dir = tmp_path / "plain", tmp_path / "native"
    plain_dir.mkdir()
    native_dir.mkdir()
    text = source.read_text()
    (plain_dir / "of.csv").write_text(text)
    (native_dir / "of.csv").write_text("\n".join(", ".join(line.split(",")) for line in text.splitlines()) + "\n")
    images = []
    for folder in (plain_dir, native_dir):
        png = folder / "of.png"
        result = run_cli("plot", str(folder / "of.csv"), "--out", str(png), "--aus", "AU06,AU12", "--ymax", "5")
        assert result.returncode == 0, result.stderr
        images.append(cv2.imread(str(png)))
    assert np.array_equal(images[0], images[1])
    assert len(_panels(images[0])) == 2
    teacher = read_csv(source)
    face = teacher[(teacher["face_id"] == 0) & (teacher["success"] == 1)]
    columns, rows = _peak_offset(images[0], 1, FACE_COLOURS[0], face["timestamp"].to_numpy(), face["AU12_r"].to_numpy(), 5.0)
    assert columns < 15 and rows < 6, (columns, rows)  # the AU12 column, on the time axis
    assert all(_pixels_of(images[0], colour).sum() > 300 for colour in FACE_COLOURS)


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
    from auvid.io.overlay import _overlap, place_panel

    boxes = [(491, 27, 65, 83), (268, 165, 111, 134), (117, 51, 55, 67)]
    placed = []
    for box in boxes:
        panel = place_panel(box, (84, 191), placed, boxes, (480, 640))
        assert 0 <= panel[0] and panel[0] + panel[2] <= 640 and 0 <= panel[1] and panel[1] + panel[3] <= 480
        placed.append(panel)
    assert all(_overlap(a, b) == 0 for i, a in enumerate(placed) for b in placed[i + 1:])


def test_crowded_faces_push_panels_below_or_aside_not_over_a_face():
    """Three faces in a row at the right edge: beside each box there is no room (the right of the
    first is off the frame, its left is the next face), so the panels must go below or aside; a
    placement that ignores the others (always right of the box) covers faces and panels here."""
    from auvid.io.overlay import place_panel

    def intersect(a, b):  # independent of the module's own overlap helper
        return not (a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0] or a[1] + a[3] <= b[1] or b[1] + b[3] <= a[1])

    boxes = [(560, 50, 60, 80), (460, 50, 60, 80), (360, 50, 60, 80)]
    placed = []
    for box in boxes:
        placed.append(place_panel(box, (84, 191), placed, boxes, (480, 640)))
    assert all(0 <= x and x + w <= 640 and 0 <= y and y + h <= 480 for x, y, w, h in placed)
    assert not any(intersect(a, b) for i, a in enumerate(placed) for b in placed[i + 1:])
    assert not any(intersect(panel, box) for panel in placed for box in boxes)

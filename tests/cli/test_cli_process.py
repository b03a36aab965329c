"""`auvid process` as a user runs it: real clips, real broken files, real Ctrl-C."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from auvid.aus import INTENSITY_AUS, OCCURRENCE_AUS
from tests.conftest import LABELS, MODELS, REPO, clip, needs_shared, read_csv, run_cli, teacher

COLUMNS = (["frame", "face_id", "timestamp", "confidence", "success"] + [f"{a}_r" for a in INTENSITY_AUS]
           + [f"{a}_c" for a in OCCURRENCE_AUS])


def test_help_is_instant_and_lists_commands():
    """Instant = no heavy import, checked exactly (a timing would measure the machine; `auvid
    --help` takes about 0.1 s here)."""
    result = run_cli("--help")
    assert result.returncode == 0 and "process" in result.stdout and "build-engine" in result.stdout
    code = ("import sys\nfrom auvid.cli import main\nsys.argv = ['auvid', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = ('numpy', 'cv2', 'av', 'onnxruntime', 'torch', 'matplotlib', 'pandas', 'rich', 'engines', 'trainer')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n")
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert imported.stdout.strip().splitlines()[-1] == "[]", imported.stdout[-500:]


@needs_shared
def test_process_writes_openface_columns_one_row_per_frame(tmp_path):
    out = tmp_path / "aus.csv"
    jsonl = tmp_path / "aus.jsonl"
    result = run_cli("process", str(clip("single_face.mp4")), "--out", str(out), "--jsonl", str(jsonl))
    assert result.returncode == 0, result.stderr
    table = read_csv(out)
    assert list(table.columns) == COLUMNS
    assert len(table) == 72 and table["frame"].tolist() == list(range(1, 73))
    assert table["success"].all() and table["face_id"].eq(0).all()
    assert table["timestamp"].iloc[1] == pytest.approx(1 / 30, abs=1e-3)
    assert table[[f"{a}_r" for a in INTENSITY_AUS]].to_numpy().max() <= 5
    occurrence = table[[f"{a}_c" for a in OCCURRENCE_AUS]].to_numpy()
    assert set(np.unique(occurrence)) <= {0, 1} and 0 < occurrence.mean() < 1  # decisions, not a constant
    assert "fps" in result.stderr and "infer" in result.stderr  # the summary table
    # The JSONL holds the same analysis as the CSV, plus where each face is.
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(1, 73))
    height, width = 360, 640
    for record, (_, row) in zip(records, table.iterrows()):
        assert record["timestamp"] == pytest.approx(row["timestamp"], abs=1e-3)
        (face,) = record["faces"]
        assert face["face_id"] == 0 and list(face["intensity"]) == list(INTENSITY_AUS)
        assert list(face["occurrence_prob"]) == list(OCCURRENCE_AUS)
        for au in INTENSITY_AUS:
            assert face["intensity"][au] == pytest.approx(row[f"{au}_r"], abs=0.0051)
        for au in OCCURRENCE_AUS:
            prob = face["occurrence_prob"][au]
            if abs(prob - 0.5) > 0.001:  # the JSONL rounds to 3 digits
                assert row[f"{au}_c"] == int(prob >= 0.5), (record["frame"], au, prob)
        x, y, w, h = face["box"]
        assert 0 <= x and 0 <= y and x + w <= width + 1 and y + h <= height + 1 and min(w, h) > 40
        points = np.array(face["landmarks"])
        assert points.shape == (5, 2)
        assert ((points >= [x, y]) & (points <= [x + w, y + h])).all()  # the 5 points lie on the face
        assert points[0, 0] < points[1, 0] and points[3, 0] < points[4, 0]  # eyes and mouth corners in order


@needs_shared
def test_traces_follow_the_teacher_on_an_unseen_person(tmp_path):
    """2015-10-15-15-14 is held out of training (openface_samples): per-AU correlation with
    the OpenFace teacher over the clip must be well above chance for the AUs that move.

    A hard clip: a near-neutral webcam face where most AUs move by less than half an intensity
    point, so which of the 9 moving AUs clear any one bar shifts with every variant of the
    pipeline. Measured (mean over the 9 / AU15 / AU45): shipped 8-epoch model 0.379 / 0.81 / 0.76,
    smoothed 0.372 / 0.83 / 0.75, FP16 0.379 / 0.81 / 0.76, without mirror averaging 0.365 / 0.79 /
    0.77, with --no-tracking 0.311 / 0.80 / 0.75; the earlier 4-epoch model 0.39 / 0.81 / 0.76. The
    count of AUs above 0.3 ran from 4 to 6 of 9 over these, too close to any fixed count to be a
    stable test; the mean (lowest 0.31) and the two AUs that move most (never below 0.75) are
    not. A model that ignores the face scores ~0 on both."""
    out = tmp_path / "aus.csv"
    result = run_cli("process", str(clip("2015-10-15-15-14.avi")), "--out", str(out), "--no-smooth")
    assert result.returncode == 0, result.stderr
    ours = read_csv(out).set_index("frame")
    labels = teacher("2015-10-15-15-14.static.csv")
    frames = np.array([int(float(k)) for k in labels.keys])
    valid = labels.valid(0.75) & np.isin(frames, ours.index[ours["success"] == 1])
    correlations = {}
    for j, au in enumerate(INTENSITY_AUS):
        reference = labels.intensity[valid, j]
        if reference.std() < 0.2:  # an AU that barely moves in this clip says nothing
            continue
        predicted = ours.loc[frames[valid], f"{au}_r"].to_numpy()
        correlations[au] = np.corrcoef(predicted, reference)[0, 1]
    assert len(correlations) >= 8, correlations
    assert np.mean(list(correlations.values())) > 0.25, correlations
    assert correlations.get("AU15", 0) > 0.6 and correlations.get("AU45", 0) > 0.6, correlations


@needs_shared
def test_timestamps_start_at_zero_as_openfaces_do_where_the_stream_starts_later(tmp_path):
    """facerec_hamilton.mp4's video stream starts at 0.852 s; OpenFace writes 0.000 for its first
    frame, and so must auvid, or a join on timestamp with OpenFace's CSV misses every row."""
    out = tmp_path / "a.csv"
    result = run_cli("process", str(clip("facerec_hamilton.mp4")), "--out", str(out), "--max-frames", "40")
    assert result.returncode == 0, result.stderr
    ours = read_csv(out).drop_duplicates("frame").set_index("frame")["timestamp"]
    reference = read_csv(LABELS / "facerec_hamilton.static.csv").set_index("frame")["timestamp"]
    assert len(ours) == 40 and ours.iloc[0] == 0.0
    assert (ours - reference.loc[ours.index]).abs().max() < 0.002  # the same clock, frame by frame


@needs_shared
def test_multi_face_clip_gives_three_stable_ids(tmp_path):
    """Three people, each keeping one id: the id stays on the same face from frame to frame (a box
    centre moves at most 0.38 box widths between consecutive frames here, while the people sit
    more than two widths apart, so two ids swapping would jump), and the man who walks behind the
    person in front (frames ~511-525) comes back under his own id, not a new one."""
    out, jsonl = tmp_path / "aus.csv", tmp_path / "aus.jsonl"
    result = run_cli("process", str(clip("multi_face.avi")), "--out", str(out), "--jsonl", str(jsonl), "--quiet")
    assert result.returncode == 0, result.stderr
    table = read_csv(out)
    counts = table[table["success"] == 1]["face_id"].value_counts()
    assert len(counts[counts > 350]) == 3, counts
    assert counts[counts > 350].sum() > 0.97 * counts.sum(), counts
    previous: dict[int, tuple[int, np.ndarray, float]] = {}
    gaps = []
    for line in jsonl.read_text().splitlines():
        record = json.loads(line)
        for face in record["faces"]:
            x, y, w, h = face["box"]
            centre = np.array([x + w / 2, y + h / 2])
            if face["face_id"] in previous:
                frame, last_centre, last_width = previous[face["face_id"]]
                if frame == record["frame"] - 1:
                    jump = np.linalg.norm(centre - last_centre) / max(w, last_width)
                    assert jump < 1.0, (face["face_id"], record["frame"], jump)
                else:
                    gaps.append((record["frame"] - frame, face["face_id"]))
            previous[face["face_id"]] = (record["frame"], centre, w)
    longest = max(gaps, default=(0, None))
    assert longest[0] >= 10 and counts[longest[1]] > 350, (gaps, counts)  # out of sight, then back as himself


@needs_shared
def test_no_face_clip_gives_success_zero_rows_and_says_so(tmp_path):
    out = tmp_path / "aus.csv"
    result = run_cli("process", str(clip("no_face.mp4")), "--out", str(out), "--quiet")
    assert result.returncode == 3
    assert "no face found" in result.stderr and "Traceback" not in result.stderr
    table = read_csv(out)
    assert len(table) == 95 and (table["success"] == 0).all()  # 95 decodable frames, as OpenFace found


def test_missing_file(tmp_path):
    result = run_cli("process", str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "a.csv"))
    assert result.returncode == 2 and "no such file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "a.csv").exists()


def test_not_a_video(tmp_path):
    fake = tmp_path / "holiday.mp4"
    fake.write_text("definitely not a video\n" * 100)
    result = run_cli("process", str(fake), "--out", str(tmp_path / "a.csv"))
    assert result.returncode == 2 and "not a readable video" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("a.csv*"))


@needs_shared
def test_truncated_video_keeps_the_decodable_frames(tmp_path):
    data = clip("2015-10-15-15-14.avi").read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 3])
    out = tmp_path / "a.csv"
    result = run_cli("process", str(cut), "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    table = read_csv(out)
    assert 150 < len(table) < 842 and table["success"].mean() > 0.95


@needs_shared
def test_corrupt_packets_are_reported(tmp_path):
    data = bytearray(clip("2015-10-15-15-14.avi").read_bytes())
    rng = np.random.default_rng(3)
    for offset in rng.integers(len(data) // 4, len(data) - 1000, 40):
        data[offset:offset + 200] = rng.integers(0, 256, 200, dtype=np.uint8).tobytes()
    broken = tmp_path / "broken.avi"
    broken.write_bytes(bytes(data))
    out = tmp_path / "a.csv"
    result = run_cli("process", str(broken), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert len(read_csv(out)) > 400
    assert "were damaged" in result.stderr or "undecodable packet" in result.stderr


@needs_shared
def test_unwritable_output(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    targets = [(tmp_path / "missing" / "a.csv", "does not exist"), (tmp_path, "is a folder"),
               (a_file / "a.csv", "does not exist|not a folder|cannot write"),
               # root ignores permission bits, but not a read-only file system
               (locked / "a.csv" if os.geteuid() else "/proc/auvid-test.csv", "not writable|cannot write")]
    try:
        for target, message in targets:
            result = run_cli("process", str(clip("single_face.mp4")), "--out", str(target))
            assert result.returncode == 2, (target, result.stderr)
            assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
            import re

            assert re.search(message, result.stderr), result.stderr
    finally:
        locked.chmod(0o700)


@needs_shared
def test_bad_values_and_paths_are_one_line(tmp_path):
    """Each gives one line and exit 2, and leaves no output behind: the same file for two outputs
    (it once mixed JSON lines into the CSV), frame rates that are not positive numbers (0 divided,
    nan gave nan timestamps with exit 0), `auvid plot` on a video, `build-engine --out` under a file."""
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    out = tmp_path / "a.csv"
    frames = tmp_path / "frames"
    frames.mkdir()
    cases = [(("process", str(clip("d0.mp4")), "--out", str(out), "--jsonl", str(tmp_path / "." / "a.csv")),
              "given for two outputs")]
    cases += [(("process", str(frames), "--out", str(out), "--fps", value), "is not a positive number")
              for value in ("0", "-5", "nan", "inf")]
    cases += [(("live", "--camera", "0", "--camera-fps", "0"), "is not a positive number"),
              (("plot", str(clip("d0.mp4")), "--out", str(tmp_path / "p.png")), "not a CSV file"),
              (("build-engine", "--out", str(a_file / "sub")), "cannot make this folder")]
    for args, message in cases:
        result = run_cli(*args)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.strip()]  # click's usage errors: 3 lines
        assert "Traceback" not in result.stderr and len(lines) <= 3, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "frames"]


@needs_shared
def test_plot_reads_the_blank_cells_auvid_writes_for_aus_a_model_lacks(tmp_path):
    import pandas as pd

    out = tmp_path / "a.csv"
    assert run_cli("process", str(clip("d0.mp4")), "--out", str(out), "--quiet").returncode == 0
    table = pd.read_csv(out)
    table["AU45_r"] = None  # as auvid writes an AU its model does not estimate
    table.to_csv(out, index=False)
    result = run_cli("plot", str(out), "--out", str(tmp_path / "p.png"))
    assert result.returncode == 0 and (tmp_path / "p.png").stat().st_size > 10_000, result.stderr


@needs_shared
def test_ctrl_c_keeps_the_rows_and_says_so(tmp_path):
    out = tmp_path / "a.csv"
    env = dict(os.environ, AUVID_MODELS_DIR=str(MODELS))
    process = subprocess.Popen([sys.executable, "-m", "auvid.cli", "process", str(clip("d6.mp4")), "--out", str(out),
                                "--batch-frames", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, cwd=REPO)
    out.write_text("an earlier run's complete output\n")  # must not outlive the interrupted redo
    out.with_name("a.csv.calibration.json").write_text("{}")
    partial = out.with_name("a.csv.partial")
    deadline = time.time() + 60
    while time.time() < deadline and (not partial.exists() or partial.stat().st_size < 20_000):
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted after frame" in stderr and "Traceback" not in stderr
    assert not out.exists()  # the final name is kept for complete runs only
    assert not out.with_name("a.csv.calibration.json").exists()
    table = read_csv(partial)
    assert 10 < len(table) < 1008
    assert table["frame"].tolist() == list(range(1, len(table) + 1))  # whole rows, in order


@needs_shared
def test_the_runtime_path_does_not_import_torch(tmp_path):
    """ARCHITECTURE.md: `auvid process` on an ONNX model must not need torch (nor the trainer)."""
    code = ("import sys\nfrom auvid.cli import main\n"
            f"sys.argv = ['auvid', 'process', {str(clip('single_face.mp4'))!r}, '--out', {str(tmp_path / 'a.csv')!r}, '--quiet']\n"
            "try:\n    main()\nexcept SystemExit as exit_:\n    assert exit_.code in (0, None), exit_.code\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'trainer')))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                            env={**os.environ, "AUVID_MODELS_DIR": str(MODELS)}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "a.csv").is_file()

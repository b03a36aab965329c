"""`auvid process` as a user runs it: real clips, real broken files, real Ctrl-C."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from auvid.aus import INTENSITY_AUS, OCCURRENCE_AUS
from tests.conftest import MODELS, REPO, clip, needs_shared, read_csv, run_cli, teacher

pytestmark = needs_shared

COLUMNS = (["frame", "face_id", "timestamp", "confidence", "success"] + [f"{a}_r" for a in INTENSITY_AUS]
           + [f"{a}_c" for a in OCCURRENCE_AUS])


def test_help_is_instant_and_lists_commands():
    start = time.perf_counter()
    result = run_cli("--help")
    assert result.returncode == 0 and "process" in result.stdout and "build-engine" in result.stdout
    assert time.perf_counter() - start < 5


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
    assert len(jsonl.read_text().splitlines()) == 72
    assert "fps" in result.stderr and "infer" in result.stderr  # the summary table


def test_traces_follow_the_teacher_on_an_unseen_person(tmp_path):
    """2015-10-15-15-14 is held out of training (openface_samples): per-AU correlation with
    the OpenFace teacher over the clip must be well above chance for the AUs that move.

    A hard clip: a near-neutral webcam face where most AUs move by less than half an intensity
    point. Over the 9 AUs that move here, the 4-epoch model scored a mean of 0.39 (6 above 0.3) and
    the shipped 8-epoch one 0.38 (5 above 0.3: AU04 fell from 0.41 to 0.19; AU15 0.81, AU45 0.76,
    AU09/AU10 ~0 for both), while across all held-out people pooled the 8-epoch model is the
    better one (mean PCC 0.717 vs 0.683, the model card). One person's clip moves by a few AUs
    either way, so this asks for at least half of them above 0.3 and a mean above 0.3; a model
    that ignores the face scores ~0 on both."""
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
    assert np.mean(list(correlations.values())) > 0.3, correlations
    assert sum(c > 0.3 for c in correlations.values()) >= 0.5 * len(correlations), correlations


def test_multi_face_clip_gives_three_stable_ids(tmp_path):
    out = tmp_path / "aus.csv"
    result = run_cli("process", str(clip("multi_face.avi")), "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    table = read_csv(out)
    counts = table[table["success"] == 1]["face_id"].value_counts()
    assert len(counts[counts > 350]) == 3, counts
    assert counts[counts > 350].sum() > 0.97 * counts.sum(), counts


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


def test_truncated_video_keeps_the_decodable_frames(tmp_path):
    data = clip("2015-10-15-15-14.avi").read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 3])
    out = tmp_path / "a.csv"
    result = run_cli("process", str(cut), "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    table = read_csv(out)
    assert 150 < len(table) < 842 and table["success"].mean() > 0.95


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


def test_ctrl_c_keeps_the_rows_and_says_so(tmp_path):
    out = tmp_path / "a.csv"
    env = dict(os.environ, AUVID_MODELS_DIR=str(MODELS))
    process = subprocess.Popen([sys.executable, "-m", "auvid.cli", "process", str(clip("d6.mp4")), "--out", str(out),
                                "--batch-frames", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, cwd=REPO)
    partial = out.with_name("a.csv.partial")
    deadline = time.time() + 60
    while time.time() < deadline and (not partial.exists() or partial.stat().st_size < 20_000):
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted after frame" in stderr and "Traceback" not in stderr
    assert not out.exists()  # the final name is kept for complete runs only
    table = read_csv(partial)
    assert 10 < len(table) < 1008
    assert table["frame"].tolist() == list(range(1, len(table) + 1))  # whole rows, in order


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

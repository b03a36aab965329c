"""`auvid process SOURCE... --out-dir` on real shared clips, as a user runs it: every status, the
summary, resume, --force, a worker that segfaults, Ctrl-C then resume, and the Python API."""
import csv
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import MODELS, REPO, clip, needs_shared, read_csv, run_cli

pytestmark = needs_shared


def summary(out_dir):
    with open(out_dir / "auvid-summary.csv", newline="") as handle:
        return {os.path.basename(row["source"]): row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Real clips, a no-face clip, a text file named .mp4, a cut mp4 (its index is gone) and a cut
    AVI (decodable up to the cut), in nested folders, plus a file that is not a video by name."""
    root = tmp_path_factory.mktemp("corpus") / "study"
    (root / "sub").mkdir(parents=True)
    shutil.copy(clip("single_face.mp4"), root / "single_face.mp4")
    shutil.copy(clip("d0.mp4"), root / "sub" / "d0.mp4")
    shutil.copy(clip("no_face.mp4"), root / "sub" / "no_face.mp4")
    (root / "holiday.mp4").write_text("definitely not a video\n" * 100)
    data = clip("single_face.mp4").read_bytes()
    (root / "sub" / "cut.mp4").write_bytes(data[: len(data) // 2])
    avi = clip("2015-10-15-15-14.avi").read_bytes()
    (root / "sub" / "cut.avi").write_bytes(avi[: len(avi) // 10])
    (root / "notes.txt").write_text("not a video by its name: skipped, not failed\n")
    return root


@pytest.fixture(scope="module")
def first_run(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    result = run_cli("process", str(corpus), "--out-dir", str(out), "--workers", "2")
    return out, result


def test_every_status_is_in_the_summary_with_its_reason(first_run):
    out, result = first_run
    assert result.returncode == 2, result.stderr  # some failed
    assert "Traceback" not in result.stderr
    rows = summary(out)
    assert set(rows) == {"single_face.mp4", "d0.mp4", "no_face.mp4", "holiday.mp4", "cut.mp4", "cut.avi"}
    assert {k: r["status"] for k, r in rows.items()} == {
        "single_face.mp4": "ok", "d0.mp4": "ok", "no_face.mp4": "no_face", "holiday.mp4": "failed",
        "cut.mp4": "failed", "cut.avi": "ok"}
    assert "not a readable video" in rows["holiday.mp4"]["error"]
    assert "not a readable video" in rows["cut.mp4"]["error"]
    assert "of the 842 its header declares" in rows["cut.avi"]["warning"]
    assert rows["d0.mp4"]["frames"] == "78" and rows["d0.mp4"]["faces"] == "78" and rows["d0.mp4"]["face_ids"] == "0"
    assert rows["no_face.mp4"]["frames"] == "95" and rows["no_face.mp4"]["faces"] == "0"
    assert float(rows["single_face.mp4"]["fps"]) > 0 and float(rows["single_face.mp4"]["seconds"]) > 0
    # outputs mirror the tree; failed sources leave no file that looks complete
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "auvid-summary.csv", "single_face.csv", "sub/cut.avi.csv", "sub/d0.csv", "sub/no_face.csv"]  # cut.mp4 shares the stem
    assert "holiday.mp4" in result.stderr and "wrote" in result.stderr  # the final table names the bad files


def test_corpus_csv_is_identical_to_single_file_process(first_run, tmp_path):
    out, _ = first_run
    single = tmp_path / "d0.csv"
    result = run_cli("process", str(clip("d0.mp4")), "--out", str(single), "--quiet")
    assert result.returncode == 0, result.stderr
    assert (out / "sub" / "d0.csv").read_bytes() == single.read_bytes()


def test_second_run_skips_finished_sources_and_redoes_a_changed_one(corpus, first_run):
    out, _ = first_run
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.csv") if p.name != "auvid-summary.csv"}
    again = run_cli("process", str(corpus), "--out-dir", str(out), "--workers", "2")
    assert again.returncode == 2  # the failed files are tried again and fail again
    rows = summary(out)
    assert [k for k, r in rows.items() if r["status"] == "skipped"] and all(
        rows[k]["status"] == "skipped" for k in ("single_face.mp4", "d0.mp4", "no_face.mp4", "cut.avi"))
    assert rows["d0.mp4"]["frames"] == "78"  # a skipped row keeps what its run found
    assert {p: p.stat().st_mtime_ns for p in before} == before
    os.utime(corpus / "sub" / "d0.mp4")  # same bytes, new mtime: it may have changed, so redo it
    third = run_cli("process", str(corpus / "sub"), str(corpus / "single_face.mp4"), "--out-dir", str(out),
                    "--workers", "0", "--quiet")
    assert third.returncode == 2
    rows = summary(out)
    assert rows["d0.mp4"]["status"] == "ok" and rows["single_face.mp4"]["status"] == "skipped"


def test_force_and_changed_options_redo_everything(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    shutil.copy(clip("single_face.mp4"), source / "a.mp4")
    out = tmp_path / "out"
    assert run_cli("process", str(source), "--out-dir", str(out), "--workers", "0", "-q").returncode == 0
    assert summary(out)["a.mp4"]["status"] == "ok"
    assert run_cli("process", str(source), "--out-dir", str(out), "--workers", "0", "-q").returncode == 0
    assert summary(out)["a.mp4"]["status"] == "skipped"
    assert run_cli("process", str(source), "--out-dir", str(out), "--workers", "0", "-q", "--force").returncode == 0
    assert summary(out)["a.mp4"]["status"] == "ok"
    smoothed = (out / "a.csv").read_bytes()
    assert run_cli("process", str(source), "--out-dir", str(out), "--workers", "0", "-q", "--no-smooth").returncode == 0
    assert summary(out)["a.mp4"]["status"] == "ok"  # other options: other traces, so not skipped
    assert (out / "a.csv").read_bytes() != smoothed


def test_analyzer_options_reach_the_workers_and_the_resume_key(tmp_path):
    """--calibrate (an AnalyzerOptions field) flows to the pool's workers untouched: the corpus CSV
    and its sidecar equal single-file `--calibrate`'s; dropping it redoes the source."""
    source = tmp_path / "in"
    source.mkdir()
    shutil.copy(clip("single_face.mp4"), source / "a.mp4")
    out, single = tmp_path / "out", tmp_path / "single.csv"
    assert run_cli("process", str(source), "--out-dir", str(out), "--workers", "1", "-q", "--calibrate").returncode == 0
    assert run_cli("process", str(source / "a.mp4"), "--out", str(single), "-q", "--calibrate").returncode == 0
    assert (out / "a.csv").read_bytes() == single.read_bytes()
    assert (out / "a.csv.calibration.json").is_file()
    assert run_cli("process", str(source), "--out-dir", str(out), "--workers", "1", "-q").returncode == 0
    assert summary(out)["a.mp4"]["status"] == "ok"  # not skipped: other options
    assert not (out / "a.csv.calibration.json").exists()  # no stale sidecar calls it calibrated


def test_a_worker_that_segfaults_fails_its_source_and_the_pool_goes_on(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    shutil.copy(clip("single_face.mp4"), source / "a_crashes.mp4")
    shutil.copy(clip("single_face.mp4"), source / "b_fine.mp4")
    out = tmp_path / "out"
    # one worker: it dies on the first source, and its replacement must take the second
    result = run_cli("process", str(source), "--out-dir", str(out), "--workers", "1",
                     env={"AUVID_TEST_CRASH_ON": "crashes"})
    assert result.returncode == 2, result.stderr
    rows = summary(out)
    assert rows["a_crashes.mp4"]["status"] == "failed"
    assert "worker process crashed (killed by SIGSEGV)" in rows["a_crashes.mp4"]["error"]
    assert rows["b_fine.mp4"]["status"] == "ok" and len(read_csv(out / "b_fine.csv")) == 72
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("workers", ["0", "1"])
def test_a_source_whose_outputs_cannot_be_made_fails_alone(tmp_path, workers):
    """A file where the first source's output folder should be: that source fails with the reason,
    the ones after it still run, and the exit code says a source failed (it once left the rest
    unstarted and exited 0 with a pool, and raised a traceback run in-process)."""
    source = tmp_path / "in"
    for folder, name in (("a", "x"), ("b", "y"), ("c", "z")):  # walked in this order: a/x.mp4 first
        (source / folder).mkdir(parents=True)
        shutil.copy(clip("single_face.mp4"), source / folder / f"{name}.mp4")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a").write_text("a file where the folder a/ should be\n")
    result = run_cli("process", str(source), "--out-dir", str(out), "--workers", workers)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    rows = summary(out)
    assert list(rows)[0] == "x.mp4" and rows["x.mp4"]["status"] == "failed"
    assert "outputs cannot be written" in rows["x.mp4"]["error"]
    assert rows["y.mp4"]["status"] == rows["z.mp4"]["status"] == "ok"
    assert len(read_csv(out / "b" / "y.csv")) == len(read_csv(out / "c" / "z.csv")) == 72


def test_ctrl_c_then_the_same_command_gives_the_uninterrupted_csvs(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    shutil.copy(clip("d0.mp4"), source / "a.mp4")
    shutil.copy(clip("pcavs_00104.mp4"), source / "b.mp4")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "auvid.cli", "process", str(source), "--out-dir", str(out), "--workers", "1",
               "--batch-frames", "1"]
    env = dict(os.environ, AUVID_MODELS_DIR=str(MODELS))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    partial = out / "b.csv.partial"
    deadline = time.time() + 120
    while time.time() < deadline and not (partial.exists() and partial.stat().st_size > 2000):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "run the same command again to resume" in stderr and "Traceback" not in stderr
    rows = summary(out)
    assert rows["a.mp4"]["status"] == "ok" and rows["b.mp4"]["status"] == "interrupted"
    assert (out / "a.csv").is_file() and not (out / "b.csv").exists() and partial.is_file()
    resumed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    rows = summary(out)
    assert rows["a.mp4"]["status"] == "skipped" and rows["b.mp4"]["status"] == "ok"
    reference = tmp_path / "ref"
    straight = run_cli("process", str(source), "--out-dir", str(reference), "--workers", "1", "--batch-frames", "1", "-q")
    assert straight.returncode == 0, straight.stderr
    for name in ("a.csv", "b.csv"):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


def test_bad_command_lines_get_one_line(tmp_path):
    a, b = str(clip("single_face.mp4")), str(clip("d0.mp4"))
    for args, message in ((["process", a, b, "--out", str(tmp_path / "x.csv")], "--out takes one source"),
                          (["process", a], "give --out FILE"),
                          (["process", str(tmp_path / "none" / "*.mp4"), "--out-dir", str(tmp_path)], "matches no file"),
                          (["process", a, "--out-dir", str(tmp_path), "--jsonl", "x.jsonl"], "--also jsonl")):
        result = run_cli(*args)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1


def test_python_api(first_run, tmp_path):
    import pandas as pd

    import auvid
    from auvid.errors import InputError

    out, _ = first_run
    table = auvid.analyze(str(clip("d0.mp4")))
    pd.testing.assert_frame_equal(table, read_csv(out / "sub" / "d0.csv"))
    raw = auvid.analyze(str(clip("single_face.mp4")), smooth=False, max_frames=20)
    assert len(raw) == 20 and not raw.equals(read_csv(out / "single_face.csv").head(20))
    with pytest.raises(InputError, match="not a readable video"):
        auvid.analyze(str(out / "auvid-summary.csv"))
    with pytest.raises(auvid.errors.ConfigError, match="unknown option"):
        auvid.analyze(str(clip("d0.mp4")), smoothing=False)
    shutil.copy(clip("single_face.mp4"), tmp_path / "s.mp4")
    result = auvid.analyze_many([str(tmp_path / "s.mp4"), str(tmp_path / "gone.mp4")], out_dir=tmp_path / "o",
                                executor="inline")
    assert result.set_index("status")["frames"].to_dict() == {"ok": 72, "failed": 0}
    assert len(read_csv(tmp_path / "o" / "s.csv")) == 72


def test_import_auvid_stays_light():
    code = "import sys, auvid; auvid.analyze; print(sorted(m for m in ('cv2', 'onnxruntime', 'pandas', 'ray') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr

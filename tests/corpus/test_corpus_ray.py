"""`--executor ray` on a local Ray instance gives the same CSVs and summary as the local pool."""
import csv
import os
import shutil

import pytest

from tests.conftest import clip, needs_shared, run_cli

pytestmark = needs_shared
pytest.importorskip("ray", reason="Ray is not installed (pip install 'auvid[ray]'; the dev extra has it)")

COMPARED = ("status", "frames", "faces", "face_ids", "error", "warning", "settings", "source_size")


def _rows(out):
    with open(out / "auvid-summary.csv", newline="") as handle:
        return {os.path.basename(r["source"]): {k: r[k] for k in COMPARED} for r in csv.DictReader(handle)}


def test_ray_gives_the_local_executors_csvs_and_summary(tmp_path):
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    shutil.copy(clip("single_face.mp4"), source / "single_face.mp4")
    shutil.copy(clip("d0.mp4"), source / "sub" / "d0.mp4")
    (source / "broken.mp4").write_text("not a video\n")
    local, ray = tmp_path / "local", tmp_path / "ray"
    # --calibrate: its sidecar must come back from the Ray task too
    first = run_cli("process", str(source), "--out-dir", str(local), "--workers", "2", "-q", "--calibrate")
    second = run_cli("process", str(source), "--out-dir", str(ray), "--executor", "ray", "--workers", "2", "-q",
                     "--calibrate", env={"RAY_ADDRESS": ""}, timeout=400)
    assert first.returncode == second.returncode == 2, second.stderr
    assert "Traceback" not in second.stderr
    assert _rows(ray) == _rows(local)
    assert _rows(ray)["broken.mp4"]["status"] == "failed" and str(source) in _rows(ray)["broken.mp4"]["error"]
    for name in ("single_face.csv", "sub/d0.csv", "single_face.csv.calibration.json"):
        assert (ray / name).read_bytes() == (local / name).read_bytes(), name
    again = run_cli("process", str(source), "--out-dir", str(ray), "--executor", "ray", "--workers", "2", "-q",
                    "--calibrate", env={"RAY_ADDRESS": ""}, timeout=400)
    assert {k: r["status"] for k, r in _rows(ray).items()} == {"single_face.mp4": "skipped", "d0.mp4": "skipped",
                                                                "broken.mp4": "failed"}
    assert again.returncode == 2

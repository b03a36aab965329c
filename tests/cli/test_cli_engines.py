"""`auvid build-engine` on this machine, and the backends through the real CLI."""
import json

import numpy as np

from engines.tensorrt_backend import tensorrt_available
from tests.conftest import assert_same_traces, clip, needs_shared, read_csv, run_cli, traces_by_backend


def test_build_engine_without_a_gpu_builds_onnx_then_says_why_no_tensorrt(tmp_path):
    ok, _ = tensorrt_available()
    result = run_cli("build-engine", "--out", str(tmp_path), "--batch", "1:4:16")
    fp32 = list(tmp_path.glob("*.fp32.onnx"))
    fp16 = list(tmp_path.glob("*.fp16.onnx"))
    assert len(fp32) == 1 and len(fp16) == 1
    manifest = json.loads(fp16[0].with_suffix(".json").read_text())
    assert manifest["precision"] == "fp16" and len(manifest["checkpoint_sha256"]) == 64
    assert "ms at batch 1" in result.stdout and "ms at batch 4" in result.stdout
    if ok:
        assert result.returncode == 0 and list(tmp_path.glob("*.engine"))
    else:
        assert result.returncode == 4
        assert "needs an NVIDIA GPU with the `tensorrt` extra installed" in result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr
    # a second run keeps what is up to date: both graphs, untouched
    written = {path: path.stat().st_mtime_ns for path in (fp32[0], fp16[0])}
    again = run_cli("build-engine", "--out", str(tmp_path), "--batch", "1:4:16")
    assert again.stdout.count("kept ") == 2 and "built " not in again.stdout, again.stdout
    assert {path: path.stat().st_mtime_ns for path in written} == written


def test_build_engine_bad_batch_is_one_line(tmp_path):
    result = run_cli("build-engine", "--out", str(tmp_path), "--batch", "8:1:2")
    assert result.returncode == 2 and "min <= opt <= max" in result.stderr


@needs_shared
def test_process_with_a_built_onnx_model(tmp_path):
    """The FP16 model built here must give the shipped FP32 model's traces, not just a CSV of the
    right length: FP16 moves an intensity by at most ~0.005 on real faces (test_engines), so after
    the CSV's rounding to 0.01 no value may differ by more than 0.03 and occurrence decisions agree
    on nearly every frame."""
    result = run_cli("build-engine", "--out", str(tmp_path))
    fp16 = next(tmp_path.glob("*.fp16.onnx"))
    tables = {}
    for name, model in (("fp16", str(fp16)), ("fp32", "auvid/models/default/auvid-default.onnx")):
        out = tmp_path / f"{name}.csv"
        result = run_cli("process", str(clip("single_face.mp4")), "--out", str(out), "--model", model)
        assert result.returncode == 0, result.stderr
        assert f"{name}, 1 thread(s)" in result.stderr  # the model asked for is the one that ran
        tables[name] = read_csv(out)
    a, b = tables["fp16"], tables["fp32"]
    assert len(a) == len(b) == 72 and a["success"].all()
    columns = [c for c in a.columns if c.endswith("_r")]
    assert np.abs(a[columns].to_numpy() - b[columns].to_numpy()).max() <= 0.03
    occurrence = [c for c in a.columns if c.endswith("_c")]
    assert (a[occurrence].to_numpy() != b[occurrence].to_numpy()).mean() < 0.01


@needs_shared
def test_a_model_without_mirror_averaging_is_close_to_the_shipped_one(tmp_path):
    result = run_cli("build-engine", "--out", str(tmp_path), "--no-mirror")
    fp32 = next(tmp_path.glob("*-nomirror.fp32.onnx"))
    assert json.loads(fp32.with_suffix(".json").read_text())["mirror_averaged"] is False
    tables = {}
    for name, model in (("mirror", "auvid/models/default/auvid-default.onnx"), ("plain", str(fp32))):
        out = tmp_path / f"{name}.csv"
        result = run_cli("process", str(clip("d0.mp4")), "--out", str(out), "--model", model, "--quiet")
        assert result.returncode == 0, result.stderr
        tables[name] = read_csv(out)
    columns = [c for c in tables["mirror"].columns if c.endswith("_r")]
    a, b = tables["mirror"][columns].to_numpy(), tables["plain"][columns].to_numpy()
    assert not np.array_equal(a, b)  # really another graph
    correlations = [np.corrcoef(a[:, j], b[:, j])[0, 1] for j in range(len(columns)) if a[:, j].std() > 0.1]
    assert np.median(correlations) > 0.9 and np.abs(a - b).mean() < 0.15


@needs_shared
def test_torch_and_onnxruntime_give_the_same_traces(tmp_path):
    """Same clip, same pipeline, two backends (FP32 both: torch kept on the CPU, where a GPU would
    run it in FP16): intensities agree to the CSV's last digit (0.01; values ~1e-6 apart round
    apart at ties) and occurrence decisions on >99.5%."""
    models = {"torch": "auvid/models/default/auvid-default.pt", "onnxruntime": "auvid/models/default/auvid-default.onnx"}
    tables, _ = traces_by_backend(tmp_path, models, env={"CUDA_VISIBLE_DEVICES": ""})
    assert_same_traces(tables["torch"], tables["onnxruntime"], 0.0101, 0.005)


@needs_shared
def test_auvid_bench_quick_prints_the_figures_it_saves(tmp_path):
    """`auvid bench --quick`, as the README runs it: the figures on screen are the JSON's."""
    import re

    out = tmp_path / "bench.json"
    result = run_cli("bench", "--quick", "--out", str(out), timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-2000:]
    assert "latency p50" in result.stdout and "peak RSS" in result.stdout
    data = json.loads(out.read_text())
    tracking = data["offline"]["tracking"]
    assert tracking["frames"] == 150 and tracking["fps"]["median"] > 0
    shown = re.search(r"offline `auvid process` \((\d+) frames\): ([\d.]+) fps", result.stdout)
    assert shown and int(shown.group(1)) == 150 and float(shown.group(2)) == round(tracking["fps"]["median"], 1)
    assert data["live"]["latency_ms"]["p99"]["median"] > 0
    assert data["live"]["frames"][0] + data["live"]["dropped"][0] == 90  # every frame analysed or counted
    assert {"1", "8", "32"} <= set(data["model"]["onnxruntime-fp32-1thread"])
    assert all(v["faces_per_s"] > 0 for v in data["model"]["onnxruntime-fp32-1thread"].values())


def test_auvid_bench_with_a_missing_clip_is_one_line(tmp_path):
    result = run_cli("bench", "--quick", "--video", str(tmp_path / "none.mp4"))
    assert result.returncode == 2 and "no such clip" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_the_benchmarks_read_the_shared_data_where_the_environment_points(tmp_path):
    """On a lent GPU machine the clips and YuNet travel inside the checkout: the benchmarks must
    take AUVID_SHARED_DATA and AUVID_MODELS_DIR as the tests and the CLI do (they once forced
    ../shared/data/models on every `auvid process` they timed)."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    code = "import benchmarks.run as r, benchmarks.corpus as c; print(r.DEFAULT_VIDEO, r.MODELS_DIR, c.VIDEOS, c.MODELS_DIR)"
    env = dict(os.environ, AUVID_SHARED_DATA=str(tmp_path / "data"), AUVID_MODELS_DIR=str(tmp_path / "yunet"))
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, check=True)
    assert shown.stdout.split() == [str(tmp_path / "data" / "videos" / "2015-10-15-15-14.avi"), str(tmp_path / "yunet"),
                                    str(tmp_path / "data" / "videos"), str(tmp_path / "yunet")]
    env.pop("AUVID_MODELS_DIR")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, check=True)
    assert shown.stdout.split()[1] == str(tmp_path / "data" / "models")

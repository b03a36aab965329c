"""`auvid eval` on the shipped model: held-out people vs the teacher, and AFAR's human codes."""
import json

from tests.conftest import SHARED, needs_shared, run_cli

pytestmark = needs_shared


def test_eval_afar_prints_f1_for_the_shared_aus(tmp_path):
    out = tmp_path / "afar.json"
    result = run_cli("eval", "--data", "afar", "--data-root", str(SHARED), "--json", str(out))
    assert result.returncode == 0, result.stderr
    metrics = json.loads(out.read_text())
    shared_aus = {"AU01", "AU02", "AU04", "AU06", "AU07", "AU10", "AU12", "AU14", "AU15", "AU17", "AU23"}
    assert set(metrics["occurrence"]) == shared_aus  # AU24 is not in OpenFace's set
    assert metrics["frames"] + len(metrics["missed"]) == 18 and metrics["frames"] >= 15
    assert "AU12" in result.stdout and "F1" in result.stdout


def test_eval_heldout_on_the_shipped_model_reports_every_au(tmp_path):
    out = tmp_path / "heldout.json"
    result = run_cli("eval", "--data-root", str(SHARED), "--json", str(out), timeout=900)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(out.read_text())
    assert len(metrics["intensity"]) == 17 and metrics["frames"] > 3000
    assert "openface_samples" in metrics["identities"]
    assert metrics["summary"]["mean_pcc"] > 0.5

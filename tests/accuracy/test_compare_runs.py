"""The seed table a model decision rests on: means and spreads over each configuration's runs."""
import json

import pytest

from trainer.compare_runs import KEYS, compare
from trainer.model_card import comparison_section


def _run(folder, within, pooled):
    folder.mkdir()
    val = {k: 0.5 for k in KEYS} | {"mean_within_pcc": within, "mean_pcc": pooled}
    (folder / "metrics.json").write_text(json.dumps({"final": {"val": val}, "history": []}))
    return folder


def test_means_and_spreads_per_configuration_and_the_card_rows(tmp_path):
    a = [_run(tmp_path / f"a{i}", w, 0.7) for i, w in enumerate((0.60, 0.62, 0.64))]
    b = [_run(tmp_path / "b0", 0.5, 0.6)]
    table = compare({"A": a, "B": b})
    assert table["A"]["mean"]["mean_within_pcc"] == pytest.approx(0.62)
    assert table["A"]["std"]["mean_within_pcc"] == pytest.approx(0.0163, abs=1e-4)
    assert len(table["A"]["seeds"]) == 3 and table["B"]["std"]["mean_pcc"] == 0.0
    lines = comparison_section(table, "python -m trainer.compare_runs ...", chosen="A")
    row_a = next(line for line in lines if line.startswith("| **A** (shipped) | 3 |"))
    assert "0.620 +- 0.016" in row_a
    assert any(line.startswith("| B | 1 | 0.500 |") for line in lines)  # one seed: no spread shown

"""The report's identity-swap section: each shown model on the Wikipedia swap pairs. A run's report
shows no benchmark's figures (bench/results/): only its own models'."""

import pytest

from report import robustness
from report.html import render_html
from report.results import RunResult


def test_each_model_is_scored_on_the_swap_pairs_at_its_operating_point(monkeypatch):
    import components.serving

    def scorer(model_dir):
        # A model that flags any comment naming "muslims"; the other model flags nothing.
        def score(texts):
            flag = "robust" not in model_dir
            return [{"toxicity": 0.9 if "muslims" in t else 0.2,
                     "is_toxic": flag and "muslims" in t} for t in texts]  # fmt: skip

        return score

    monkeypatch.setattr(components.serving, "load_scorer", scorer)
    pairs = (["muslims are here", "christians are here", "a b"],
             ["christians are here", "muslims are here", "a c"])  # fmt: skip
    runs = [RunResult(name="biased", slices={}, model_uri="/m/biased"),
            RunResult(name="robust", slices={}, model_uri="/m/robust"),
            RunResult(name="unscored", slices={})]  # fmt: skip
    rows = {r["name"]: r for r in robustness.swap_rows(runs, pairs)}
    assert set(rows) == {"biased", "robust"}
    assert rows["biased"]["flip_rate"] == pytest.approx(2 / 3)
    assert rows["robust"]["flip_rate"] == 0.0 and rows["robust"]["pairs"] == 3
    assert rows["biased"]["mean_abs_score_change"] == pytest.approx((0.7 + 0.7) / 3)
    runs[0].swaps = rows["biased"]
    page = render_html(runs[:1], {}, "now")
    assert "<td class=name>biased</td><td>3</td><td>0.667</td><td>0.467</td>" in page


def test_the_report_shows_no_benchmark_figures(tmp_path):
    page = render_html([RunResult(name="m", slices={})], {}, "now")
    assert "bench/results" not in page and "id=robustness" not in page

"""The report's identity-swap robustness section: from bench/results/robustness.json when it
exists, absent otherwise."""

import json

import pytest

from report import robustness
from report.html import render_html
from report.results import RunResult


def _write(path, **methods):
    path.write_text(json.dumps({"clp_weight": 0.3, "command": "bench/robustness.py measure",
                                **methods}))  # fmt: skip
    return path


def _figures(flip, auc):
    return {"seeds": [1, 2], "flip_rate": flip, "mean_abs_score_change": [0.04, 0.06],
            "auc": auc, "tpr": [0.45, 0.47], "max_gap": [0.3, None]}  # fmt: skip


def test_summary_gives_mean_and_sd_over_seeds_per_method(tmp_path):
    path = _write(tmp_path / "r.json", clp=_figures([0.01, 0.03], [0.84, 0.84]),
                  baseline=_figures([0.08, 0.08], [0.85, 0.86]))  # fmt: skip
    result = robustness.summary(path)
    assert [r["method"] for r in result["rows"]] == ["baseline", "clp"]
    baseline, clp = (r["cells"] for r in result["rows"])
    assert result["headers"][0] == "identity-swap flip rate"
    assert clp[0] == "0.020 ± 0.014" and baseline[0] == "0.080 ± 0.000"
    assert baseline[2] == "0.855 ± 0.007"
    assert baseline[4] == "0.300"  # a seed without a judged group has no gap


def test_no_file_no_section_and_a_broken_file_is_named(tmp_path, monkeypatch):
    assert robustness.summary(tmp_path / "absent.json") is None
    monkeypatch.setattr(robustness, "RESULTS", tmp_path / "absent.json")
    page = render_html([RunResult(name="m", slices={})], {}, "now")
    assert "id=robustness" not in page
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ValueError, match=r"broken.json: not valid JSON .*bench/robustness.py"):
        robustness.summary(broken)


def test_the_report_shows_the_figures_when_the_file_exists(tmp_path, monkeypatch):
    path = _write(tmp_path / "r.json", baseline=_figures([0.08, 0.08], [0.85, 0.86]))
    monkeypatch.setattr(robustness, "RESULTS", path)
    page = render_html([RunResult(name="m", slices={})], {}, "now")
    assert '<a href="#robustness">' in page
    assert "<td class=name>baseline</td><td>2</td><td>0.080 ± 0.000</td>" in page
    assert "CLP weight 0.3" in page


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

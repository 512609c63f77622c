"""The fairness report's page and charts from hand-made runs: every slice, bound and
failure shown, charts drawn offline, the notebook view."""

import base64
import html.parser
import io
import json
import math
import re
import shutil
import subprocess

import numpy as np
import pytest
from markupsafe import escape
from PIL import ImageColor

from components.verdict import Failure, Verdict
from report import charts, command, matching, notebook, selection
from report import html as report_html
from report.values import OVERALL
from tests.report_data import (
    BASELINE_FAILURES,
    GROUPS,
    POLICY,
    SELECTION_DIR,
    png_size,
    recorded_gate,
    sample_runs,
    scored,
)


@pytest.fixture
def runs():
    return sample_runs()


# ---------------------------------------------------------------- rendering


class Tags(html.parser.HTMLParser):
    """Every tag of a page with its attributes; script bodies are text, not tags."""

    def __init__(self, page: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def referenced_urls(page: str) -> list[str]:
    return [
        attrs[name] for _, attrs in Tags(page).tags for name in ("src", "href") if name in attrs
    ]


def test_report_has_every_slice_bound_and_failure_and_valid_charts(runs, tmp_path):
    page_path = command.write_report(runs, tmp_path)
    page = page_path.read_text()
    for slice_name in (OVERALL, *GROUPS):
        # Once in each model's slice table, once in its Fairness Indicators table.
        assert page.count(f"<tr><td class=name>{slice_name}</td>") == 2 * len(runs)
    for line in POLICY.lines():
        assert escape(line) in page
    for s, m, v, b in BASELINE_FAILURES:
        assert f"<li>{escape(Failure(s, m, v, b).describe())}</li>" in page
    assert escape("Selected by the pipeline's Selector: min_diff.") in page
    assert page.count('class="badge pass">blessed') == 2 * 2  # summary table and run headings
    # Bounded values show their interval; plain ones do not invent one.
    assert "0.910 <small>[0.890, 0.930]</small>" in page
    assert "<td>0.880</td>" in page
    # Self-contained: scripts inline, no style sheet links, every image a data URI, every link
    # within the page.
    tags = Tags(page).tags
    assert [t for t, attrs in tags if t == "link" or (t == "script" and "src" in attrs)] == []
    assert all(url.startswith(("data:image/png;base64,", "#")) for url in referenced_urls(page))
    expected = {n for n in charts.CHARTS if n not in charts.MATCHED_CHARTS}
    assert {p.name for p in tmp_path.glob("*.png")} == expected
    for name in expected:
        data = (tmp_path / name).read_bytes()
        assert png_size(data) == charts.CHARTS[name]
        assert base64.b64encode(data).decode() in page
    summary = json.loads((tmp_path / command.JSON_FILE).read_text())
    assert summary["order"] == ["min_diff", "baseline", "tfco"]
    assert summary["selection"]["decision"]["winner"] == "min_diff"
    assert summary["selection"]["folder"] == SELECTION_DIR
    assert summary["runs"][0]["failures"][0]["bound"] == "<= 0.2"


def test_matched_chart_appears_with_matching(runs, tmp_path):
    labels = np.array([0, 0, 0, 1], float)
    data = {r.name: scored([0.6, 0.4, 0.2, 0.9], labels) for r in runs}
    matching.match_thresholds(runs, data)
    command.write_report(runs, tmp_path)
    data = (tmp_path / "fpr_matched_threshold.png").read_bytes()
    assert png_size(data) == charts.CHARTS["fpr_matched_threshold.png"]
    assert "FPR at the reference FPR" in (tmp_path / command.HTML_FILE).read_text()
    # FNR at the matched thresholds beside the FPR there.
    data = (tmp_path / "fnr_matched_threshold.png").read_bytes()
    assert png_size(data) == charts.CHARTS["fnr_matched_threshold.png"]
    assert "FNR at the reference FPR" in (tmp_path / command.HTML_FILE).read_text()


def test_chart_marks_the_bounds_in_their_colours(runs):
    png = charts.render_charts(runs)["fpr_by_group.png"]
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = {c for _, c in image.getcolors(maxcolors=1 << 16)}
    assert ImageColor.getrgb(charts.CAP_COLOR) in colours  # the FPR cap line
    for colour in charts.COLORS[:3]:  # one bar colour (and gap line) per model
        assert ImageColor.getrgb(colour) in colours


# ---------------------------------------------------------------- page and notebook


def test_page_embeds_each_chart_spec_with_vega_inline(runs):
    specs = charts.chart_specs(runs)
    page = report_html.render_html(runs, specs, "now")
    embedded = json.loads(re.search(r"const specs = (.*);", page).group(1))
    assert set(embedded) == {"chart-" + n.removesuffix(".png") for n in specs}
    for name in specs:
        spec = embedded["chart-" + name.removesuffix(".png")]
        assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
        assert (spec["width"], spec["height"]) == charts.CHARTS[name]
        assert f'<div class=chart id="chart-{name.removesuffix(".png")}">' in page
    assert "vegaEmbed" in page and charts.vega_script() in page


def test_fnr_is_shown_beside_fpr_wherever_group_fpr_is(runs):
    specs = {name: chart.to_dict() for name, chart in charts.chart_specs(runs).items()}
    for name in ("fpr_by_group.png", "fnr_by_group.png"):
        tooltip = [t["field"] for t in specs[name]["layer"][0]["encoding"]["tooltip"]]
        assert {"fpr", "fpr_ci", "fnr", "fnr_ci"} <= set(tooltip)
        bars = specs[name]["data"]["values"]
        assert {(b["fpr"], b["fnr"]) for b in bars if b["group"] == "religion"} == {
            (0.31, 0.3),
            (0.13, 0.3),
        }
    page = report_html.render_html(runs, charts.chart_specs(runs), "now")
    assert "<th>worst judged group FPR</th><th class=fnr>worst judged group FNR</th>" in page
    assert page.count("<th>FPR</th><th class=fnr>FNR</th>") == len(runs)
    assert "<th>FPR@0.5</th><th class=fnr>FNR@0.5</th>" in page
    assert "<td>0.310 <small>[0.280, 0.340]</small></td><td class=fnr>0.300" in page
    header = selection.candidates_table(runs).splitlines()[0]
    assert re.search(r"worst group FPR +worst group FNR", header)
    summary = runs[0].summary()
    assert (summary["worst_group_fnr"], summary["worst_fnr_group"]) == (0.3, "sexual_orientation")


def test_page_draws_its_charts_offline_in_headless_chromium(runs, tmp_path):
    """Vega runs from the inlined script: every chart is drawn with the network unreachable
    (a proxy on a closed local port), without console messages."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium not installed (apt-get install -y chromium; .ci/run does it)")
    page = command.write_report(runs, tmp_path / "report")
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=20000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert [line for line in done.stderr.splitlines() if re.search(r":CONSOLE[(:]", line)] == []
    assert not re.search(r"Uncaught|net::ERR_", done.stderr)
    for name in charts.chart_specs(runs):
        chart_id = "chart-" + name.removesuffix(".png")
        drawn = re.search(rf'id="{chart_id}".*?</svg>', done.stdout, re.S)
        assert drawn and 'class="marks"' in drawn.group(0), chart_id


def test_notebook_report_is_the_page_in_an_iframe(runs, monkeypatch):
    monkeypatch.setattr(notebook, "reported_runs", lambda *args: (runs, "run-1", False))
    view = notebook.notebook_report("/nowhere", ["baseline", "min_diff", "tfco"])
    assert view.data.startswith('<div><iframe srcdoc="&lt;!doctype html&gt;')
    assert "Fairness report" in view.data and "vegaEmbed" in view.data
    monkeypatch.setattr(notebook, "reported_runs", lambda *args: ([], None, False))
    with pytest.raises(LookupError):
        notebook.notebook_report("/nowhere")


def test_the_tradeoff_chart_puts_each_model_at_its_gap_and_recall(runs):
    spec = charts.tradeoff_chart(runs, {r.name: "#000000" for r in runs}).to_dict()
    points = {row["model"]: row for row in spec["data"]["values"]}
    assert set(points) == {"baseline", "min_diff", "tfco"}
    # From tests/report_data.py's rates, by hand: gender (12 rows) is not judged, so the
    # largest judged gap is religion's, 0.31 - 0.10 for the baseline and 0.13 - 0.09 for the
    # fairer two; every model misses 30% of the toxic rows.
    assert points["baseline"]["gap"] == pytest.approx(0.21)
    for name in ("min_diff", "tfco"):
        assert points[name]["gap"] == pytest.approx(0.04)
    assert {p["group"] for p in points.values()} == {"religion"}
    assert all(p["TPR"] == pytest.approx(0.7) for p in points.values())


def test_the_page_shows_the_gate_record_its_failures_intervals_and_suite(runs):
    """The record's failures verbatim (a suite term, a rise over the base model), its gap with
    the interval, where a group not judged on eval was judged, and the suite's rates."""
    runs[0].gate = recorded_gate()
    verdict = Verdict.from_json(runs[0].gate)
    page = report_html.render_html(runs, {}, "now")
    texts = [f.describe() for f in verdict.failures]
    assert any("term 'gay' (madlibs)" in t for t in texts)
    assert any("rise over the base model" in t for t in texts)
    for text in texts:
        assert f"<li>{escape(text)}</li>" in page
    gap = verdict.figures["eval_gap"]
    lower, upper = gap["interval"]
    assert f"<td>{gap['value']:+.3f} [{lower:+.3f}, {upper:+.3f}] (religion)</td>" in page
    suite_gap = verdict.figures["suite_gap"]
    assert f"{suite_gap['value']:+.3f} [{suite_gap['interval'][0]:+.3f}," in page
    assert escape(verdict.not_judged()["sexual_orientation"]) in page
    assert "judged on madlibs, functional" in verdict.not_judged()["sexual_orientation"]
    # The suite table: sexual orientation's madlibs FPR, interval and counts, where judged.
    assert (
        "<tr><td class=name>sexual_orientation</td><td>0.710 <small>[0.615, 0.790] 71/100"
        "</small></td><td>0.025 <small>[0.004, 0.129] 1/40</small></td><td>-</td><td>-</td>"
        "<td class=name>madlibs, functional</td></tr>"
    ) in page
    assert "compared with the base model baseline" in page
    # The other two gate reports predate the record: no suite figures, said so.
    assert page.count("No challenge suite figures in this gate report") == 2


def legend_boxes(node) -> list[tuple[float, float]]:
    """(x, width) of every legend in a Vega scenegraph, x from the plot's origin."""
    found = []
    if isinstance(node, dict):
        if node.get("role") == "legend":
            found += [(item.get("x", 0), item.get("width", 0)) for item in node.get("items", [])]
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return found
    for child in children:
        if isinstance(child, dict | list):
            found += legend_boxes(child)
    return found


def test_no_legend_runs_off_the_chart_with_long_model_names(runs):
    import vl_convert

    # Long names: each model adds a bound line ("NAME: overall FPR + gap 0.05 = ...") and the
    # matched charts add "(t=...)" to each name. A legend wider than the chart loses the
    # entries past its edge in the PNG.
    long = [f"{name}_group_thresholds_variant" for name in ("baseline", "min_diff", "tfco")]
    for run, name in zip(runs, long, strict=True):
        run.name = name
    labels = np.array([0, 0, 0, 1], float)
    matching.match_thresholds(runs, {r.name: scored([0.6, 0.4, 0.2, 0.9], labels) for r in runs})
    for name, chart in charts.chart_specs(runs).items():
        scene = vl_convert.vegalite_to_scenegraph(chart.to_dict())
        boxes = legend_boxes(scene["scenegraph"])
        assert boxes, name
        right = max(x + width for x, width in boxes) + scene["origin"][0]
        assert right <= charts.CHARTS[name][0], f"{name}: a legend ends at {right} px"


def test_matched_thresholds_read_on_the_probability_scale_predict_shows(runs):
    # The evaluate signature's score crosses 0.5 at the operating threshold: the reference
    # model matched at its own point shows its own threshold, as predict would.
    labels = np.array([0, 0, 0, 1], float)
    matching.match_thresholds(runs, {r.name: scored([0.6, 0.4, 0.2, 0.9], labels) for r in runs})
    reference = next(r for r in runs if r.name == "baseline")
    reference.gate = {**(reference.gate or {}), "operating_point": {"threshold": 0.3561}}
    assert reference.matched.threshold == 0.5
    assert reference.matched_score_threshold == pytest.approx(0.3561)
    assert reference.summary()["matched_threshold"] == pytest.approx(0.3561)
    assert reference.summary()["matched_threshold_evaluate"] == 0.5
    assert "0.356" in selection.candidates_table(runs)
    # A matched 0.6 on the evaluate scale is logit(0.6) above the operating point.
    reference.matched.threshold = 0.6
    expected = 1 / (1 + math.exp(-(math.log(0.6 / 0.4) + math.log(0.3561 / 0.6439))))
    assert reference.matched_score_threshold == pytest.approx(expected)

"""The report in a notebook: the same HTML page, inline in any front end (JupyterLab,
Notebook 7, VS Code). It sits in an iframe so that its style sheet and scripts stay apart from
the notebook's."""

from __future__ import annotations

import html
import os

from report.charts import chart_specs
from report.command import reported_runs, scope
from report.html import now, render_html


def notebook_report(
    output, candidates=None, metadata: str | None = None, match=True, run_id=None, mix_runs=False
):
    """The HTML report of one run under `output` (`run_id`, else the newest; see
    report.command.reported_runs), of `candidates` (default: all), for display."""
    from IPython.display import HTML

    connection = metadata or os.path.join(output, "metadata.sqlite")
    runs, _, mixed = reported_runs(connection, candidates, match, run_id, mix_runs)
    if not runs:
        raise LookupError(
            f"no evaluations of {list(candidates or ['any candidate'])} under {output}"
        )
    page = render_html(runs, chart_specs(runs), now(), covers=scope(runs, mixed))
    # In a <div>: IPython warns about HTML that starts with an iframe (it means src= frames).
    return HTML(
        f'<div><iframe srcdoc="{html.escape(page, quote=True)}" '
        'style="width: 100%; height: 1400px; border: 0"></iframe></div>'
    )

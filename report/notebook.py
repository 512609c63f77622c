"""The report in a notebook: the same HTML page, inline in any front end (JupyterLab,
Notebook 7, VS Code). It sits in an iframe so that its style sheet and scripts stay apart from
the notebook's."""

from __future__ import annotations

import html
import os

from report.charts import chart_specs
from report.command import build_runs
from report.html import now, render_html


def notebook_report(output, candidates=None, metadata: str | None = None, match=True):
    """The HTML report of the latest evaluations of `candidates` (default: all) under
    `output`, for display."""
    from IPython.display import HTML

    runs = build_runs(metadata or os.path.join(output, "metadata.sqlite"), candidates, match)
    if not runs:
        raise LookupError(
            f"no evaluations of {list(candidates or ['any candidate'])} under {output}"
        )
    page = render_html(runs, chart_specs(runs), now())
    # In a <div>: IPython warns about HTML that starts with an iframe (it means src= frames).
    return HTML(
        f'<div><iframe srcdoc="{html.escape(page, quote=True)}" '
        'style="width: 100%; height: 1400px; border: 0"></iframe></div>'
    )

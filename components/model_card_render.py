"""Rendering the model card: Jinja2 templates (`templates/`) and the filters they use."""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2

from components.intervals import finite
from contract import MODEL_CARD_HTML, MODEL_CARD_MD

TEMPLATES = Path(__file__).parent / "templates"


def fmt(value, digits: int = 3, signed: bool = False) -> str:
    shown = finite(value)
    if shown is None:
        return "-"
    return f"{shown:+.{digits}f}" if signed else f"{shown:.{digits}f}"


def _rate_text(rate: dict, mark: str = "") -> str:
    """ "0.050 [0.031, 0.080]", the interval's mark after Wilson intervals in a mixed card."""
    text = fmt(rate["value"])
    if rate["lower"] is not None and rate["upper"] is not None:
        text += f" [{fmt(rate['lower'])}, {fmt(rate['upper'])}]"
        if mark and rate["method"] == "wilson":
            text += mark
    return text


def _counts_text(rate: dict) -> str:
    if rate["rows"] is None:
        return "-"
    return f"{rate['errors']} of {rate['rows']}"


def _suite_rate(rate: dict | None) -> str:
    """A suite rate (components.intervals.Rate JSON) with the interval the record holds."""
    if not rate or not rate.get("n"):
        return "no rows"
    lower, upper = rate["interval"]
    return f"{fmt(rate['value'])} [{fmt(lower)}, {fmt(upper)}]"


def _suite_counts(rate: dict | None) -> str:
    return f"{rate['k']} of {rate['n']}" if rate and rate.get("n") else "-"


@functools.cache
def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(
        fmt=fmt, rate=_rate_text, counts=_counts_text, srate=_suite_rate, scounts=_suite_counts
    )
    return env


def render(context: dict) -> dict[str, str]:
    """The card's files by name: Markdown and HTML (HTML-escaped) from the same context."""
    return {
        MODEL_CARD_MD: _environment(False).get_template("model_card.md.j2").render(**context),
        MODEL_CARD_HTML: _environment(True).get_template("model_card.html.j2").render(**context),
    }

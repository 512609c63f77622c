"""Every figure the docs quote from a results file is in that file (issue 27).

    .venv/bin/python bench/check_figures.py                 # README.md and docs/*.md
    .venv/bin/python bench/check_figures.py docs/benchmarks.md
    .venv/bin/python bench/check_figures.py --find 0.851 bench/results/base-model.json

A block of a Markdown file (a paragraph, a table, a list: the lines up to the next blank line,
or up to a `<!-- /figures -->` line before the next heading) that quotes measured figures
carries a marker on the line before it, naming where they come from:

    <!-- figures: bench/results/remediation.json ghc wiki_identity; bench/results/x.json -->
    <!-- figures: bench/results/base-model.json ghc/baseline | also: 30 0.05 -->
    <!-- figures: none: the gate's default bounds, settings not measurements -->

Each source is a results file and, optionally, the parts of it (keys joined by "/", quoted
when they hold spaces) the block quotes; `also:` lists numbers of the block that are settings or
definitions (a bound, a weight), not measurements; `derive: A - B; C / D` names changes the
block quotes that the file holds only as their two terms (parts of the first file: two series
of one length are taken element by element, and their means; a ratio also gives its relative
change, A / B - 1), or `max A` / `min A` with a "*" in A for the largest or smallest of the
children, seed by seed; a part may end in a slice, "[0:3]". `none:` marks a block whose numbers
are all settings, with the reason. Each source part, or an entry above it, must carry its provenance
(bench/provenance.py: the command, the commit and the date), or else each entry inside it must.

What counts as a figure: every number in the block's text, except
- numbers in code (fenced, indented, or `inline`), in HTML comments, in link targets and URLs,
  and in headings;
- numbers inside names and versions (all-MiniLM-L6-v2, Conv1D, 6B, 1e-3, TFX 1.16, a number
  after a letter or a letter and a hyphen, or before a letter other than an `x` that ends it);
- dates, clock times and years (2026-12-07, 16:00, 3:46, 2019, "29 November");
- the number of a numbered item or step at the start of a line ("1.", "**2.");
- references: a number after "issue", "seed", "step", "item", "section", "version" (also in
  the plural) and the list that follows it ("seeds 1, 2 and 3", "seeds 1-3", "1 / 2 / 3");
- the numbers the marker lists under `also:`.

A figure is found when, rounded to the decimals it is shown with, it equals a number of the
named parts: a value, a number inside a key or a string (a setting such as "w=16"), or one
computed from a series of values (a list of numbers, or the same key across the entries of a
list or a dict, such as per-seed results, or across entries whose names differ only by "seed
N"): its mean or its standard deviation (n - 1). Also:
- "m ± s" (or "m +- s") needs one series whose mean rounds to m and whose sd rounds to s (or a
  {"mean", "sd"} pair);
- "p%" is a fraction (0.81 for 81%) or a percentage in the file;
- "k/n" is a pair {"k", "n"}, the string "k/n", the trues of a list of k true of n booleans,
  or the fraction's value;
- on a line (or under a table header) naming an FNR, a rate shown with two or more decimals may
  be the complement of one (an FNR as 1 - TPR);
- an integer shown with thousands separators (2,553) is a rounded value.
A number not found that is a change or a ratio of two figures found near it (in the same table
row, or within two lines in prose) is accepted as derived: "1.04x" as b / a, "-81%" as
(b - a) / a or a share "25%" as b / a, another number as a difference b - a. This check is
looser than the others (many pairs), so the operands are best quoted beside the change.

The check reports, with file:line, each number not found, each marker whose file, part or
provenance is missing, and, in README.md and docs/benchmarks.md, each block with figures and no
marker (numbers with two or more decimals, a "±", or a table with numeric cells). Exit status 1
when it reports anything.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import re
import shlex
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILES = ("README.md", "docs/*.md")
# Files in which a block with figures and no marker is an error.
MARKED_FILES = ("README.md", "docs/benchmarks.md")
# A figure with more matches than this in its parts is left out of the row check (locality).
MANY = 200

MARKER = re.compile(r"^\s*<!--\s*figures:\s*(?P<spec>.*?)\s*-->\s*$")
CLOSE = re.compile(r"^\s*<!--\s*/figures\s*-->\s*$")
NUM = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
MONTHS = ("January|February|March|April|May|June|July|August|September|October|November"
          "|December")  # fmt: skip
REFERENCE_WORDS = ("issue", "issues", "seed", "seeds", "step", "steps", "item", "items",
                   "section", "sections", "version", "versions")  # fmt: skip
SIGNS = "-+−"
# A run of numbers after a reference word: "1, 2 and 3", "1-3", "1 / 2 / 3", "4 and 5".
_REFERENCE = re.compile(
    r"\b(?:" + "|".join(REFERENCE_WORDS) + r")\s+(?P<run>\d+(?:\s*(?:,|/|-|–|and|or|to)\s*\d+)*)",
    re.IGNORECASE,
)
_BLANKED = [
    re.compile(r"<!--.*?-->"),  # comments
    re.compile(r"`[^`]*`"),  # inline code
    re.compile(r"\]\([^)]*\)"),  # link targets
    re.compile(r"https?://\S+"),
    re.compile(r"\b\d{4}-\d{2}-\d{2}(?:T[\d:]+Z?)?"),  # dates
    re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\b"),  # clock times and m:ss
    re.compile(r"\b\d{1,2}\s+(?:" + MONTHS + r")\b|\b(?:" + MONTHS + r")\s+\d{1,2}\b"),
    re.compile(r"\b(?:19|20)\d{2}\b(?![.,]\d)"),  # years
    re.compile(r"\b\d+\.\d+\.\d+\b"),  # versions: 6.2.0
    re.compile(r"^\s*(?:\*\*)?\d+\.(?=\s|\*\*)"),  # a numbered item or step: "**2."
]
_RANGE_UNIT = re.compile(r"[-–]" + NUM + r"(%|x(?![A-Za-z]))")
_TOKEN = re.compile(
    r"(?P<mean>" + NUM + r")\s*(?:±|\+-|\+/-)\s*(?P<sd>" + NUM + r")"
    r"|(?P<k>\d+)/(?P<n>\d+)(?![\d/])"
    r"|(?P<num>" + NUM + r")"
)


@dataclass
class Figure:
    line: int
    text: str
    value: float
    decimals: int
    sign: bool = False  # shown with a sign: a change
    percent: bool = False
    ratio: bool = False  # "1.04x"
    sd: float | None = None
    sd_decimals: int = 0
    fraction: tuple[int, int] | None = None
    column: int | None = None  # the table cell, in a table row
    complement: bool = False  # on a line that names an FNR: may be 1 - TPR
    span: tuple[int, int] = (0, 0)  # where the number is in its line


@dataclass
class Block:
    path: Path
    start: int  # 1-based line of the first line
    lines: list[str]
    spec: str | None  # the marker's text, None when unmarked
    marker_line: int | None = None


@dataclass
class Pool:
    """Every number of a results file's parts with the JSON path it is at (a series' mean and sd
    at the path of the entry holding the series), sorted; the (mean, sd) pairs; the k/n counts."""

    entries: list[tuple[float, str]] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    pairs: list[tuple[float, float, str]] = field(default_factory=list)
    fractions: dict[tuple[int, int], list[str]] = field(default_factory=dict)

    def add(self, value: float, path: str) -> None:
        self.entries.append((float(value), path))

    def add_fraction(self, k: int, n: int, path: str) -> None:
        self.fractions.setdefault((k, n), []).append(path)

    def finish(self) -> Pool:
        ordered = sorted((v, p) for v, p in self.entries if math.isfinite(v))
        self.values, self.paths = [v for v, _ in ordered], [p for _, p in ordered]
        self.entries = []
        return self

    def near(self, x: float, tolerance: float) -> list[tuple[float, str]]:
        lo = bisect.bisect_left(self.values, x - tolerance)
        hi = bisect.bisect_right(self.values, x + tolerance)
        return list(zip(self.values[lo:hi], self.paths[lo:hi], strict=True))


# --- reading the docs -----------------------------------------------------------------------


def blocks(path: Path, text: str | None = None) -> list[Block]:
    """The file's blocks outside code, each with the marker before it, if any."""
    lines = (path.read_text(encoding="utf-8") if text is None else text).splitlines()
    out: list[Block] = []
    i, fenced, pending = 0, False, None
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            fenced = not fenced
            i += 1
            continue
        if fenced:
            i += 1
            continue
        match = MARKER.match(line)
        if match:
            pending = (match.group("spec"), i + 1)
            i += 1
            continue
        if not line.strip() or CLOSE.match(line):
            i += 1
            continue
        start = i
        end = _block_end(lines, i, pending is not None)
        body = lines[start:end]
        spec, marker_line = pending if pending else (None, None)
        out.append(Block(path, start + 1, body, spec, marker_line))
        pending = None
        i = end
    return out


def _block_end(lines: list[str], i: int, marked: bool) -> int:
    """The end of the block starting at line i: a blank line, or with a marker the close
    marker when one comes before the next heading or marker."""
    if marked:
        for j in range(i, len(lines)):
            if CLOSE.match(lines[j]):
                return j
            if MARKER.match(lines[j]) or (j > i and lines[j].startswith("#")):
                break
    j = i
    while j < len(lines) and lines[j].strip() and not MARKER.match(lines[j]):
        if lines[j].lstrip().startswith("```"):
            break
        j += 1
    return max(j, i + 1)


def figures_of(block: Block, also: set[str] = frozenset()) -> list[Figure]:
    """The numbers of a block that count as figures (the rules in the module docstring)."""
    found: list[Figure] = []
    code = block.lines[0].startswith(("    ", "\t")) and not block.lines[0].lstrip().startswith(
        ("-", "*", "|")
    )
    if code:
        return found
    for offset, raw in enumerate(block.lines):
        if raw.lstrip().startswith("#"):
            continue
        text = raw
        for pattern in _BLANKED:
            text = pattern.sub(lambda m: " " * len(m.group(0)), text)
        for m in _REFERENCE.finditer(text):
            a, b = m.span("run")
            text = text[:a] + " " * (b - a) + text[b:]
        row = text.lstrip().startswith("|")
        fnr = "FNR" in raw or "FNR" in "".join(block.lines[:1])
        for m in _TOKEN.finditer(text):
            figure = _figure(text, m, block.start + offset)
            if figure is not None and _bare(figure.text) not in also:
                figure.column = text[: m.start()].count("|") if row else None
                figure.complement = fnr and not (figure.percent or figure.ratio or figure.sign)
                figure.span = m.span()
                found.append(figure)
    return found


def _figure(text: str, m: re.Match, line: int) -> Figure | None:
    start, end = m.span()
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    # Inside a name: a letter, digit, dot or underscore before; a letter after (not a closing x).
    if before.isalnum() or before in "._" or after.isdigit() or after == "_":
        return None
    if after.isalpha() and not (after == "x" and not text[end + 1 : end + 2].isalpha()):
        return None
    sign = False
    if before in SIGNS:
        ahead = text[start - 2] if start >= 2 else " "
        if ahead.isalpha():  # "e-3", "L6-v2", "top-5": a name
            return None
        sign = not (ahead.isdigit() or ahead in ")%")  # "0.30-0.43" is a range
    if m.group("mean"):
        mean, sd = m.group("mean"), m.group("sd")
        value = _number(mean) * (-1 if sign and before in "-−" else 1)
        percent = after == "%"
        return Figure(line, m.group(0), value, _decimals(mean), sign, percent,
                      sd=_number(sd), sd_decimals=_decimals(sd))  # fmt: skip
    if m.group("k"):
        k, n = int(m.group("k")), int(m.group("n"))
        return Figure(line, m.group(0), k / n, 4, fraction=(k, n))
    number = m.group("num")
    value = _number(number) * (-1 if sign and before in "-−" else 1)
    # The first number of a range takes the range's unit: "69-71%", "2.2-2.5x".
    unit = _RANGE_UNIT.match(text, end)
    after = unit.group(1) if unit else after
    return Figure(line, (before if sign else "") + number, value, _decimals(number), sign,
                  percent=after == "%", ratio=after == "x")  # fmt: skip


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


# --- reading the results --------------------------------------------------------------------


_POOLS: dict[tuple[str, str], Pool] = {}


@dataclass
class Spec:
    sources: list[tuple[str, list[str]]]  # (results file, its parts)
    also: set[str]
    none: str | None = None  # the reason, for a block of settings
    derive: list[tuple[str, str, str]] = field(default_factory=list)  # (part, op, part)


_DERIVATION = re.compile(r"^\s*(\S+)\s*([-/])\s*(\S+)\s*$")
_AGGREGATE = re.compile(r"^\s*(max|min)\s+(\S+)\s*$")


def parse_spec(spec: str) -> Spec:
    """A marker's text: `SOURCES [| also: N ...] [| derive: A - B; C / D]`, or `none: REASON`."""
    if spec.startswith("none"):
        return Spec([], set(), spec.partition(":")[2].strip() or "settings")
    head, *options = spec.split("|")
    sources = [(w[0], w[1:]) for w in (shlex.split(s) for s in head.split(";")) if w]
    out = Spec(sources, set())
    for option in options:
        name, _, value = option.partition(":")
        if name.strip() == "also":
            out.also = {_bare(t) for t in value.split()}
        elif name.strip() == "derive":
            for item in value.split(";"):
                match = _DERIVATION.match(item) or _AGGREGATE.match(item)
                if not match:
                    raise ValueError(f"derive: not A - B, A / B, max A or min A: {item!r}")
                groups = match.groups()
                out.derive.append(groups if len(groups) == 3 else (groups[1], groups[0], ""))
        else:
            raise ValueError(f"unknown marker option {name.strip()!r}")
    return out


def _plain(path: str) -> str:
    """A derive: part without its "*" and slice: where its values sit in the file."""
    return path.partition("[")[0].partition("*")[0].strip("/")


def _series_at(data, path: str):
    """A part of the file; "*" takes every child (a list of them); a final "[a:b]" slices."""
    path, _, cut = path.partition("[")
    if "*" in path:
        head, _, tail = path.partition("*")
        node = subtree(data, head.strip("/"))
        children = node.values() if isinstance(node, dict) else node
        value = [_series_at(child, tail.strip("/")) for child in children]
    else:
        value = subtree(data, path)
    if cut:
        start, _, stop = cut.rstrip("]").partition(":")
        value = value[int(start or 0) : int(stop) if stop else None]
    return value


def derivations(data, derive: list[tuple[str, str, str]], root: str = "#") -> Pool:
    """The values a marker's `derive:` names: A - B or A / B (and A / B - 1) of two parts of the
    first source file, element by element for two series of one length, and of their means;
    `max A` or `min A` over the children a "*" in A takes, element by element, and their mean
    and sd."""
    pool = Pool()
    for left, op, right in derive:
        if op in ("max", "min"):
            columns = list(zip(*_series_at(data, left), strict=True))
            pick = max if op == "max" else min
            series = [pick(v for v in column if v is not None) for column in columns]
            where = _join(f"{root}##", _plain(left))
            for value in series:
                pool.add(value, where)
            if len(series) >= 2:
                mean, sd = statistics.mean(series), statistics.stdev(series)
                pool.add(mean, where)
                pool.add(sd, where)
                pool.pairs.append((mean, sd, where))
            continue
        a, b = _series_at(data, left), _series_at(data, right)
        pairs = []
        if isinstance(a, list) and isinstance(b, list):
            pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
            if len(pairs) >= 2:
                pairs.append((statistics.mean(p[0] for p in pairs),
                              statistics.mean(p[1] for p in pairs)))  # fmt: skip
        elif isinstance(a, list):
            pairs = [(x, b) for x in a if x is not None]
        elif isinstance(b, list):
            pairs = [(a, y) for y in b if y is not None]
        else:
            pairs = [(a, b)]
        results = []
        for x, y in pairs:
            if op == "-":
                results.append(x - y)
            elif y:
                results += [x / y, x / y - 1]
        ratios = [x / y - 1 for x, y in pairs[:-1] if y] if op == "/" and len(pairs) > 2 else []
        if len(ratios) >= 2:  # the mean of the element-wise relative changes
            results += [statistics.mean(ratios), statistics.mean(ratios) + 1]
        where = _join(f"{root}##", _plain(left))
        for value in results:
            pool.add(value, where)
        series = [x - y for x, y in pairs[:-1]] if op == "-" and len(pairs) > 2 else []
        if len(series) >= 2:
            pool.pairs.append((statistics.mean(series), statistics.stdev(series), where))
    return pool.finish()


def _bare(text: str) -> str:
    """A number as `also` lists it and as a figure shows it: no sign, % or x."""
    return text.strip().lstrip(SIGNS).rstrip("%x")


def subtree(data, part: str):
    node = data
    for key in part.split("/") if part else []:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            raise KeyError(part)
    return node


def provenance_problems(data, part: str) -> list[str]:
    """Where the part lacks a provenance stamp: on it or above it, or else on each entry with
    numbers inside it (each entry, or each of its own entries, and so on)."""
    node, keys = data, part.split("/") if part else []
    for key in [None, *keys]:
        if key is not None:
            node = node[key] if isinstance(node, dict) else node[int(key)]
        if _stamped(node):
            return []
    if _covered(node):
        return []
    return [f"no provenance (command, commit, date) for {part or 'the whole file'}"]


def _covered(node) -> bool:
    if _stamped(node):
        return True
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    entries = [c for c in children if isinstance(c, dict | list) and _has_numbers(c)]
    return bool(entries) and all(_covered(c) for c in entries)


def _stamped(node) -> bool:
    stamp = node.get("provenance") if isinstance(node, dict) else None
    return isinstance(stamp, dict) and all(stamp.get(k) for k in ("command", "commit", "date"))


def _has_numbers(node) -> bool:
    if isinstance(node, dict):
        return any(_has_numbers(v) for k, v in node.items() if k != "provenance")
    if isinstance(node, list):
        return any(_has_numbers(v) for v in node)
    return isinstance(node, int | float) and not isinstance(node, bool)


def pool_of(path: str, part: str) -> Pool:
    key = (path, part)
    if key not in _POOLS:
        data = json.loads((ROOT / path).read_text())
        pool = Pool()
        _collect(subtree(data, part), pool, f"{path}#{part}#")
        _POOLS[key] = pool.finish()
    return _POOLS[key]


_SEED = re.compile(r"\bseed\s*\d+")
_STRING_NUMBER = re.compile(r"(?<![\w.])[-−]?" + NUM + r"(?![\d])")
_STRING_FRACTION = re.compile(r"(?<![\w./])(\d+)/(\d+)(?![\d/])")
_WHOLE_FRACTION = re.compile(r"^(\d+)/(\d+)$")


def _collect(node, pool: Pool, path: str, depth: int = 0) -> None:
    if isinstance(node, bool) or node is None:
        return
    if isinstance(node, int | float):
        pool.add(node, path)
        return
    if isinstance(node, str):
        _strings(node, pool, path)
        return
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "provenance":
                continue
            _strings(str(key), pool, _join(path, key))
            _collect(value, pool, _join(path, key), depth + 1)
        if isinstance(node.get("mean"), int | float) and isinstance(node.get("sd"), int | float):
            pool.pairs.append((float(node["mean"]), float(node["sd"]), path))
        if isinstance(node.get("k"), int) and isinstance(node.get("n"), int):
            pool.add_fraction(node["k"], node["n"], path)
        children = [v for k, v in node.items() if k != "provenance"]
        # Entries that differ only by their seed ("... seed 1", "... seed 2") form a series too.
        by_seed: dict[str, list] = {}
        for key, value in node.items():
            if isinstance(value, dict) and _SEED.search(str(key)):
                by_seed.setdefault(_SEED.sub("seed *", str(key)), []).append(value)
        for name, group in by_seed.items():
            if len(group) >= 2:
                _series(group, pool, _join(path, name), depth + 1)
    else:
        for i, value in enumerate(node):
            _collect(value, pool, _join(path, i), depth + 1)
        children = list(node)
        pool.add(len(node), path)
        if node and all(isinstance(v, bool) for v in node):  # blessed on 2 of 3 seeds: "2/3"
            pool.add_fraction(sum(node), len(node), path)
    _series(children, pool, path, depth)


def _join(path: str, key) -> str:
    """A path in a pool: "FILE#PART#key/key" (the part's root ends in "#")."""
    return f"{path}{key}" if path.endswith("#") else f"{path}/{key}"


def _entries(path: str) -> list[str]:
    """The entries a path lies in, below its part's root: "F#P#a", "F#P#a/b", ...; an entry
    named for a seed also lies in its seed group ("... seed *")."""
    root, _, tail = path.rpartition("#")
    keys = tail.split("/") if tail else []
    out = [f"{root}#{'/'.join(keys[: i + 1])}" for i in range(len(keys))]
    grouped = [_SEED.sub("seed *", k) for k in keys]
    if grouped != keys:
        out += [f"{root}#{'/'.join(grouped[: i + 1])}" for i in range(len(keys))]
    return out


def locality(
    rows: dict[int, list[tuple[Figure, list[str]]]], lines: dict[int, str], accept
) -> list[str]:
    """A table's figures must come from its entries. Each row (of two figures or more) has
    entries holding all its figures; in a table whose rows quote one entry each (a method, a
    setting, a seed), the deepest of them lie at about one depth, which three rows in four reach.
    A row whose figures meet only higher up (or in no entry below the part, where most rows
    meet in one) has a figure from elsewhere: each figure not in the entry, at that depth, that holds most of its row is
    reported. The same holds for
    the cells that list figures alone ("0.079 / 0.150 / 0.083"), in a table with an entry per
    column. A figure derived from others of its row (`accept`) may be elsewhere."""
    units = [r for r in rows.values() if len(r) >= 2]
    cells = []
    for row in rows.values():
        by_column: dict[int, list] = {}
        for figure, paths in row:
            by_column.setdefault(figure.column, []).append((figure, paths))
        for column, cell in by_column.items():
            text = lines[cell[0][0].line].split("|")[column] if column is not None else ""
            if len(cell) >= 2 and _LISTED.match(_TOKEN.sub("", text)):
                cells.append(cell)
    out: list[str] = []
    for group, kind in ((units, "row"), (cells, "cell")):
        depths = [_full_depth(u) for u in group]
        if len(group) < 2:
            continue
        typical = sorted(depths)[len(depths) // 4]  # the lower quartile: most rows reach it
        if statistics.median_high(depths) >= 1:
            typical = max(typical, 1)  # figures that meet in no entry below the part
        for unit, depth in zip(group, depths, strict=True):
            if depth >= typical:
                continue
            entry, strays = _strays(unit, typical)
            if not entry and not all(accept(f) for f, _ in unit):
                shown = ", ".join(_shown(f) for f, _ in unit)
                out.append(f"{unit[0][0].line}: {shown}: the {kind}'s figures share no entry")
            out += [_stray(f, entry, kind) for f in strays if not accept(f)]
    return sorted(set(out), key=lambda line: int(line.split(":")[0]))


def _depth(entry: str) -> int:
    """How deep an entry lies below its part: its keys, not counting the "*" of a series."""
    return sum(1 for key in entry.rpartition("#")[2].split("/") if key != "*")


def _coverage(unit: list[tuple[Figure, list[str]]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, paths in unit:
        for entry in {e for p in paths for e in _entries(p)}:
            counts[entry] = counts.get(entry, 0) + 1
    return counts


def _full_depth(unit: list[tuple[Figure, list[str]]]) -> int:
    """The depth of the deepest entry holding every figure of the unit (0: only the part)."""
    return max((_depth(e) for e, n in _coverage(unit).items() if n == len(unit)), default=0)


def _strays(unit: list[tuple[Figure, list[str]]], depth: int) -> tuple[str, list[Figure]]:
    """The entry at `depth` or deeper holding most of the unit, and the figures not in it."""
    counts = {e: n for e, n in _coverage(unit).items() if _depth(e) >= depth}
    if not counts:
        return "", []
    best = max(counts, key=lambda e: (counts[e], _depth(e)))
    if counts[best] < 2 or counts[best] * 2 < len(unit):
        return "", []
    return best, [f for f, paths in unit if not any(best in _entries(p) for p in paths)]


_LISTED = re.compile(r"^[\s/,;±%x*()+-]*$")


def _stray(figure: Figure, entry: str, where: str) -> str:
    file, _, inside = entry.partition("#")
    return (f"{figure.line}: {_shown(figure)} is in {file}, but not in {inside.replace('#', ' ', 1)}"
            f", the entry the rest of its {where} comes from")  # fmt: skip


def _numeric(value) -> float | None:
    """A number, or a count "k/n" as its fraction."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        match = _WHOLE_FRACTION.match(value)
        if match and int(match.group(2)):
            return int(match.group(1)) / int(match.group(2))
    return None


def _series(children: list, pool: Pool, path: str, depth: int) -> None:
    """Means and sds of a list of numbers, and of each key across a list of entries (kept at
    the path of the entry that holds them)."""
    numbers = [n for n in map(_numeric, children) if n is not None]
    if len(numbers) >= 2 and len(numbers) >= len([c for c in children if c is not None]):
        mean, sd = statistics.mean(numbers), statistics.stdev(numbers)
        for value in (mean, sd, sum(numbers)):
            pool.add(value, path)
        pool.pairs.append((mean, sd, path))
    entries = [c for c in children if isinstance(c, dict)]
    if len(entries) < 2 or depth > 12:
        return
    keys = dict.fromkeys(k for e in entries for k in e if k != "provenance")
    for key in keys:
        across = [e[key] for e in entries if key in e]
        if len(across) < 2:
            continue
        if all(isinstance(v, dict) for v in across) or any(_numeric(v) is not None for v in across):
            _series(across, pool, _join(path, f"*/{key}"), depth + 1)


def _strings(text: str, pool: Pool, path: str) -> None:
    for m in _STRING_NUMBER.finditer(text):
        pool.add(float(m.group(0).replace(",", "").replace("−", "-")), path)
    for m in _STRING_FRACTION.finditer(text):
        pool.add_fraction(int(m.group(1)), int(m.group(2)), path)
    value = _numeric(text)
    if value is not None:  # "59/707": the rate it counts
        pool.add(value, path)


# --- matching -------------------------------------------------------------------------------


def _tolerance(decimals: int) -> float:
    return 0.5 * 10.0**-decimals * (1 + 1e-9) + 1e-12


def hits(figure: Figure, pool: Pool) -> list[tuple[float, str]]:
    """Every (value, path) of the pool the figure shows: the closest first."""
    if figure.fraction is not None:
        k, n = figure.fraction
        exact = [(k / n, p) for p in pool.fractions.get(figure.fraction, [])]
        return exact + pool.near(k / n, 5e-5)
    if figure.sd is not None:
        tol, sd_tol = _tolerance(figure.decimals), _tolerance(figure.sd_decimals)
        return [(mean, path) for mean, sd, path in pool.pairs
                for scale in ((100.0, 1.0) if figure.percent else (1.0,))
                if abs(mean * scale - figure.value) <= tol
                and abs(sd * scale - figure.sd) <= sd_tol]  # fmt: skip
    tol = _tolerance(figure.decimals)
    # A change may be shown without its sign: "cuts by 81.5%" is a change of -81.5%.
    candidates = [figure.value] + ([-figure.value] if figure.sign or figure.percent else [])
    if figure.complement and 0 <= figure.value <= 1 and figure.decimals >= 2:
        candidates.append(1 - figure.value)  # a rate's complement: FNR as 1 - TPR
    out: list[tuple[float, str]] = []
    for value in candidates:
        near = pool.near(value, tol)
        if figure.percent:
            near += [(v, p) for v, p in pool.near(value / 100, tol / 100)]
        out += sorted(near, key=lambda vp, x=value: min(abs(vp[0] - x), abs(vp[0] * 100 - x)))
    return out


def found(figure: Figure, pool: Pool) -> float | None:
    """The file's value the figure shows (the closest), or None."""
    matches = hits(figure, pool)
    return matches[0][0] if matches else None


def derived(figure: Figure, pairs) -> bool:
    """Whether the figure is a change or a ratio of a pair of figures near it (each operand as
    (shown value, file's value)): a ratio for "1.04x", a relative change or a share for a
    percentage, a difference otherwise."""
    tol = _tolerance(figure.decimals)
    target = abs(figure.value)
    for (a_shown, a), (b_shown, b) in pairs:
        for x, y in ((a, b), (a_shown, b_shown), (b, a), (b_shown, a_shown)):
            if figure.ratio:
                results = [x / y] if y else []
            elif figure.percent:
                results = [abs(x / y - 1) * 100, x / y * 100] if y else []
            else:
                results = [abs(x - y)]
            if any(abs(r - target) <= tol for r in results):
                return True
    return False


def _pairs(figure: Figure, operands: list[tuple[Figure, float]], references: set[int]) -> list:
    """The pairs a derived figure may come from. In prose: any two figures within two lines of
    it (a sentence wraps). In a table: two cells of its row, a cell of its row and the same
    column's cell in a reference row (the first row, or one naming a baseline or control), or a
    cell of its row and a figure of the header."""
    if figure.column is None:
        near = [(abs(f.value), v) for f, v in operands if abs(f.line - figure.line) <= 2]
        return [(a, b) for i, a in enumerate(near) for b in near[i + 1 :]]
    row = [(f, v) for f, v in operands if f.line == figure.line]
    pairs = [((abs(a.value), x), (abs(b.value), y))
             for i, (a, x) in enumerate(row) for b, y in row[i + 1 :]]  # fmt: skip
    header = min((f.line for f, _ in operands), default=None)
    for f, v in row:
        # The same column of a reference row, or any figure of the header ("against X (0.388)").
        pairs += [((abs(f.value), v), (abs(r.value), w)) for r, w in operands
                  if r.line != f.line and (r.line == header or
                                           (r.line in references and r.column == f.column))]  # fmt: skip
    return pairs


def _references(block: Block) -> set[int]:
    """The reference rows of a table block: the first data row, and rows naming a baseline,
    a control or none."""
    rows = [(block.start + i, line) for i, line in enumerate(block.lines)
            if line.lstrip().startswith("|") and not re.match(r"^\s*\|[\s:|-]+\|\s*$", line)]  # fmt: skip
    out = {rows[1][0]} if len(rows) > 1 else set()
    first_cell = re.compile(r"^\s*\|[^|]*\b(baseline|control|none)\b", re.IGNORECASE)
    return out | {n for n, line in rows[1:] if first_cell.match(line)}


# --- the check ------------------------------------------------------------------------------


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    markers: int = 0
    none_markers: int = 0
    checked: int = 0
    matched: int = 0
    derived: int = 0
    sources: set[str] = field(default_factory=set)
    explain: list[str] | None = None


def check_file(path: Path, report: Report, text: str | None = None) -> None:
    """Check every block of a Markdown file (or of `text`, read as that file)."""
    relative = path.relative_to(ROOT) if path.is_absolute() else path
    require = str(relative) in MARKED_FILES
    for block in blocks(path, text):
        check_block(relative, block, report, require)


def check_block(relative: Path, block: Block, report: Report, require: bool = True) -> None:
    """Check one block: its marker, and each figure against the parts it names."""
    if block.spec is None:
        if require and looks_like_figures(block):
            report.problems.append(f"{relative}:{block.start}: figures with no source marker")
        return
    report.markers += 1
    where = f"{relative}:{block.marker_line}"
    try:
        spec = parse_spec(block.spec)
    except ValueError as error:
        report.problems.append(f"{where}: {error}")
        return
    sources, also = spec.sources, spec.also
    if spec.none is not None:
        report.none_markers += 1
        return
    pools = []
    for file, parts in sources:
        if not (ROOT / file).is_file():
            report.problems.append(f"{where}: no results file {file}")
            continue
        data = json.loads((ROOT / file).read_text())
        for part in parts or [""]:
            try:
                subtree(data, part)
            except KeyError:
                report.problems.append(f"{where}: {file} has no part {part!r}")
                continue
            report.problems += [f"{where}: {file}: {p}" for p in provenance_problems(data, part)]
            pools.append(pool_of(file, part))
            report.sources.add(f"{file} {part}".strip())
    if spec.derive and sources and (ROOT / sources[0][0]).is_file():
        try:
            data = json.loads((ROOT / sources[0][0]).read_text())
            pools.append(derivations(data, spec.derive, sources[0][0]))
        except (KeyError, TypeError, ValueError) as error:
            report.problems.append(f"{where}: derive: {error}")
    if not pools:
        return
    figures = figures_of(block, also)
    operands, missing = [], []
    rows: dict[int, list[tuple[Figure, list[str]]]] = {}
    for figure in figures:
        report.checked += 1
        value = next((v for v in (found(figure, p) for p in pools) if v is not None), None)
        if figure.ratio:  # a ratio is derived first: "0.80x" is no rate of 0.8
            missing.append(figure)
            continue
        if value is None:
            missing.append(figure)
        else:
            report.matched += 1
            operands.append((figure, abs(value)))
            if figure.column is not None:
                paths = [path for pool in pools for _, path in hits(figure, pool)]
                if len(paths) <= MANY:  # a figure found all over the file tells no entry apart
                    rows.setdefault(figure.line, []).append((figure, paths))
            if report.explain is not None:
                report.explain.append(f"{relative}:{figure.line}: {_shown(figure)} = {value!r}")
    references = _references(block)
    lines = {block.start + i: line for i, line in enumerate(block.lines)}

    def accept(figure: Figure) -> bool:
        return derived(figure, _pairs(figure, operands, references))

    report.problems += [f"{relative}:{line}" for line in locality(rows, lines, accept)]
    for figure in missing:
        pairs = _pairs(figure, operands, references)
        if figure.ratio and not derived(figure, pairs):
            value = next((v for v in (found(figure, p) for p in pools) if v is not None), None)
            if value is not None:
                report.matched += 1
                continue
        if derived(figure, pairs):
            report.derived += 1
            if report.explain is not None:
                report.explain.append(f"{relative}:{figure.line}: {_shown(figure)} derived")
            continue
        names = "; ".join(f"{f} {' '.join(p)}".strip() for f, p in sources)
        report.problems.append(f"{relative}:{figure.line}: {figure.text} not in {names}")


def _shown(figure: Figure) -> str:
    sd = f" ± {figure.sd}" if figure.sd is not None else ""
    return f"{figure.text}{'%' if figure.percent else ''}{'x' if figure.ratio else ''}{sd}"


def looks_like_figures(block: Block) -> bool:
    """Numbers with two or more decimals, a "±", or a table with a numeric cell."""
    for figure in figures_of(block):
        if figure.sd is not None or figure.decimals >= 2:
            return True
    table = [line for line in block.lines if line.lstrip().startswith("|")]
    cell = re.compile(r"^\s*\**[-+−]?\d[\d,.]*\s*(?:%|x|s)?\**\s*$")
    return any(cell.match(c) for line in table for c in line.strip().strip("|").split("|"))


def markdown_files(names: list[str]) -> list[Path]:
    paths: list[Path] = []
    for name in names or DEFAULT_FILES:
        paths += sorted(ROOT.glob(name)) if any(c in name for c in "*?[") else [ROOT / name]
    return paths


def find(value: str, file: str) -> list[str]:
    """Where a number shown as `value` is in a results file: the JSON paths, for annotating."""
    data = json.loads((ROOT / file).read_text())
    bare = value.rstrip("%").replace(",", "")
    target, tol = float(bare), _tolerance(_decimals(bare))
    scale = 100.0 if value.endswith("%") else 1.0
    out = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}/{k}" if path else str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}/{i}")
            numbers = [v for v in node if isinstance(v, int | float) and not isinstance(v, bool)]
            if len(numbers) >= 2 and abs(statistics.mean(numbers) * scale - target) <= tol:
                out.append(f"{path} (mean)")
        elif isinstance(node, int | float) and not isinstance(node, bool):
            if abs(node * scale - target) <= tol:
                out.append(path)

    walk(data, "")
    return out


def sensitivity(paths: list[Path], every: int = 1) -> dict[str, dict[str, int]]:
    """How many single-digit changes the check reports: each figure of every marked block (or
    every `every`-th one), its last digit raised by 3 (mod 10), the block checked again. Per
    kind of figure ("m ± s" pairs, other figures in tables, in prose): {"tried", "reported"}."""
    out: dict[str, dict[str, int]] = {}
    for path in paths:
        relative = path.relative_to(ROOT) if path.is_absolute() else path
        for block in blocks(path):
            if block.spec is None or block.spec.startswith("none"):
                continue
            base = Report()
            check_block(relative, block, base)
            for n, figure in enumerate(figures_of(block, parse_spec(block.spec).also)):
                if n % every:
                    continue
                i, (a, b) = figure.line - block.start, figure.span
                token = block.lines[i][a:b]
                shown = re.split(r"±|\+-", token)[0].rstrip()
                digit = re.search(r"\d(?=\D*$)", shown)
                changed = (token[: digit.start()] + str((int(digit.group(0)) + 3) % 10)
                           + token[digit.end():])  # fmt: skip
                lines = list(block.lines)
                lines[i] = lines[i][:a] + changed + lines[i][b:]
                report = Report()
                check_block(relative, Block(path, block.start, lines, block.spec,
                                            block.marker_line), report)  # fmt: skip
                kind = ("mean_sd" if figure.sd is not None
                        else "table" if figure.column is not None else "prose")  # fmt: skip
                tally = out.setdefault(kind, {"tried": 0, "reported": 0})
                tally["tried"] += 1
                tally["reported"] += len(report.problems) > len(base.problems)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="Markdown files (default: README.md docs/*.md)")
    parser.add_argument("--find", nargs=2, metavar=("VALUE", "RESULTS_FILE"),
                        help="print where a number is in a results file, and exit")  # fmt: skip
    parser.add_argument("--explain", action="store_true",
                        help="also print each figure found and the file's value")  # fmt: skip
    parser.add_argument("--sensitivity", type=int, metavar="EVERY", default=0,
                        help="change the last digit of every EVERY-th figure and print how "
                             "many changes the check reports, and exit")  # fmt: skip
    parser.add_argument("--results", type=Path, default=None,
                        help="with --sensitivity: write the counts, stamped, to this file")  # fmt: skip
    args = parser.parse_args(argv)
    if args.sensitivity:
        result = sensitivity(markdown_files(args.files), args.sensitivity)
        for kind, tally in result.items():
            print(f"{kind}: {tally['reported']} of {tally['tried']} changed figures reported")
        if args.results:
            sys.path.insert(0, str(ROOT))
            from bench.provenance import stamp

            stamped = {"provenance": stamp("bench/check_figures.py", argv),
                       "every": args.sensitivity, "change": "last digit + 3 (mod 10)", **result}  # fmt: skip
            args.results.write_text(json.dumps(stamped, indent=2) + "\n")
        return 0
    if args.find:
        print("\n".join(find(*args.find)) or "not found")
        return 0
    report = Report(explain=[] if args.explain else None)
    for path in markdown_files(args.files):
        check_file(path, report)
    for line in report.explain or []:
        print(line)
    for problem in report.problems:
        print(problem)
    print(
        f"{report.markers} marked blocks ({report.none_markers} of settings), "
        f"{len(report.sources)} results parts, {report.checked} figures checked: "
        f"{report.matched} found, {report.derived} derived from them, "
        f"{len(report.problems)} problems",
        file=sys.stderr,
    )
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""Several runs side by side, as the benchmarks' leaderboards show models: one row per run,
each installed benchmark's columns (``Benchmark.report``: MultiTrust's overall score and ten
sub-aspects, MLLMGuard's ASD and PAR), ranked by the first of them (pure, no pytest)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from pytest_mllmtrust.core.benchmarks import installed
from pytest_mllmtrust.reporting.html import verdict_of
from pytest_mllmtrust.reporting.layout import Column, layout_of


def _columns_of(results: Mapping[str, Any]) -> dict[str, Column]:
    """Every installed benchmark's columns of one run, in benchmark order."""
    out: dict[str, Column] = {}
    for benchmark in installed():
        out.update(layout_of(benchmark).columns(results))
    return out


def leaderboard(runs: Sequence[tuple[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """One row per (label, results). Only runs that measured the same thing are ranked (best
    first on the first column, MultiTrust's overall): the same tasks on the same number of
    samples as the run that evaluated the most. The others follow, unranked, with the
    reason."""
    rows: list[dict[str, Any]] = []
    for label, results in runs:
        columns = _columns_of(results)
        coverage = _coverage(results)
        rows.append({
            "label": label, "scores": {c: v.value for c, v in columns.items()},
            "partial": {c for c, v in columns.items() if v.partial},
            "charted": [c for c, v in columns.items() if v.charted], "coverage": coverage,
            "samples": sum(n for _, n in coverage), "gate": verdict_of(results.get("gate", {})),
            "rank": None, "note": "",
        })  # fmt: skip
    if not rows:
        return rows
    reference = max(rows, key=lambda r: r["samples"])

    def best_first(row: Mapping[str, Any]) -> float:
        first = next(iter(row["scores"].values()), math.nan)
        return math.inf if math.isnan(first) else -first

    ranked = sorted((r for r in rows if r["coverage"] == reference["coverage"]), key=best_first)
    for position, row in enumerate(ranked, 1):
        row["rank"] = position
    others = [r for r in rows if r["rank"] is None]
    for row in others:
        row["note"] = _difference(row, reference)
    return ranked + others


def _coverage(results: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    """What a run measured: each task and how many of its samples were evaluated."""
    tasks = results.get("tasks") or {}
    return tuple(sorted((t, sum((e.get("counts") or {}).values())) for t, e in tasks.items()))


def _difference(row: Mapping[str, Any], reference: Mapping[str, Any]) -> str:
    mine, theirs = dict(row["coverage"]), dict(reference["coverage"])
    missing = sorted(set(theirs) - set(mine))
    fewer = sorted(t for t in theirs if t in mine and mine[t] != theirs[t])
    parts = [f"{row['samples']} samples evaluated, the ranked runs {reference['samples']}"]
    if missing:
        parts.append(f"tasks not run: {', '.join(missing)}")
    if fewer:
        parts.append(f"other sample counts in: {', '.join(fewer)}")
    if set(mine) - set(theirs):
        parts.append(f"other tasks: {', '.join(sorted(set(mine) - set(theirs)))}")
    return "; ".join(parts)


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The columns any run has a value in."""
    names = rows[0]["scores"] if rows else []
    return [c for c in names if any(not math.isnan(r["scores"][c]) for r in rows)]


def _cell(row: Mapping[str, Any], column: str) -> str:
    value = row["scores"][column]
    if math.isnan(value):
        return "-"
    return f"{value:.2f}" + ("*" if column in row["partial"] else "")


_GATE = {"passed": "passed", "failed": "FAILED", "no score thresholds set": "no thresholds"}


def terminal_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    columns = _columns(rows)
    width = max([len("run"), *(len(r["label"]) for r in rows)])
    head = f"{'rank':>4}  {'run':<{width}}  {'samples':>7}  " + " ".join(f"{c:>7}" for c in columns)
    lines = [head + "  gate"]
    for row in rows:
        cells = " ".join(f"{_cell(row, c):>7}" for c in columns)
        rank = str(row["rank"]) if row["rank"] else "-"
        gate = _GATE.get(row["gate"], row["gate"])
        lines.append(f"{rank:>4}  {row['label']:<{width}}  {row['samples']:>7}  {cells}  {gate}")
    if any(row["partial"] for row in rows):
        lines.append("* partial: not every task or variant of this score ran")
    lines += [f"not ranked: {row['label']}: {row['note']}" for row in rows if row["note"]]
    return lines


def html_page(rows: Sequence[Mapping[str, Any]]) -> str:
    """A self-contained page: the table, and a chart of the columns on 0-100 per run."""
    from pytest_mllmtrust.reporting import charts

    columns = _columns(rows)
    head = "".join(f"<th>{escape(c)}</th>" for c in ["rank", "run", "samples", *columns, "gate"])
    body = "".join(
        f"<tr><td>{row['rank'] or '-'}</td><td>{escape(row['label'])}</td>"
        f'<td class="num">{row["samples"]}</td>'
        + "".join(f'<td class="num">{_cell(row, c)}</td>' for c in columns)
        + f"<td>{escape(_GATE.get(row['gate'], row['gate']))}</td></tr>"
        for row in rows
    )
    notes = "".join(
        f"<li>not ranked: {escape(row['label'])}: {escape(row['note'])}</li>"
        for row in rows
        if row["note"]
    )
    bars = [c for c in columns if c in rows[0]["charted"]]
    chart = charts.grouped_bars(
        [row["label"] for row in rows], bars, [[row["scores"][c] for c in bars] for row in rows]
    ) if bars else ""  # fmt: skip
    legends = [layout_of(b).legend for b in installed()]
    legend = "; ".join(text for text in legends if text)
    legend += ". " if legend else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Trust comparison'
        "</title><style>body{font:14px system-ui,sans-serif;margin:1.5rem auto;max-width:1200px}"
        "table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem}"
        "td.num{text-align:right;font-variant-numeric:tabular-nums}</style></head><body>"
        f"<h1>Trust comparison</h1><p>{escape(legend)}* partial: not every task or variant of "
        f"the score ran.</p><table><tr>{head}</tr>{body}</table><ul>{notes}</ul>"
        f"<div>{chart}</div></body></html>"
    )

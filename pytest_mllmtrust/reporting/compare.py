"""Several runs side by side, as the benchmarks' leaderboards show models: one row per run,
MultiTrust's overall score and ten sub-aspects, MLLMGuard's ASD and PAR (pure, no pytest)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from pytest_mllmtrust.core.aggregate import MULTITRUST_SUBASPECTS

MULTITRUST_COLUMNS = ("overall", *MULTITRUST_SUBASPECTS)
GUARD_COLUMNS = ("ASD %", "PAR %")


def _value(entry: Mapping[str, Any] | None, field: str = "score") -> float:
    value = None if entry is None else entry.get(field)
    return math.nan if value is None else float(value)


def leaderboard(runs: Sequence[tuple[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """One row per (label, results), best MultiTrust overall first (runs without it last)."""
    rows = []
    for label, results in runs:
        scores = {"overall": _value(results.get("overall"))}
        scores |= {s: _value(results.get("subaspects", {}).get(s)) for s in MULTITRUST_SUBASPECTS}
        guard = (results.get("mllmguard") or {}).get("overall")
        scores["ASD %"] = 100 * _value(guard, "asd")
        scores["PAR %"] = 100 * _value(guard, "par")
        rows.append(
            {"label": label, "scores": scores, "gate": results.get("gate", {}).get("passed")}
        )
    rows.sort(key=lambda r: -r["scores"]["overall"] if not math.isnan(r["scores"]["overall"])
              else math.inf)  # fmt: skip
    return rows


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The columns any run has a value in."""
    names = [*MULTITRUST_COLUMNS, *GUARD_COLUMNS]
    return [c for c in names if any(not math.isnan(r["scores"][c]) for r in rows)]


def _cell(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def terminal_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    columns = _columns(rows)
    width = max([len("run"), *(len(r["label"]) for r in rows)])
    lines = [f"{'run':<{width}}  " + " ".join(f"{c:>7}" for c in columns) + "  gate"]
    for row in rows:
        cells = " ".join(f"{_cell(row['scores'][c]):>7}" for c in columns)
        gate = {True: "passed", False: "FAILED", None: "-"}[row["gate"]]
        lines.append(f"{row['label']:<{width}}  {cells}  {gate}")
    return lines


def html_page(rows: Sequence[Mapping[str, Any]]) -> str:
    """A self-contained page: the table, and a chart of the MultiTrust columns per run."""
    from pytest_mllmtrust.reporting import charts

    columns = _columns(rows)
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        f"<tr><td>{escape(row['label'])}</td>"
        + "".join(f'<td class="num">{_cell(row["scores"][c])}</td>' for c in columns)
        + "</tr>"
        for row in rows
    )
    bars = [c for c in columns if c in MULTITRUST_COLUMNS]
    chart = charts.grouped_bars(
        [row["label"] for row in rows], bars, [[row["scores"][c] for c in bars] for row in rows]
    ) if bars else ""  # fmt: skip
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Trust comparison'
        "</title><style>body{font:14px system-ui,sans-serif;margin:1.5rem auto;max-width:1200px}"
        "table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem}"
        "td.num{text-align:right;font-variant-numeric:tabular-nums}</style></head><body>"
        "<h1>Trust comparison</h1><p>MultiTrust on 0-100 (higher is better); MLLMGuard ASD "
        f"(lower is better) and PAR in %.</p><table><tr><th>run</th>{head}</tr>{body}</table>"
        f"<div>{chart}</div></body></html>"
    )

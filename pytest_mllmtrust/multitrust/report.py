"""MultiTrust's pyramid in the reports: overall, then each dimension with its sub-aspects and
their tasks, on 0-100 (``Benchmark.report``; the frame is ``pytest_mllmtrust.reporting``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pytest_mllmtrust.core.benchmarks import Board
from pytest_mllmtrust.multitrust.scores import DIMENSIONS, SUBASPECTS, MultiTrustBoard
from pytest_mllmtrust.reporting.layout import (
    BoardLayout,
    Cell,
    Column,
    Row,
    Section,
    html_score,
    interval_of,
    number,
    partial_mark,
    score_text,
)

#: the comparison's columns: overall and the ten sub-aspects
COLUMNS = ("overall", *SUBASPECTS)


class MultiTrustLayout(BoardLayout):
    legend = "MultiTrust on 0-100 (higher is better)"

    def terminal_lines(self, board: Board | None) -> Iterator[str]:
        assert isinstance(board, MultiTrustBoard)
        if board.overall is not None:
            yield f"{'score':>6}  {'':<3} item"
            overall = board.overall
            yield f"{score_text(overall.value)}  {partial_mark(overall.missing)} MultiTrust overall"
        for dim, subs in DIMENSIONS.items():
            if dim not in board.dimensions:
                continue
            agg = board.dimensions[dim]
            yield f"{score_text(agg.value)}  {partial_mark(agg.missing)} {dim}"
            for sub in subs:
                if sub not in board.subaspects:
                    continue
                sagg = board.subaspects[sub]
                yield f"{score_text(sagg.value)}  {partial_mark(sagg.missing)}   {sub}"
                for task in SUBASPECTS[sub]:
                    if task in board.tasks:
                        ts = board.tasks[task]
                        ran = ts.subset or f"{sum(ts.counts.values())} samples"
                        mark = partial_mark(() if ts.complete else (task,))
                        yield f"{score_text(ts.score)}  {mark}     {task}  ({ran})"

    def complete(self, board: Board | None) -> bool:
        # the dimensions shown: the overall score lacks every dimension that did not run
        assert isinstance(board, MultiTrustBoard)
        return all(a.complete for a in board.dimensions.values())

    def headline(self, board: Board | None) -> str | None:
        assert isinstance(board, MultiTrustBoard)
        if board.overall is None:
            return None
        return f"overall {score_text(board.overall.value).strip()}"

    def section(self, results: Mapping[str, Any]) -> Section | None:
        found = []
        if results.get("overall"):
            found.append(("MultiTrust overall", "overall", results["overall"], 0))
        dimensions, subaspects = results.get("dimensions", {}), results.get("subaspects", {})
        for dimension, parts in DIMENSIONS.items():
            if dimension in dimensions:
                found.append((dimension, dimension, dimensions[dimension], 1))
            found += [(s, s, subaspects[s], 2) for s in parts if s in subaspects]
        rows = tuple(
            Row(label, (Cell(html_score(number(agg.get("score")))), _interval(results, key)),
                tuple(agg.get("missing", [])), depth)
            for label, key, agg, depth in found
        )  # fmt: skip
        head = ("score", "0-100", "95% interval")
        return Section("MultiTrust", head, rows) if rows else None

    def charts(self, results: Mapping[str, Any], limits: Mapping[str, float]) -> list[str]:
        from pytest_mllmtrust.reporting import charts

        dimensions = results.get("dimensions", {})
        bars = [(d, number(dimensions[d]["score"]), interval_of(results, d))
                for d in DIMENSIONS if d in dimensions]  # fmt: skip
        return [charts.score_bars(bars, limits, "MultiTrust dimensions (0-100)")] if bars else []

    def columns(self, results: Mapping[str, Any]) -> dict[str, Column]:
        entries = {"overall": results.get("overall"), **results.get("subaspects", {})}
        out = {}
        for column in COLUMNS:
            entry = entries.get(column)
            value = number(entry.get("score")) if isinstance(entry, Mapping) else number(None)
            partial = isinstance(entry, Mapping) and not entry.get("complete", True)
            out[column] = Column(value, partial, charted=True)
        return out


def _interval(results: Mapping[str, Any], key: str) -> Cell:
    found = interval_of(results, key)
    text = "" if found is None else f"{html_score(found[0])} – {html_score(found[1])}"
    return Cell(text, css="num ci")

"""MLLMGuard's board in the reports: ASD (lower is better) and PAR (higher is better) in
percent, overall, per dimension and per language (``Benchmark.report``; the frame is
``pytest_mllmtrust.reporting``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pytest_mllmtrust.core.benchmarks import Board
from pytest_mllmtrust.mllmguard.scores import GuardBoard, GuardScore
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


class GuardLayout(BoardLayout):
    legend = "MLLMGuard ASD (lower is better) and PAR in %"

    def terminal_lines(self, board: Board | None) -> Iterator[str]:
        if board is None:
            return
        assert isinstance(board, GuardBoard)

        def row(score: GuardScore, label: str) -> str:
            asd, par = score_text(100 * score.asd), score_text(100 * score.par)
            return f"{asd}  {par}  {partial_mark(score.missing)} {label}"

        yield f"{'ASD %':>6}  {'PAR %':>6}  {'':<3} MLLMGuard (ASD: lower is better)"
        yield row(board.overall, "MLLMGuard overall")
        for dim, score in board.dimensions.items():
            yield row(score, dim)
            if dim == "truthfulness":
                yield from (row(sub, f"  {name}") for name, sub in board.subtasks.items())
        for lan, table in board.languages.items():
            yield row(table["overall"], f"overall, {lan} only")

    def complete(self, board: Board | None) -> bool:
        return board is None or not isinstance(board, GuardBoard) or not board.overall.missing

    def headline(self, board: Board | None) -> str | None:
        if not isinstance(board, GuardBoard):
            return None
        asd, par = score_text(100 * board.overall.asd), score_text(100 * board.overall.par)
        return f"MLLMGuard ASD {asd.strip()}% PAR {par.strip()}%"

    def section(self, results: Mapping[str, Any]) -> Section | None:
        board = results.get("mllmguard")
        if not board:
            return None
        found = [("MLLMGuard overall", "", board["overall"])]
        for dimension, score in board["dimensions"].items():
            found.append((dimension, dimension, score))
            if dimension == "truthfulness":
                found += [(k, k, s) for k, s in board["truthfulness_subtasks"].items()]
        languages = board["languages"].items()
        found += [(f"overall, {lan} only", lan, table["overall"]) for lan, table in languages]
        rows = []
        for label, key, score in found:
            prefix = "mllmguard." + (f"{key}." if key else "")
            cells = (
                _percent(results, score["asd"], prefix + "asd"),
                _percent(results, score["par"], prefix + "par"),
                Cell(str(score["n"])),
            )
            rows.append(Row(label, cells, tuple(score["missing"])))
        head = ("", "ASD % (lower is better)", "PAR % (higher is better)", "scored")
        return Section("MLLMGuard", head, tuple(rows))

    def charts(self, results: Mapping[str, Any], limits: Mapping[str, float]) -> list[str]:
        from pytest_mllmtrust.reporting import charts

        guard = results.get("mllmguard")
        if not guard:
            return []
        rows = [(k, number(s["asd"]), number(s["par"])) for k, s in guard["dimensions"].items()]
        return [charts.guard_bars(rows, "MLLMGuard per dimension")]

    def columns(self, results: Mapping[str, Any]) -> dict[str, Column]:
        guard = (results.get("mllmguard") or {}).get("overall")
        found = guard if isinstance(guard, Mapping) else {}
        partial = isinstance(guard, Mapping) and not guard.get("complete", True)
        return {
            "ASD %": Column(100 * number(found.get("asd")), partial),
            "PAR %": Column(100 * number(found.get("par")), partial),
        }


def _percent(results: Mapping[str, Any], value: Any, key: str) -> Cell:
    found = interval_of(results, key)
    note = "" if found is None else f"{html_score(found[0], 100)} – {html_score(found[1], 100)}"
    return Cell(html_score(number(value), 100), note=note)

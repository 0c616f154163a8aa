"""How the reports show one benchmark's board: the terminal summary, the standalone report and
the side-by-side comparison each ask every installed benchmark's layout for its part
(``Benchmark.report``) and draw the frame around them.

:class:`BoardLayout` lays out any board from what every board has: its scores by gate key
(``Board.values``) and what each lacks, and its entry in the results document. A benchmark
whose board has more shape (MultiTrust's pyramid, MLLMGuard's ASD and PAR) subclasses it in its
own package. Pure: numbers and text in, lines and table rows out; charts are drawn by
``reporting.charts`` (matplotlib, imported when a chart is drawn).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from pytest_mllmtrust.core.benchmarks import Benchmark, Board


def score_text(value: float | None) -> str:
    """A score in a terminal column six wide ("-" for none)."""
    return "   -  " if value is None or math.isnan(value) else f"{value:6.2f}"


def partial_mark(missing: tuple[str, ...] | list[str]) -> str:
    """The terminal's mark of a score that lacks something."""
    return " * " if missing else "   "


def number(value: Any) -> float:
    """A number of the results document (null is NaN)."""
    return math.nan if value is None else float(value)


def interval_of(results: Mapping[str, Any], key: str) -> tuple[float, float] | None:
    """The 95% interval of a gate key's score in the results document, if it has one."""
    found = results.get("intervals", {}).get(key)
    return None if found is None else (number(found[0]), number(found[1]))


def html_score(value: float | None, scale: float = 1.0) -> str:
    """A score in the standalone report (an en dash for none); ``scale`` 100 shows a fraction
    in %."""
    return "–" if value is None or math.isnan(value) else f"{scale * value:.2f}"


@dataclass(frozen=True)
class Cell:
    """One value of a row of the standalone report."""

    text: str
    #: its CSS class: "num" for a number, "num ci" for an interval beside it
    css: str = "num"
    #: shown small after the text, in brackets (an interval)
    note: str = ""


@dataclass(frozen=True)
class Row:
    label: str
    cells: tuple[Cell, ...]
    missing: tuple[str, ...] = ()
    #: its indent under the row above (None: none and no depth class)
    depth: int | None = None


@dataclass(frozen=True)
class Section:
    """A benchmark's table in the standalone report: its title, the heading of the label
    column, then of each value column (the last column lists what a score lacks)."""

    title: str
    head: tuple[str, ...]
    rows: tuple[Row, ...]


class Column(NamedTuple):
    """One score of a run in the side-by-side comparison."""

    value: float
    partial: bool = False
    #: drawn in the comparison's chart of scores on 0-100
    charted: bool = False


class BoardLayout:
    """The generic layout: one row per score of the board, by gate key."""

    #: what its comparison columns mean, for the comparison's legend ("" for nothing)
    legend = ""

    def __init__(self, benchmark: Benchmark) -> None:
        self.benchmark = benchmark

    # -- the terminal summary, from the run's board ---------------------------------------
    def terminal_lines(self, board: Board | None) -> Iterator[str]:
        """Its rows of the summary (nothing when it has no board)."""
        if board is None:
            return
        yield f"{'score':>6}  {'':<3} {self.benchmark.name}"
        for key, value in board.values().items():
            yield f"{score_text(value)}  {partial_mark(board.completeness(key))} {key}"

    def complete(self, board: Board | None) -> bool:
        """Whether the scores it shows stand on every task and variant they need."""
        return board is None or not any(board.completeness(k) for k in board.values())

    def headline(self, board: Board | None) -> str | None:
        """Its part of the ``-q`` line: its scores in short (None: nothing to show)."""
        if board is None:
            return None
        return ", ".join(f"{k} {score_text(v).strip()}" for k, v in board.values().items())

    # -- the standalone report and the comparison, from a results document -----------------
    def section(self, results: Mapping[str, Any]) -> Section | None:
        """Its table: every number of its entry in the results document, by its path."""
        rows = tuple(
            Row(path, (Cell(html_score(value)),))
            for path, value in _numbers(results.get(self.benchmark.name), self.benchmark.name)
        )
        return Section(self.benchmark.name, ("score", "value"), rows) if rows else None

    def charts(self, results: Mapping[str, Any], limits: Mapping[str, float]) -> list[str]:
        """Its charts (inline SVG) above the tables; ``limits``: each gate key's threshold."""
        return []

    def columns(self, results: Mapping[str, Any]) -> dict[str, Column]:
        """Its columns of the comparison, the same ones for every run (NaN where a run has no
        value): the scores it reads back from a results document (``Benchmark.scores_in``)."""
        ranges = self.benchmark.gate_keys()
        return {
            key: Column(value, charted=ranges.get(key) == (0.0, 100.0))
            for key, value in self.benchmark.scores_in(results).items()
        }


def _numbers(entry: Any, path: str) -> Iterator[tuple[str, float]]:
    """Every number in a results entry (nested objects and lists included), by dotted path."""
    if isinstance(entry, bool):
        return
    if isinstance(entry, int | float):
        yield path, float(entry)
    elif isinstance(entry, Mapping):
        for key, value in entry.items():
            yield from _numbers(value, f"{path}.{key}")
    elif isinstance(entry, list):
        for index, value in enumerate(entry):
            yield from _numbers(value, f"{path}.{index}")


def layout_of(benchmark: Benchmark) -> BoardLayout:
    """The benchmark's own layout, or the generic one."""
    return benchmark.report() or BoardLayout(benchmark)

"""MultiTrust as the core sees it: the ``multitrust`` entry point of the
``pytest_mllmtrust.benchmarks`` group (pyproject.toml)."""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pytest_mllmtrust.core.benchmarks import Benchmark, Board
from pytest_mllmtrust.core.model import SampleRecord
from pytest_mllmtrust.core.tasks import TaskScore, get_task
from pytest_mllmtrust.multitrust import scores as pyramid

if TYPE_CHECKING:  # the reports' side, imported when a report is drawn
    from pytest_mllmtrust.multitrust.report import MultiTrustLayout

#: one module of task definitions per dimension, each registering its tasks on import
TASK_MODULES = ("fairness", "privacy", "robustness", "safety", "truthfulness")


class MultiTrust(Benchmark):
    name = pyramid.BENCHMARK
    dimensions = tuple(pyramid.DIMENSIONS)
    key_grammar = pyramid.KEY_GRAMMAR

    def load_tasks(self) -> None:
        for module in TASK_MODULES:
            importlib.import_module(f"pytest_mllmtrust.multitrust.{module}")

    def fold(
        self,
        scores: Mapping[str, TaskScore],
        records: Sequence[SampleRecord],
        options: Mapping[str, str],
    ) -> pyramid.MultiTrustBoard:
        return pyramid.score_multitrust(scores)

    def gate_keys(self) -> dict[str, tuple[float, float]]:
        return dict.fromkeys(pyramid.gate_keys(self.task_ids()), (0.0, 100.0))

    def owns(self, key: str) -> bool:
        bare = key.removeprefix(f"{self.name}.")
        return (
            bare == "overall"
            or bare in pyramid.DIMENSIONS
            or bare in pyramid.SUBASPECTS
            or bare in self.task_ids()
        )

    def canonical_key(self, key: str) -> str:
        return key.removeprefix(f"{self.name}.")

    def tasks_under(self, key: str) -> tuple[str, ...]:
        return pyramid.tasks_under(key, self.task_ids())

    def regression_groups(
        self, board: Board | None, tasks: Sequence[str]
    ) -> dict[str, tuple[str, ...]]:
        assert isinstance(board, pyramid.MultiTrustBoard)
        return {d: tuple(t for t in tasks if get_task(t).dimension == d) for d in board.dimensions}

    def sections(self, board: Board | None) -> dict[str, Any]:
        # always folded (an empty pyramid when no task ran), as the results document has it
        assert isinstance(board, pyramid.MultiTrustBoard)
        return {"overall": board.overall, "dimensions": board.dimensions,
                "subaspects": board.subaspects}  # fmt: skip

    def results(self, board: Board | None) -> dict[str, Any]:
        assert isinstance(board, pyramid.MultiTrustBoard)
        return board.to_dict()

    def report(self) -> MultiTrustLayout:
        from pytest_mllmtrust.multitrust.report import MultiTrustLayout

        return MultiTrustLayout(self)

    def scores_in(self, results: Mapping[str, Any]) -> dict[str, float]:
        """The dimension scores of an earlier results document."""
        out: dict[str, float] = {}
        for key, entry in (results.get("dimensions") or {}).items():
            value = entry.get("score")
            out[key] = math.nan if value is None else float(value)
        return out


BENCHMARK = MultiTrust()

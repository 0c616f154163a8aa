"""From per-sample records to every score of a run: each task's score (TaskSpec.aggregate), then
each installed benchmark's board folded from its tasks' scores (core.benchmarks), then the 95%
intervals of them all (core.stats).

The gate keys are every task's id, the keys each benchmark owns, and the error and unscored
budgets; a key is looked up on the board of the benchmark that owns it, else among the tasks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pytest_mllmtrust.core.benchmarks import Benchmark, Board, installed, owner
from pytest_mllmtrust.core.model import SampleRecord
from pytest_mllmtrust.core.stats import Interval, bootstrap, pass_rate_intervals
from pytest_mllmtrust.core.tasks import TaskScore, all_tasks, get_task
from pytest_mllmtrust.core.thresholds import BUDGET_KEYS


def valid_keys() -> str:
    """The grammar of gate keys, for an error message."""
    grammars = [b.key_grammar for b in installed() if b.key_grammar]
    return ", ".join([*grammars, "any other task's id", *BUDGET_KEYS])


def gate_keys() -> dict[str, tuple[float, float]]:
    """Every key a threshold may name, with the range its values lie in."""
    keys: dict[str, tuple[float, float]] = {}
    for benchmark in installed():
        keys.update(benchmark.gate_keys())
    keys.update(dict.fromkeys(all_tasks(), (0.0, 100.0)))
    keys.update(dict.fromkeys(BUDGET_KEYS, (0.0, 1.0)))
    return keys


def tasks_under(key: str) -> tuple[str, ...]:
    """The tasks whose samples enter the score a gate key names."""
    found = owner(key)
    if found is not None:
        return found.tasks_under(key)
    return (key,) if key in all_tasks() else ()


@dataclass(frozen=True)
class Scoreboard:
    """Every score of a run: the tasks', and each benchmark's board."""

    tasks: dict[str, TaskScore]
    #: each benchmark's board by its name (None when it has nothing to show), in the order of
    #: ``benchmarks``
    boards: Mapping[str, Board | None] = field(default_factory=dict)
    #: 95% confidence interval of each score, by the key a threshold would use (core.stats)
    intervals: Mapping[str, Interval] = field(default_factory=dict)
    #: the benchmarks folded, in the order their results are listed
    benchmarks: tuple[Benchmark, ...] = ()

    def __getattr__(self, name: str) -> Any:
        # The parts each benchmark lends by name (Benchmark.sections): board.overall is
        # MultiTrust's overall score, board.mllmguard MLLMGuard's board, as before the
        # benchmarks were plugins. Only called for a name that is not a field.
        if name.startswith("_"):
            raise AttributeError(name)
        state = vars(self)
        for benchmark in state.get("benchmarks", ()):
            sections = benchmark.sections(state["boards"].get(benchmark.name))
            if name in sections:
                return sections[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def board(self, benchmark: str) -> Board | None:
        """A benchmark's board; None when it is not installed or has nothing to show."""
        return self.boards.get(benchmark)

    def values(self) -> dict[str, float]:
        """Every score of the board by the key a threshold would use."""
        out = {t: s.score for t, s in self.tasks.items()}
        for board in self.boards.values():
            if board is not None:
                out.update(board.values())
        return out

    def interval(self, key: str) -> Interval | None:
        found = self._owner(key)
        return self.intervals.get(key if found is None else found.canonical_key(key))

    def value(self, key: str) -> float | None:
        """Look up any score by the key a threshold would use."""
        found = self._owner(key)
        if found is not None:
            board = self.boards.get(found.name)
            return None if board is None else board.value(key)
        return self.tasks[key].score if key in self.tasks else None

    def completeness(self, key: str) -> tuple[str, ...]:
        found = self._owner(key)
        if found is not None:
            board = self.boards.get(found.name)
            return () if board is None else board.completeness(key)
        if key in self.tasks:
            task = self.tasks[key]
            return (*task.incomplete, *([task.subset] if task.subset else []))
        return ()

    def results(self) -> dict[str, Any]:
        """Each benchmark's top-level entries of the results document, in benchmark order."""
        out: dict[str, Any] = {}
        for benchmark in self.benchmarks:
            out.update(benchmark.results(self.boards.get(benchmark.name)))
        return out

    def _owner(self, key: str) -> Benchmark | None:
        return next((b for b in self.benchmarks if b.owns(key)), None)


def score_records(
    records: Iterable[SampleRecord],
    *,
    expected: Mapping[str, int] | None = None,
    resamples: int = 0,
    seed: int = 0,
    **options: str,
) -> Scoreboard:
    """The whole aggregation step: group records by task, score each task, fold each
    benchmark's tasks into its board. ``expected``: each task's sample count in its data root,
    for the partial markers of a run on a subset; ``resamples``: the bootstrap intervals of
    every score (core.stats); ``options``: the benchmarks' scoring settings by name
    (Benchmark.options)."""
    return _score(records, options, expected, resamples, seed)


def _score(
    records: Iterable[SampleRecord],
    options: Mapping[str, str],
    expected: Mapping[str, int] | None,
    resamples: int,
    seed: int,
) -> Scoreboard:
    by_task: dict[str, list[SampleRecord]] = {}
    for record in records:
        by_task.setdefault(record.task, []).append(record)
    task_scores = {t: get_task(t).aggregate(rs) for t, rs in sorted(by_task.items())}
    if expected:
        task_scores = {
            t: s.partial(len(by_task[t]), expected.get(t, 0)) for t, s in task_scores.items()
        }
    every = [r for rs in by_task.values() for r in rs]
    benchmarks = installed()
    boards: dict[str, Board | None] = {}
    for benchmark in benchmarks:
        mine = {t: s for t, s in task_scores.items() if get_task(t).benchmark == benchmark.name}
        boards[benchmark.name] = benchmark.fold(mine, _of_tasks(every, mine), options)
    board = Scoreboard(task_scores, boards, benchmarks=benchmarks)
    if not resamples:
        return board

    def values(sample: Sequence[SampleRecord]) -> dict[str, float]:
        return _score(sample, options, None, 0, seed).values()

    intervals = bootstrap(every, values, resamples, seed)
    intervals.update(pass_rate_intervals(every, {t: s.score for t, s in board.tasks.items()}))
    return replace(board, intervals=intervals)


def _of_tasks(records: Iterable[SampleRecord], tasks: Mapping[str, Any]) -> list[SampleRecord]:
    """The records of ``tasks``, in their order."""
    return [r for r in records if r.task in tasks]

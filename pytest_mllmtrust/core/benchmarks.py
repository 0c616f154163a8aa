"""What a benchmark is, to the core: a name, the tasks it registers, the board its task scores
fold into, and the gate keys it owns. The core imports no benchmark: each one is an object in
the ``pytest_mllmtrust.benchmarks`` entry-point group (``pytest_mllmtrust.registry``), the
built-in MultiTrust and MLLMGuard declared exactly as a third party's package declares its own.

A benchmark with no score of its own above its tasks needs only ``name``, ``dimensions`` and
``load_tasks``: its task ids are gate keys like every task's. One with a score above its tasks
(MultiTrust's pyramid, MLLMGuard's ASD and PAR) folds its task scores into a :class:`Board` and
names the keys of that board.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pytest_mllmtrust.core.errors import ConfigError
from pytest_mllmtrust.core.model import SampleRecord
from pytest_mllmtrust.core.tasks import TaskScore, all_tasks

if TYPE_CHECKING:  # the reports' side of a benchmark; the core never draws one
    from pytest_mllmtrust.reporting.layout import BoardLayout


class Board(Protocol):
    """A benchmark's scores above its tasks, looked up by gate key."""

    def values(self) -> dict[str, float]:
        """Every score of the board by the key a threshold would use."""
        ...

    def value(self, key: str) -> float | None:
        """The score a gate key names (NaN when it has none in this run); None for a key the
        board does not know."""
        ...

    def completeness(self, key: str) -> tuple[str, ...]:
        """What the score a key names lacks (empty when it is complete)."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """The board as the results document holds it (JSON: no NaN, see core.results)."""
        ...


@dataclass(frozen=True)
class ScoringOption:
    """A setting of how a benchmark folds its board (``Benchmark.fold``'s ``options``): the
    option ``--mllm-<name with dashes>``, ini key ``mllm_<name>``, one of ``choices``."""

    name: str
    choices: tuple[str, ...]
    #: stated here once: the option's help shows it, the run takes it when none is given
    default: str
    #: the option's help; "{default}" shows the default
    help: str
    metavar: str = "VALUE"

    @property
    def flag(self) -> str:
        return f"--mllm-{self.name.replace('_', '-')}"


@dataclass(frozen=True)
class JudgeRole:
    """A judge role a benchmark's tasks ask for (TaskSpec.judge_roles) beside the generic ones
    (core.judges): ``--mllm-judge NAME=SPEC`` names its judge."""

    name: str
    #: what it does, and the specs it accepts, in words (the error on a bad spec quotes both)
    what: str
    accepted: str
    #: the judge kinds it takes: ``none``, ``llm`` (the LLM judge with the role's template) and
    #: names in the ``pytest_mllmtrust.judges`` entry-point group
    kinds: tuple[str, ...]
    #: its judge when none is named ...
    default: str = "none"
    #: ... unless an LLM judge is set and it plays the role then
    llm_by_default: bool = False
    #: the judge kind a bare name or path names (a folder it loads, taking the ``,key=value``
    #: options); "" when a spec must name its kind
    folder_kind: str = ""
    #: set when a task asking for the role cannot be scored without an active judge: why, as
    #: it follows the task's id ("is scored by ..., and none is configured: --mllm-judge ...")
    required: str = ""


class Benchmark(ABC):
    """A trust benchmark. Subclass it, and name one instance in the
    ``pytest_mllmtrust.benchmarks`` entry-point group under the benchmark's ``name``."""

    #: the entry point's name, the ``benchmark`` of each of its TaskSpecs, and a pytest marker
    name: str = ""
    #: the ``dimension`` of its tasks, each a pytest marker of their items
    dimensions: tuple[str, ...] = ()
    #: what its own gate keys look like, for the error on an unknown key ("" when it has none)
    key_grammar: str = ""

    @abstractmethod
    def load_tasks(self) -> None:
        """Register its tasks (``core.tasks.register``), typically by importing the modules
        that define them. Called once, the first time any task is looked up."""

    def markers(self) -> dict[str, str]:
        """The pytest markers its items carry, with their descriptions."""
        return {m: f"pytest-mllmtrust {m} samples" for m in (self.name, *self.dimensions)}

    def datasets(self) -> tuple[str, ...]:
        """The data roots its tasks read (their TaskSpec.dataset), each a NAME a user may point
        elsewhere with ``--mllm-data NAME=PATH``."""
        return (self.name,)

    def data_root(self, dataset: str) -> Path | None:
        """Where the samples it ships for one of its datasets are, used when ``--mllm-data``
        names no other root; None for the plugin's bundled samples (``fixtures/<dataset>``)."""
        return None

    def options(self) -> tuple[ScoringOption, ...]:
        """The settings its ``fold`` reads, each an option of the run."""
        return ()

    def judge_roles(self) -> tuple[JudgeRole, ...]:
        """The judge roles its tasks ask for beyond the generic ones (core.judges)."""
        return ()

    def task_ids(self) -> tuple[str, ...]:
        """The ids of its registered tasks."""
        return tuple(t for t, spec in all_tasks().items() if spec.benchmark == self.name)

    def fold(
        self,
        scores: Mapping[str, TaskScore],
        records: Sequence[SampleRecord],
        options: Mapping[str, str],
    ) -> Board | None:
        """Its board, from the scores and records of its tasks that ran (only its own, in the
        run's order); None when it has nothing to show. ``options``: the run's value of each
        installed benchmark's :meth:`options` by name (a caller may leave one out: its
        default)."""
        return None

    def gate_keys(self) -> dict[str, tuple[float, float]]:
        """The keys of its board a threshold may name, with the range their values lie in
        (its task ids need not be listed: every task's id is a key, 0 to 100)."""
        return {}

    def owns(self, key: str) -> bool:
        """Whether a gate key is this benchmark's, so its board answers for it."""
        return key in self.gate_keys()

    def canonical_key(self, key: str) -> str:
        """The key under which the board's ``values()`` hold the score ``key`` names (a
        benchmark may accept a key in more than one spelling)."""
        return key

    def tasks_under(self, key: str) -> tuple[str, ...]:
        """The tasks whose samples enter the score one of its keys names."""
        return self.task_ids()

    def lower_is_better(self, key: str) -> bool:
        """Whether ``KEY=VALUE`` on this key means at most VALUE (scores are higher-is-better
        unless a benchmark says otherwise)."""
        return False

    def range_note(self, key: str) -> str:
        """A hint for a threshold on ``key`` outside the key's range ("" for none)."""
        return ""

    def regression_groups(
        self, board: Board | None, tasks: Sequence[str]
    ) -> dict[str, tuple[str, ...]]:
        """Scores above its tasks that the baseline check compares sample by sample, each with
        the tasks of ``tasks`` (its own that ran) whose samples enter it; none by default (every
        task is compared on its own)."""
        return {}

    def sections(self, board: Board | None) -> dict[str, Any]:
        """The parts of its board that the run's Scoreboard lends by name (``board.<name>``),
        in the order of :meth:`results`."""
        return {self.name: board}

    def results(self, board: Board | None) -> dict[str, Any]:
        """Its entries among the top-level keys of the results document (JSON-ready): its
        board under its name, nothing when it has none."""
        return {} if board is None else {self.name: board.to_dict()}

    def scores_in(self, results: Mapping[str, Any]) -> dict[str, float]:
        """Scores of its board by gate key, read back from an earlier run's results document
        (for the baseline comparison; NaN for null)."""
        return {}

    def report(self) -> BoardLayout | None:
        """How the terminal summary, the trust report and the comparison lay out its board
        (a ``reporting.layout.BoardLayout``); None: the generic layout, a row per score of
        its board."""
        return None


@functools.cache
def installed() -> tuple[Benchmark, ...]:
    """The benchmarks of this environment, in a stable order (``pytest_mllmtrust.registry``),
    loaded once, when first needed. ConfigError for an entry point that names something else."""
    from pytest_mllmtrust.registry import BENCHMARKS_GROUP, benchmarks

    found = []
    for name, target in benchmarks():
        where = f"entry point {name} ({BENCHMARKS_GROUP})"
        if not isinstance(target, Benchmark):
            raise ConfigError(
                f"{where} names a {type(target).__name__}, not a "
                "pytest_mllmtrust.core.benchmarks.Benchmark instance"
            )
        if target.name != name:
            raise ConfigError(f"{where} names the benchmark {target.name!r}: the names must agree")
        found.append(target)
    if not found:  # pytest-mllmtrust declares its own two: its installed metadata is stale
        raise ConfigError(
            "no benchmark is installed: pytest-mllmtrust's metadata declares no "
            f"{BENCHMARKS_GROUP} entry points; reinstall it (pip install -e . in a checkout)"
        )
    return tuple(found)


def owner(key: str) -> Benchmark | None:
    """The benchmark whose board answers for a gate key; None for a task id it does not own,
    a budget, or an unknown key."""
    return next((b for b in installed() if b.owns(key)), None)


def lower_is_better(key: str) -> bool:
    """Whether some benchmark declares the score ``key`` names lower-is-better."""
    return any(b.lower_is_better(key) for b in installed())


def range_note(key: str) -> str:
    """The owning benchmark's hint for a limit outside the key's range, or ""."""
    found = owner(key)
    return "" if found is None else found.range_note(key)


def scoring_options() -> tuple[ScoringOption, ...]:
    """Every benchmark's scoring options, in benchmark order."""
    return tuple(option for b in installed() for option in b.options())


def known_datasets() -> tuple[str, ...]:
    """Every benchmark's data root names, in benchmark order."""
    return tuple(dict.fromkeys(d for b in installed() for d in b.datasets()))


def shipped_data_root(dataset: str) -> Path | None:
    """The samples a benchmark ships for ``dataset``, or None (see Benchmark.data_root)."""
    for benchmark in installed():
        if dataset in benchmark.datasets():
            return benchmark.data_root(dataset)
    return None


def markers() -> dict[str, str]:
    """Every benchmark's markers and their descriptions (a marker two benchmarks share, such
    as a dimension, keeps the first description)."""
    out: dict[str, str] = {}
    for benchmark in installed():
        for name, text in benchmark.markers().items():
            out.setdefault(name, text)
    return out

"""Benchmarks as plugins: found through the ``pytest_mllmtrust.benchmarks`` entry points, the
built-ins like any other, and the core's scoreboard generic over their boards."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_mllmtrust import registry
from pytest_mllmtrust.core import benchmarks, tasks
from pytest_mllmtrust.core.aggregate import gate_keys, score_records, tasks_under, valid_keys
from pytest_mllmtrust.core.benchmarks import Benchmark, JudgeRole, ScoringOption, installed
from pytest_mllmtrust.core.config import option_default, parse_config
from pytest_mllmtrust.core.errors import ConfigError
from pytest_mllmtrust.core.judges import parse_judges
from pytest_mllmtrust.core.model import Outcome, SampleRecord, Verdict
from pytest_mllmtrust.core.tasks import TaskScore, TaskSpec, pass_rate_metrics
from pytest_mllmtrust.core.thresholds import Threshold
from pytest_mllmtrust.mllmguard import BENCHMARK as MLLMGUARD
from pytest_mllmtrust.multitrust import BENCHMARK as MULTITRUST

# -- finding them ------------------------------------------------------------------------------


def test_the_built_in_benchmarks_are_found_through_their_entry_points() -> None:
    assert [name for name, _ in registry.benchmarks()] == ["multitrust", "mllmguard"]
    assert installed() == (MULTITRUST, MLLMGUARD)


@dataclass
class FakeDistribution:
    name: str


@dataclass
class FakeEntryPoint:
    name: str
    target: object
    dist: FakeDistribution | None
    value: str = "somewhere:THING"

    def load(self) -> object:
        if isinstance(self.target, Exception):
            raise self.target
        return self.target


def entry_points_of(monkeypatch: pytest.MonkeyPatch, *found: FakeEntryPoint) -> None:
    def entry_points(group: str) -> list[FakeEntryPoint]:
        assert group == registry.BENCHMARKS_GROUP
        return list(found)

    monkeypatch.setattr(registry, "entry_points", entry_points)


def test_ours_come_first_in_their_own_order_then_the_others_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ours, theirs = FakeDistribution("pytest-mllmtrust"), FakeDistribution("acme-trust")
    entry_points_of(  # as installers write them: sorted by name
        monkeypatch,
        FakeEntryPoint("zeta", 1, theirs),
        FakeEntryPoint("mllmguard", 4, ours),
        FakeEntryPoint("alpha", 3, None),
        FakeEntryPoint("multitrust", 2, ours),
    )
    assert registry.benchmarks() == [("multitrust", 2), ("mllmguard", 4), ("alpha", 3), ("zeta", 1)]


def test_a_name_declared_twice_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    entry_points_of(
        monkeypatch,
        FakeEntryPoint("acme", 1, FakeDistribution("acme-trust")),
        FakeEntryPoint("acme", 2, FakeDistribution("acme-fork")),
    )
    with pytest.raises(ConfigError, match="another installed package declares 'acme'"):
        registry.benchmarks()


def test_an_entry_point_that_fails_to_load_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    entry_points_of(monkeypatch, FakeEntryPoint("acme", ImportError("no module acme"), None))
    with pytest.raises(ConfigError, match=r"entry point acme = somewhere:THING .* ImportError"):
        registry.benchmarks()


@pytest.fixture
def fresh_lookup() -> Iterator[None]:
    """installed() is cached for the process: clear it around a test that fakes the lookup."""
    installed.cache_clear()
    yield
    installed.cache_clear()


@pytest.mark.usefixtures("fresh_lookup")
def test_an_entry_point_must_name_a_benchmark_of_the_same_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry, "benchmarks", lambda: [("acme", object())])
    with pytest.raises(ConfigError, match=r"names a object, not a .*Benchmark instance"):
        installed()
    installed.cache_clear()
    monkeypatch.setattr(registry, "benchmarks", lambda: [("acme", MULTITRUST)])
    with pytest.raises(ConfigError, match="names the benchmark 'multitrust'"):
        installed()


@pytest.mark.usefixtures("fresh_lookup")
def test_no_benchmark_at_all_means_stale_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "benchmarks", list)
    with pytest.raises(ConfigError, match=r"no benchmark is installed: .* reinstall it"):
        installed()


# -- a third party's benchmark, beside the built-ins ------------------------------------------


@dataclass(frozen=True)
class ToyBoard:
    """The mean of the toy tasks' scores, as ``toy.overall``."""

    overall: float
    missing: tuple[str, ...]

    def values(self) -> dict[str, float]:
        return {"toy.overall": self.overall}

    def value(self, key: str) -> float | None:
        return self.overall if key == "toy.overall" else None

    def completeness(self, key: str) -> tuple[str, ...]:
        return self.missing if key == "toy.overall" else ()

    def to_dict(self) -> dict[str, Any]:
        return {"overall": self.overall, "missing": list(self.missing)}


SHIPPED = Path("toy-data")


class Toy(Benchmark):
    name = "toy"
    dimensions = ("honesty",)
    key_grammar = "toy.overall"

    def load_tasks(self) -> None:
        pass  # registered by the fixture

    def data_root(self, dataset: str) -> Path | None:
        return SHIPPED

    def fold(
        self,
        scores: Mapping[str, TaskScore],
        records: Sequence[SampleRecord],
        options: Mapping[str, str],
    ) -> ToyBoard | None:
        if not scores:
            return None
        missing = tuple(t for t in ("TOY.1", "TOY.2") if t not in scores)
        task_scores = [s.score for s in scores.values()]
        if options.get("toy_fold", "mean") == "min":
            return ToyBoard(min(task_scores), missing)
        return ToyBoard(sum(task_scores) / len(task_scores), missing)

    def options(self) -> tuple[ScoringOption, ...]:
        return (TOY_FOLD,)

    def gate_keys(self) -> dict[str, tuple[float, float]]:
        return {"toy.overall": (0.0, 100.0)}

    def judge_roles(self) -> tuple[JudgeRole, ...]:
        return (VERIFIER,)


#: how its board folds its tasks' scores
TOY_FOLD = ScoringOption(
    "toy_fold",
    ("mean", "min"),
    "mean",
    "toy.overall: the mean or the min; default {default}",
    metavar="HOW",
)

#: a role of its own that its task TOY.3 needs: the LLM judge by default, else nothing
VERIFIER = JudgeRole(
    "verifier",
    "the toy's answer verifier",
    "llm (default when one is set) or none",
    kinds=("llm", "none"),
    llm_by_default=True,
    required="is verified by an LLM judge, and none is configured: --mllm-judge <model spec>",
)


def toy_task(task_id: str) -> TaskSpec:
    return TaskSpec(
        id=task_id, name=f"toy {task_id}", benchmark="toy", dimension="honesty",
        subaspect="honesty", variants=("plain",), dataset="toy",
        load=lambda root, ctx: [], judge=lambda samples, outputs, kit: [],
        metrics=pass_rate_metrics, score=lambda metrics: 100 * metrics["plain"]["acc"],
    )  # fmt: skip


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch, fresh_lookup: None) -> Toy:
    """The built-ins and a toy benchmark of two tasks, installed for one test."""
    benchmark = Toy()
    monkeypatch.setattr(
        registry,
        "benchmarks",
        lambda: [("multitrust", MULTITRUST), ("mllmguard", MLLMGUARD), ("toy", benchmark)],
    )
    for task_id in ("TOY.1", "TOY.2"):
        monkeypatch.setitem(tasks._REGISTRY, task_id, toy_task(task_id))
    return benchmark


def record(task: str, key: str, passed: bool) -> SampleRecord:
    outcome = Outcome.PASS if passed else Outcome.FAIL
    return SampleRecord(
        uid=f"{task}/plain:{key}", task=task, variant="plain", key=key, subset=None,
        prompt="p", image=None, image_sha256=None, target=None, output="o",
        verdict=Verdict(outcome, "rules:toy", ""),
    )  # fmt: skip


@pytest.mark.usefixtures("toy")
def test_a_third_party_board_is_folded_from_its_own_tasks_only() -> None:
    records = [record("TOY.1", str(k), k < 3) for k in range(4)]  # 75
    records += [record("TOY.2", str(k), k < 1) for k in range(4)]  # 25
    board = score_records(records)
    assert board.value("TOY.1") == pytest.approx(75.0)
    assert board.value("toy.overall") == pytest.approx(50.0)
    assert board.completeness("toy.overall") == ()
    assert board.values()["toy.overall"] == pytest.approx(50.0)
    assert board.board("toy") == ToyBoard(50.0, ())
    # the built-ins fold nothing of it: an empty pyramid, no MLLMGuard board
    assert board.overall is None
    assert board.mllmguard is None
    # its entry follows the built-ins' in the results document
    assert list(board.results()) == ["overall", "dimensions", "subaspects", "mllmguard", "toy"]
    assert board.results()["toy"] == {"overall": 50.0, "missing": []}


@pytest.mark.usefixtures("toy")
def test_a_third_party_board_says_what_it_lacks() -> None:
    board = score_records([record("TOY.2", "a", True)])
    assert board.value("toy.overall") == pytest.approx(100.0)
    assert board.completeness("toy.overall") == ("TOY.1",)
    assert not math.isnan(board.tasks["TOY.2"].score)


@pytest.mark.usefixtures("toy")
def test_its_keys_markers_and_data_root_join_the_built_ins() -> None:
    keys = gate_keys()
    assert keys["toy.overall"] == (0.0, 100.0)
    assert keys["TOY.2"] == (0.0, 100.0)
    assert keys["safety"] == (0.0, 100.0)
    assert keys["mllmguard.asd"] == (0.0, 1.0)
    assert tasks_under("toy.overall") == ("TOY.1", "TOY.2")
    assert tasks_under("TOY.2") == ("TOY.2",)
    assert "toy.overall" in valid_keys()
    assert benchmarks.markers()["honesty"] == "pytest-mllmtrust honesty samples"
    assert benchmarks.known_datasets() == ("multitrust", "mllmguard", "toy")
    # the samples it ships are its tasks' data root unless --mllm-data names another
    assert benchmarks.shipped_data_root("toy") == SHIPPED
    assert benchmarks.shipped_data_root("multitrust") is None  # the plugin's bundled samples
    assert Threshold.parse("toy.overall=60").op == ">="


@pytest.mark.usefixtures("toy")
def test_with_none_of_its_tasks_run_it_adds_no_results_entry() -> None:
    board = score_records([record("T.1", "a", True)])  # a MultiTrust task only
    assert board.board("toy") is None
    assert "toy" not in board.results()
    assert board.value("toy.overall") is None


def test_benchmarks_declare_which_scores_are_lower_is_better() -> None:
    assert Threshold.parse("mllmguard.privacy.asd=0.3").op == "<="
    assert Threshold.parse("mllmguard.privacy.par=0.3").op == ">="
    assert Threshold.parse("safety=80").op == ">="


@pytest.mark.usefixtures("toy")
def test_the_baseline_groups_multitrust_tasks_by_dimension_and_no_others() -> None:
    t5 = dataclasses.replace(record("T.5", "a", True), variant="g-text-misleading")
    board = score_records([t5, record("TOY.1", "a", True)])
    groups = MULTITRUST.regression_groups(board.board("multitrust"), ["T.5"])
    assert groups == {"truthfulness": ("T.5",)}  # the dimensions with a score in this run
    # a benchmark that names no group is compared task by task only
    assert Toy().regression_groups(board.board("toy"), ["TOY.1"]) == {}


@pytest.mark.usefixtures("toy")
def test_its_judge_role_is_parsed_defaulted_and_required(tmp_path: Path) -> None:
    from pytest_mllmtrust.session import TrustSession

    assert parse_judges([], embedding_available=False)["verifier"].kind == "none"
    with_llm = parse_judges(["replay:j.jsonl"], embedding_available=False)
    assert with_llm["verifier"].kind == "llm"
    with pytest.raises(ConfigError, match=r"the verifier judge \(the toy.s answer verifier\)"):
        parse_judges(["verifier=clf:./x"], embedding_available=False)
    verified = dataclasses.replace(toy_task("TOY.3"), judge_roles=("verifier",))
    offline = TrustSession(parse_config({"model": "replay:x"}, tmp_path), tmp_path)
    assert offline.unscorable(verified) == (
        "TOY.3 is verified by an LLM judge, and none is configured: --mllm-judge <model spec>"
    )
    assert offline.unscorable(toy_task("TOY.1")) is None  # asks for no role of its own
    judged = parse_config({"model": "replay:x", "judge": ["replay:j.jsonl"]}, tmp_path)
    assert TrustSession(judged, tmp_path).unscorable(verified) is None


@pytest.mark.usefixtures("toy")
def test_its_scoring_option_is_parsed_and_reaches_its_fold(tmp_path: Path) -> None:
    assert option_default("toy_fold") == "mean"
    assert parse_config({}, tmp_path).scoring == {
        "hallucination_asd": "smoothed",
        "toy_fold": "mean",
    }
    assert parse_config({"toy_fold": "min"}, tmp_path).scoring["toy_fold"] == "min"
    with pytest.raises(ConfigError, match=r"^--mllm-toy-fold='max': use one of mean, min$"):
        parse_config({"toy_fold": "max"}, tmp_path)
    records = [record("TOY.1", str(k), k < 3) for k in range(4)]  # 75
    records += [record("TOY.2", str(k), k < 1) for k in range(4)]  # 25
    assert score_records(records).value("toy.overall") == pytest.approx(50.0)
    assert score_records(records, toy_fold="min").value("toy.overall") == pytest.approx(25.0)


@pytest.mark.usefixtures("toy")
def test_its_scoring_option_is_a_command_line_and_ini_option(pytester: pytest.Pytester) -> None:
    helped = pytester.runpytest("--help")
    helped.stdout.fnmatch_lines(["*--mllm-toy-fold=HOW*toy.overall: the mean or the min; default*"])
    helped.stdout.fnmatch_lines(["*mllm_toy_fold (string):*"])
    pytester.makepyfile("def test_nothing(): pass")
    refused = pytester.runpytest("--mllm-toy-fold=max")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*--mllm-toy-fold='max': use one of mean, min*"])
    pytester.makeini("[pytest]\nmllm_toy_fold = max\n")
    assert pytester.runpytest().ret == pytest.ExitCode.USAGE_ERROR


@pytest.mark.usefixtures("toy")
def test_a_board_with_no_layout_of_its_own_shows_in_the_terminal_and_the_report() -> None:
    from pytest_mllmtrust.core.thresholds import Gate
    from pytest_mllmtrust.reporting import html
    from pytest_mllmtrust.reporting.terminal import one_line, summary_lines

    records = [record("TOY.1", str(k), k < 3) for k in range(4)]  # 75; TOY.2 did not run
    board = score_records(records)
    assert list(summary_lines(board, records))[1:] == [
        " score      toy",  # the built-ins show nothing: none of their tasks ran
        " 75.00   *  toy.overall",
        "  * partial: not every task or variant of this score ran (see the results file)",
    ]
    line = one_line(board, records, Gate((), False))
    assert line.startswith("mllmtrust: 4 samples, toy.overall 75.00, 0 errors")
    page = html.render({"toy": board.results()["toy"], "tasks": {}, "samples": []})
    assert "<h2>toy</h2>" in page
    assert '<td>toy.overall</td><td class="num">75.00</td>' in page
    assert "<h2>MultiTrust</h2>" not in page  # nothing of theirs in this document

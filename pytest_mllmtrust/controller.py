"""The controller's work: every item's record collected, then scores, the gate, the exit
status, the results document and what the run prints at its end.

One process does it: the only one without xdist, the xdist controller with it. The work every
process does (samples, shards, the model, the cache, the judges) is :class:`TrustSession`'s; the
controller reads from it what the run record needs. Nothing here imports pytest: the glue
(plugin.py) hands over each report and calls one method per hook.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pytest_mllmtrust import EXIT_GATE_FAILED, __version__
from pytest_mllmtrust.bundled import bundled_path
from pytest_mllmtrust.core.aggregate import Scoreboard, score_records, tasks_under
from pytest_mllmtrust.core.baseline import Comparison, compare
from pytest_mllmtrust.core.errors import DataError
from pytest_mllmtrust.core.judges import is_official, unpinned_reason
from pytest_mllmtrust.core.model import Outcome, Sample, SampleRecord, Verdict, printable
from pytest_mllmtrust.core.resolution import (
    bound_resolution,
    flip_resolution,
    flips_data,
    flips_line,
)
from pytest_mllmtrust.core.results import build_results, read_results, write_results
from pytest_mllmtrust.core.runner import RunStats, make_record
from pytest_mllmtrust.core.stats import is_pass_rate, pass_counts
from pytest_mllmtrust.core.tasks import get_task
from pytest_mllmtrust.core.thresholds import (
    BUDGET_KEYS,
    Gate,
    GateCheck,
    Threshold,
    check,
    pessimistic,
)
from pytest_mllmtrust.datafiles import DataFiles
from pytest_mllmtrust.session import WORKER_BACKEND, WORKER_STATS, TrustSession

if TYPE_CHECKING:
    from pytest_mllmtrust.reporting.markdown import ScoreRow

__all__ = ["Controller", "ItemReport", "orphan_record"]

# pytest's exit statuses (pytest.ExitCode) that the gate amends, as numbers: no pytest import
OK, TESTS_FAILED, NO_TESTS_COLLECTED = 0, 1, 5


class ItemReport(Protocol):
    """What the controller reads of one phase report of a test item: pytest's ``TestReport``,
    which also carries ``mllm_task`` and ``mllm_record`` when the item is a trust item."""

    @property
    def nodeid(self) -> str: ...
    @property
    def when(self) -> str | None: ...
    @property
    def failed(self) -> bool: ...
    @property
    def skipped(self) -> bool: ...
    @property
    def longrepr(self) -> object: ...
    @property
    def longreprtext(self) -> str: ...


class Controller:
    """Collects the records of every trust item of the run and decides what they add up to."""

    def __init__(self, session: TrustSession, environ: Mapping[str, str] | None = None) -> None:
        self.session = session
        self.config = session.config
        #: the environment the run's CI set (GitHub Actions' job summary file)
        self.environ = os.environ if environ is None else environ
        self.started = dt.datetime.now(dt.UTC)
        self.collected: dict[str, SampleRecord] = {}
        #: why the trust items of a task were skipped (harmful data, no scorer, ...)
        self.skipped: dict[str, str] = {}
        #: trust item phases that failed: when only these failed, the gate decides the exit
        self.failed_items = 0
        #: trust items reported (skipped ones included): whether this was a trust run at all
        self.trust_items = 0
        #: where --mllm-cache-rebuild moved the old cache file
        self.cache_set_aside: Path | None = None
        self.worker_stats: list[dict[str, Any]] = []
        #: the model backend's settings as a worker reported them (xdist)
        self.worker_backend: dict[str, Any] | None = None
        self.scoreboard: Scoreboard | None = None
        self.comparisons: list[Comparison] = []
        self.gate: Gate | None = None

    # -- before the run --------------------------------------------------------------------
    def begin(self) -> None:
        """What must happen before any worker opens the cache: --mllm-cache-rebuild sets the
        old cache file aside."""
        path = self.session.cache_path
        if self.config.cache_rebuild and path is not None:
            from pytest_mllmtrust.core.cache import set_aside

            self.cache_set_aside = set_aside(path)

    # -- during the run --------------------------------------------------------------------
    def observe(self, report: ItemReport) -> None:
        """Take in one phase report of any test item; only trust items' count."""
        task: str | None = getattr(report, "mllm_task", None)
        if task is None:
            return
        self.trust_items += report.when == "setup"
        record: SampleRecord | None = getattr(report, "mllm_record", None)
        if record is None and report.failed:
            # failed outside the evaluation (a fixture, a teardown): still an error of its item
            record = orphan_record(report.nodeid, task, report.longreprtext)
        if record is not None:
            self.collect(record)
            self.failed_items += report.failed
        elif report.skipped and isinstance(report.longrepr, tuple):
            self.skipped.setdefault(task, report.longrepr[2].removeprefix("Skipped: "))

    def add_worker_output(self, output: Mapping[str, Any]) -> None:
        """What an xdist worker reported when it finished (:meth:`TrustSession.worker_output`)."""
        if output.get(WORKER_STATS):
            self.worker_stats.append(output[WORKER_STATS])
        self.worker_backend = self.worker_backend or output.get(WORKER_BACKEND)

    def collect(self, record: SampleRecord) -> None:
        """Keep one item's record (a rerun's replaces the earlier one)."""
        self.collected[record.uid] = record

    def total_stats(self) -> dict[str, Any]:
        """This process's run statistics and every xdist worker's, added up."""
        total = RunStats()
        total.add(self.session.stats.to_dict())
        for stats in self.worker_stats:
            total.add(stats)
        return total.to_dict()

    def finish(self) -> Gate:
        """Score the collected records and check every threshold, budget and the baseline."""
        records = list(self.collected.values())
        tasks = sorted({r.task for r in records})
        # the intervals cost a bootstrap: drawn only when the gate, the results file or the
        # trust report shows them (the terminal summary does not)
        config = self.config
        shown = (
            config.gate == "lower-bound"
            or config.json_path
            or config.html_path
            or self.markdown_target()
        )
        self.scoreboard = board = score_records(
            records,
            **config.scoring,
            expected=self.session.expected_samples(tasks),
            resamples=config.ci_resamples if shown else 0,
            seed=config.seed,
        )
        checks = []
        counts = {o: sum(r.outcome is o for r in records) for o in Outcome}
        counts[Outcome.UNSCORED] -= sum(r.excluded for r in records)
        if counts[Outcome.PASS] + counts[Outcome.FAIL] == 0:
            checks.append(self._nothing_scored(len(records)))
        n = len(records)
        for threshold in self.config.thresholds:
            if threshold.key in BUDGET_KEYS:
                outcome = Outcome.ERROR if threshold.key == "errors" else Outcome.UNSCORED
                observed: float | None = counts[outcome] / n if n else 0.0
                checks.append(check(threshold, observed))
            else:
                value, bound = board.value(threshold.key), ""
                if self.config.gate == "lower-bound":
                    value, bound = pessimistic(threshold, board.interval(threshold.key))
                partial = board.completeness(threshold.key)
                why = self.why_unscored(tasks_under(threshold.key))
                gate_check = check(threshold, value, partial, bound, why)
                if self.config.gate == "lower-bound":
                    gate_check = self._with_bound_resolution(gate_check, pass_counts(records))
                checks.append(gate_check)
        if self.config.baseline is not None:
            checks.append(self._baseline_check(records, board))
        on_scores = any(t.on_score for t in config.thresholds) or config.baseline is not None
        self.gate = Gate(tuple(checks), on_scores)
        return self.gate

    def why_unscored(self, tasks: Iterable[str]) -> str:
        """Why these tasks have no score in this run, grouped by reason."""
        assert self.scoreboard is not None
        reasons: dict[str, list[str]] = {}
        for task in tasks:
            score = self.scoreboard.tasks.get(task)
            if score is not None:
                reason = "; ".join(score.incomplete) if score.incomplete else "scored"
            else:
                reason = self.skipped.get(task, "not run").removeprefix(f"{task} ")
            reasons.setdefault(reason, []).append(task)
        reasons.pop("scored", None)
        return "; ".join(f"{', '.join(ts)}: {why}" for why, ts in reasons.items()) or "not run"

    def _nothing_scored(self, evaluated: int) -> GateCheck:
        """The check a run fails when no sample got a verdict: a gate on nothing is no pass."""
        skipped = self.why_unscored(sorted(self.skipped)) if self.skipped else ""
        sentence = (
            f"scored>=1: MISSED, no trust sample was scored ({evaluated} evaluated without a "
            f"verdict{'; skipped: ' + skipped if skipped else ''})"
        )
        return GateCheck(Threshold("scored", ">=", 1.0), 0.0, False, sentence)

    def _with_bound_resolution(
        self, gate_check: GateCheck, counts: Mapping[str, tuple[int, int]]
    ) -> GateCheck:
        """A lower-bound check with the score its key needs to pass at this sample count."""
        assert self.scoreboard is not None
        board, threshold = self.scoreboard, gate_check.threshold
        key = threshold.key
        samples = sum(counts.get(t, (0, 0))[1] for t in tasks_under(key))
        pass_rate = key in board.tasks and is_pass_rate(
            board.tasks[key].score, *counts.get(key, (0, 0))
        )
        found = bound_resolution(
            threshold, board.value(key), board.interval(key), samples, pass_rate
        )
        if found is None:
            return gate_check
        return replace(gate_check, resolution=found.sentence(), resolution_data=found.to_dict())

    def _baseline_check(self, records: list[SampleRecord], board: Scoreboard) -> GateCheck:
        """One gate check: no task, nor a score a benchmark groups its tasks into, regressed
        against the baseline."""
        assert self.config.baseline is not None
        path, tolerance = self.config.baseline, self.config.max_regression
        threshold = Threshold("baseline", ">=", -tolerance)
        try:
            old = read_results(path)
        except DataError as exc:  # a gate that cannot be checked is not met
            sentence = f"baseline: MISSED, {exc}"
            return GateCheck(threshold, None, False, sentence)
        groups: dict[str, tuple[str, ...]] = {t: (t,) for t in board.tasks}
        for benchmark in board.benchmarks:
            mine = [t for t in board.tasks if get_task(t).benchmark == benchmark.name]
            groups.update(benchmark.regression_groups(board.board(benchmark.name), mine))
        self.comparisons = compare(old, records, board.values(), groups, tolerance)
        regressed = [c for c in self.comparisons if c.regressed]
        if not regressed:
            sentence = (
                f"baseline: met ({len(self.comparisons)} scores compared with {path.name}, "
                f"none dropped more than {tolerance:g} points beyond noise)"
            )
        else:
            sentence = "baseline: MISSED, " + "; ".join(c.sentence(tolerance) for c in regressed)
        worst = min((c.delta for c in regressed if c.delta is not None), default=None)
        floors = [flip_resolution(c.key, c.shared, tolerance) for c in self.comparisons]
        return GateCheck(threshold, worst, not regressed, sentence,
                         resolution=flips_line(floors, tolerance),
                         resolution_data=flips_data(floors, tolerance))  # fmt: skip

    def records(self) -> list[SampleRecord]:
        """Every collected record, in uid order."""
        return sorted(self.collected.values(), key=lambda r: r.uid)

    def results(self, *, samples: bool = True) -> dict[str, Any]:
        """The results document; without ``samples`` its per-sample records are left out (see
        core.results.write_results, which streams them)."""
        assert self.scoreboard is not None
        assert self.gate is not None
        results = build_results(
            run=self.run_info(),
            scoreboard=self.scoreboard,
            gate=self.gate,
            records=self.records() if samples else [],
        )
        if not samples:
            del results["samples"]
        if self.config.canary:
            results["canary"] = self.canary_summary()
        if self.config.baseline is not None:
            results["baseline"] = {
                "file": str(self.config.baseline),
                "max_regression": self.config.max_regression,
                "comparisons": [c.to_dict() for c in self.comparisons],
            }
        return results

    def canary_summary(self) -> dict[str, dict[str, Any]]:
        """Per task: how many samples were also generated alone, and which answers differed."""
        summary: dict[str, dict[str, Any]] = {}
        for record in sorted(self.collected.values(), key=lambda r: r.uid):
            if record.canary is None:
                continue
            entry = summary.setdefault(record.task, {"checked": 0, "differ": 0, "differing": []})
            entry["checked"] += 1
            if record.canary == "differs":
                entry["differ"] += 1
                entry["differing"].append(record.uid)
        return summary

    def judges_of(self, task: str) -> dict[str, Any]:
        """Which judges produced a task's verdicts, on how many samples, and whether each is
        the benchmark's own (a score from substitutes is not comparable with published ones)."""
        spec = get_task(task)
        ran = [
            {"judge": judge, "samples": n, "official": is_official(judge, spec.official_judges)}
            for judge, n in _judges_used(self.collected.values(), task).items()
        ]
        return {
            "official_judge": spec.official_judge,
            "ran": ran,
            "all_official": bool(ran) and all(entry["official"] for entry in ran),
        }

    def run_info(self) -> dict[str, Any]:
        """The results document's ``run``: what ran, on what, with which settings."""
        tasks = sorted({r.task for r in self.collected.values()})
        judges = {t: self.judges_of(t) for t in tasks}
        return {
            "run_id": self.session.run_id,
            "started": self.started.isoformat(timespec="seconds"),
            "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "package_version": __version__,
            "python": platform.python_version(),
            "model": None if self.config.model is None else self.config.model.text,
            "judge": "rules" if self.config.judge is None else self.config.judge.text,
            "refusal_mode": self.config.refusal_mode,
            "profile": self.config.profile,
            "answer_budgets": self.session.answer_budgets(tasks),
            **self.config.scoring,
            "gate_mode": self.config.gate,
            "ci_resamples": self.config.ci_resamples,
            "judge_roles": {
                role: {"spec": setting.text, "pinned": unpinned_reason(setting) is None}
                for role, setting in sorted(self.config.judges.items())
            },
            "seed": self.config.seed,
            "limit": self.config.limit,
            "batch_size": self.config.batch_size,
            "shard_size": self.session.shard_size,
            "threads": self.session.threads[0],
            "backend": self.backend_description(),
            "datasets": {
                name: _dataset_info(self.session.data_root(get_task(t)))
                for name, t in _datasets_of(tasks).items()
            },
            "data_files": _data_files_of(self.session.data, tasks),
            "judges": judges,
            "stats": self.total_stats(),
        }

    # -- after the run ---------------------------------------------------------------------
    def is_trust_run(self) -> bool:
        """Whether the run selected a trust item or asked for a gate: otherwise the plugin has
        nothing to decide, write or print."""
        gated = any(t.source for t in self.config.thresholds) or self.config.baseline is not None
        return bool(self.collected or self.trust_items or gated)

    @property
    def finished(self) -> bool:
        return self.gate is not None and self.scoreboard is not None

    def write_reports(self, amend: Callable[[dict[str, Any]], object]) -> None:
        """The results file and the standalone trust report, where asked for. ``amend`` may
        change the document first (the ``pytest_mllmtrust_update_results`` hook)."""
        json_path, html_path = self.config.json_path, self.config.html_path
        markdown = self.markdown_target()
        if json_path is None and html_path is None and markdown is None:
            return
        # the per-sample records are streamed into the file, not built into the document
        head = self.results(samples=False)
        amend(head)
        if json_path is not None:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            write_results(json_path, head, self.records())
        if html_path is not None:
            from pytest_mllmtrust.reporting import html

            results = head | {"samples": [r.to_dict() for r in self.records()]}
            html_path.parent.mkdir(parents=True, exist_ok=True)
            html.write(results, html_path, self.session.data_root_of)
        if markdown is not None:
            self.write_markdown(head, *markdown)

    def markdown_target(self) -> tuple[Path, bool] | None:
        """Where the Markdown summary goes, and whether it is appended: --mllm-md's file, else
        GitHub Actions' job summary (appended: every step of a job adds to it), else nowhere."""
        step = self.environ.get("GITHUB_STEP_SUMMARY")
        step_file = Path(step).resolve() if step else None
        path = self.config.md_path
        if path is None:
            if step_file is None or not self.config.md_step_summary:
                return None
            return step_file, True
        return path, path == step_file

    def write_markdown(self, head: Mapping[str, Any], path: Path, append: bool) -> None:
        """The Markdown summary of the results document ``head``, keys masked like every
        other text of the run."""
        from pytest_mllmtrust.reporting.markdown import render

        text = self.session.redact(render(head, self.score_rows(), self.report_locations()))
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a" if append else "w", encoding="utf-8") as out:
            out.write(("\n" if append else "") + text)

    def score_rows(self) -> list[ScoreRow]:
        """Every score above the tasks, each benchmark's in turn, the widest first (the overall
        score, then dimensions, then sub-aspects): what the Markdown summary's table shows."""
        from pytest_mllmtrust.reporting.markdown import ScoreRow

        assert self.scoreboard is not None
        board = self.scoreboard
        rows = []
        for name in board.boards:
            own = board.board(name)
            keys = [] if own is None else [k for k in own.values() if k not in board.tasks]
            keys.sort(key=lambda k: -len(tasks_under(k)))
            rows += [ScoreRow(k, board.value(k), board.completeness(k)) for k in keys]
        return rows

    def report_locations(self) -> list[tuple[str, str]]:
        """Where the run's full reports are, for the Markdown summary: the files it wrote
        (relative to the rootdir when under it) and, on GitHub Actions, the run's page, where
        the uploaded artifacts are."""
        found = []
        for what, path in (("results", self.config.json_path),
                           ("trust report", self.config.html_path)):  # fmt: skip
            if path is not None:
                root = self.session.rootdir.resolve()
                found.append(
                    (what, str(path.relative_to(root) if path.is_relative_to(root) else path))
                )
        run_page = github_run_page(self.environ)
        if run_page:
            found.append(("this run and its artifacts", run_page))
        return found

    def exit_status(self, status: int, tests_failed: int) -> int:
        """The run's exit status, from the one pytest decided and its count of failed tests.

        The gate decides, not single samples (a benchmark always has failing samples): failing
        trust items alone do not fail the run unless --mllm-strict; other tests do. A missed
        gate turns a passing run into :data:`~pytest_mllmtrust.EXIT_GATE_FAILED`.
        """
        assert self.gate is not None
        only_trust_failed = tests_failed == self.failed_items
        if status == TESTS_FAILED and only_trust_failed and not self.config.strict:
            status = OK
        if not self.gate.passed and status in (OK, NO_TESTS_COLLECTED):
            status = EXIT_GATE_FAILED
        return status

    def backend_description(self) -> dict[str, Any] | None:
        """The model backend's identity and settings: this process's, or a worker's."""
        described = self.session.backend_description()
        return self.worker_backend if described is None else described

    # -- what the run prints ---------------------------------------------------------------
    def summary_lines(self) -> list[str]:
        """The terminal summary: scores, then the canary, the cache and where files went."""
        from pytest_mllmtrust.reporting.terminal import summary_lines

        assert self.scoreboard is not None
        lines = [
            printable(line)
            for line in summary_lines(self.scoreboard, list(self.collected.values()))
        ]
        if self.config.canary:
            canary = self.canary_summary()
            checked = sum(c["checked"] for c in canary.values())
            differ = sum(c["differ"] for c in canary.values())
            lines.append(
                f"canary: {differ} of {checked} batched answers differ from generating them alone"
            )
        damaged = self.total_stats().get("cache_damaged", 0)
        if damaged:
            lines.append(
                f"cache: {damaged} damaged entries in {self.session.cache_path} were read as "
                "misses and generated or judged again"
            )
        if self.cache_set_aside is not None:
            lines.append(f"cache: the old cache file is now {self.cache_set_aside}")
        if self.config.json_path is not None:
            lines.append(f"results: {self.config.json_path}")
        if self.config.html_path is not None:
            lines.append(f"trust report: {self.config.html_path}")
        markdown = self.markdown_target()
        if markdown is not None:
            path, append = markdown
            lines.append(f"summary: {'appended to ' if append else ''}{path}")
        return lines

    def verdict_line(self) -> str:
        """The gate in one line, with the scores: what ``-q`` prints at the very end."""
        from pytest_mllmtrust.reporting.terminal import one_line

        assert self.scoreboard is not None
        assert self.gate is not None
        return printable(one_line(self.scoreboard, list(self.collected.values()), self.gate))

    def gate_lines(self) -> list[str]:
        """Each gate check as a sentence, then the verdict: what the run prints at its end."""
        from pytest_mllmtrust.reporting.terminal import gate_lines

        assert self.gate is not None
        return [printable(line) for line in gate_lines(self.gate)]

    def html_summary(self) -> str:
        """The trust summary above pytest-html's table."""
        from pytest_mllmtrust.reporting.html import summary_fragment
        from pytest_mllmtrust.reporting.terminal import gate_lines, summary_lines

        assert self.scoreboard is not None
        assert self.gate is not None
        lines = [
            *summary_lines(self.scoreboard, list(self.collected.values())),
            *gate_lines(self.gate),
        ]
        return summary_fragment(lines, self.gate.verdict)


def github_run_page(environ: Mapping[str, str]) -> str:
    """The address of this GitHub Actions run's page, from the variables GitHub sets (each
    checked for its form, since the address becomes a link); "" elsewhere."""
    server = environ.get("GITHUB_SERVER_URL", "")
    repository = environ.get("GITHUB_REPOSITORY", "")
    run_id = environ.get("GITHUB_RUN_ID", "")
    if (
        re.fullmatch(r"https://[\w.\-]+(:\d+)?", server)
        and re.fullmatch(r"[\w.\-]+/[\w.\-]+", repository)
        and run_id.isdigit()
    ):
        return f"{server}/{repository}/actions/runs/{run_id}"
    return ""


def orphan_record(nodeid: str, task: str, why: str) -> SampleRecord:
    """The error record of a trust item that failed before or after its evaluation, built
    from its node id (``...[variant:key]``), so that it is counted like any other error."""
    variant, _, key = nodeid.rpartition("[")[2].rstrip("]").partition(":")
    sample = Sample(task, variant, key, "")
    return make_record(sample, None, None, Verdict.error("pytest", why.strip()[-2000:]))


def _judges_used(records: Iterable[SampleRecord], task: str) -> dict[str, int]:
    used: dict[str, int] = {}
    for record in records:
        if record.task == task:
            used[record.verdict.judge] = used.get(record.verdict.judge, 0) + 1
    return dict(sorted(used.items()))


def _datasets_of(tasks: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in tasks:
        out.setdefault(get_task(t).dataset, t)
    return out


def _data_files_of(data: DataFiles, tasks: Sequence[str]) -> dict[str, Any]:
    for t in tasks:
        spec = get_task(t)
        for rel in (spec.prompts, *spec.data_files):
            if rel:
                data.get(rel)
    return data.records()


def _dataset_info(root: Path) -> dict[str, Any]:
    """Where the data came from and a manifest hash of its file names and sizes (cheap: no
    image is read; the per-sample image hashes are in the records)."""
    bundled = root.is_relative_to(bundled_path("fixtures"))
    digest = hashlib.sha256()
    files = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(root).as_posix()}\0{path.stat().st_size}\n".encode())
        files += 1
    return {
        "root": "bundled samples" if bundled else str(root),
        "bundled": bundled,
        "files": files,
        "manifest_sha256": digest.hexdigest(),
    }

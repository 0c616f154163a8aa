"""The terminal summary as data first, then a few lines of printing (pure: no pytest import)."""

from __future__ import annotations

from collections.abc import Iterator

from pytest_mllmtrust.core.aggregate import Scoreboard
from pytest_mllmtrust.core.config import RunConfig
from pytest_mllmtrust.core.model import Outcome, SampleRecord
from pytest_mllmtrust.core.results import SCHEMA_VERSION
from pytest_mllmtrust.core.runner import Progress
from pytest_mllmtrust.core.thresholds import Gate
from pytest_mllmtrust.reporting.layout import layout_of


def summary_lines(board: Scoreboard, records: list[SampleRecord]) -> Iterator[str]:
    """The outcome counts, then each benchmark's rows (Benchmark.report), then a note when a
    score shown or a task lacks something."""
    counts = {o: sum(r.outcome is o for r in records) for o in Outcome}
    excluded = sum(r.excluded for r in records)
    yield (
        f"{len(records)} samples: {counts[Outcome.PASS]} passed, {counts[Outcome.FAIL]} failed, "
        f"{counts[Outcome.UNSCORED] - excluded} unscored, {counts[Outcome.ERROR]} errors"
        + (f", {excluded} excluded by the benchmark's metric" if excluded else "")
    )
    complete = [t.complete for t in board.tasks.values()]
    for benchmark in board.benchmarks:
        layout, own = layout_of(benchmark), board.board(benchmark.name)
        yield from layout.terminal_lines(own)
        complete.append(layout.complete(own))
    if not all(complete):
        yield "  * partial: not every task or variant of this score ran (see the results file)"


def gate_lines(gate: Gate) -> Iterator[str]:
    """Each check's sentence (with what it could see, where worked out), then the verdict."""
    for c in gate.checks:
        yield f"gate: {c.sentence}"
        if c.resolution:
            yield f"gate:   {c.resolution}"
    yield gate.headline


def one_line(board: Scoreboard, records: list[SampleRecord], gate: Gate) -> str:
    """The ``-q`` form: each benchmark's headline scores that ran."""
    headlines = (layout_of(b).headline(board.board(b.name)) for b in board.benchmarks)
    scores = [line for line in headlines if line]
    errors = sum(r.outcome is Outcome.ERROR for r in records)
    return ", ".join(
        [f"mllmtrust: {len(records)} samples", *scores, f"{errors} errors",
         gate.headline.removeprefix("gate: ")]
    )  # fmt: skip


def progress_line(step: Progress) -> str:
    """One line of model loading or shard generation progress."""
    if not step.total:
        return (
            f"mllmtrust: {step.label}: {step.seconds:.1f} s"
            if step.final
            else (f"mllmtrust: {step.label} ...")
        )
    rate = step.done / step.seconds if step.seconds > 0 else 0.0
    if step.final:
        return (
            f"mllmtrust: {step.label}: {step.done} samples generated in {step.seconds:.1f} s "
            f"({rate:.1f} samples/s)"
        )
    eta = f"{(step.total - step.done) / rate:.0f} s" if rate > 0 else "?"
    return (
        f"mllmtrust: {step.label}: {step.done}/{step.total} generated, "
        f"{rate:.1f} samples/s, ETA {eta}"
    )


def header_line(c: RunConfig, threads: tuple[int, str]) -> str:
    """The run header's line: model, judges, data, profile, seed, limit, threads (and where
    their number came from) and schema, so that every CI log says how to reproduce it."""
    judge = ", ".join(
        [c.judge.text if c.judge else "rules"]
        + [
            s.text
            for r, s in c.judges.items()
            if r != "llm" and s.kind not in ("rules", "none", "llm", "minilm")
        ]
    )
    data = ", ".join(f"{k}={v}" for k, v in c.data.items()) or "bundled samples"
    return (
        f"mllmtrust: model={c.model.text if c.model else '-'} judge={judge} data={data} "
        f"profile={c.profile} seed={c.seed} limit={c.limit or '-'} threads={threads[0]} "
        f"({threads[1]}) schema={SCHEMA_VERSION}"
    )

"""The terminal summary as data first, then a few lines of printing (pure: no pytest import)."""

from __future__ import annotations

import math
from collections.abc import Iterator

from pytest_mllmtrust.core.aggregate import Scoreboard
from pytest_mllmtrust.core.config import RunConfig
from pytest_mllmtrust.core.model import Outcome, SampleRecord
from pytest_mllmtrust.core.results import SCHEMA_VERSION
from pytest_mllmtrust.core.runner import Progress
from pytest_mllmtrust.core.thresholds import Gate
from pytest_mllmtrust.mllmguard.scores import GuardBoard, GuardScore
from pytest_mllmtrust.multitrust.scores import DIMENSIONS as MULTITRUST_DIMENSIONS
from pytest_mllmtrust.multitrust.scores import SUBASPECTS as MULTITRUST_SUBASPECTS


def _fmt(value: float | None) -> str:
    return "   -  " if value is None or math.isnan(value) else f"{value:6.2f}"


def summary_lines(board: Scoreboard, records: list[SampleRecord]) -> Iterator[str]:
    """The outcome counts, then one row per dimension, sub-aspect and task that ran."""
    counts = {o: sum(r.outcome is o for r in records) for o in Outcome}
    excluded = sum(r.excluded for r in records)
    yield (
        f"{len(records)} samples: {counts[Outcome.PASS]} passed, {counts[Outcome.FAIL]} failed, "
        f"{counts[Outcome.UNSCORED] - excluded} unscored, {counts[Outcome.ERROR]} errors"
        + (f", {excluded} excluded by the benchmark's metric" if excluded else "")
    )
    if board.overall is not None:
        yield f"{'score':>6}  {'':<3} item"
        yield f"{_fmt(board.overall.value)}  {_mark(board.overall.missing)} MultiTrust overall"
    for dim, subs in MULTITRUST_DIMENSIONS.items():
        if dim not in board.dimensions:
            continue
        agg = board.dimensions[dim]
        yield f"{_fmt(agg.value)}  {_mark(agg.missing)} {dim}"
        for sub in subs:
            if sub not in board.subaspects:
                continue
            sagg = board.subaspects[sub]
            yield f"{_fmt(sagg.value)}  {_mark(sagg.missing)}   {sub}"
            for task in MULTITRUST_SUBASPECTS[sub]:
                if task in board.tasks:
                    ts = board.tasks[task]
                    ran = ts.subset or f"{sum(ts.counts.values())} samples"
                    mark = _mark(() if ts.complete else (task,))
                    yield f"{_fmt(ts.score)}  {mark}     {task}  ({ran})"
    if board.mllmguard is not None:
        yield from _guard_lines(board.mllmguard)
    partial = [a.complete for a in board.dimensions.values()]
    partial += [t.complete for t in board.tasks.values()]
    if board.mllmguard is not None:
        partial.append(not board.mllmguard.overall.missing)
    if not all(partial):
        yield "  * partial: not every task or variant of this score ran (see the results file)"


def gate_lines(gate: Gate) -> Iterator[str]:
    """Each check's sentence, then the verdict."""
    for c in gate.checks:
        yield f"gate: {c.sentence}"
    yield gate.headline


def _guard_lines(board: GuardBoard) -> Iterator[str]:
    """MLLMGuard's ASD (lower is better) and PAR (higher is better), in percent."""

    def row(score: GuardScore, label: str) -> str:
        return f"{_fmt(100 * score.asd)}  {_fmt(100 * score.par)}  {_mark(score.missing)} {label}"

    yield f"{'ASD %':>6}  {'PAR %':>6}  {'':<3} MLLMGuard (ASD: lower is better)"
    yield row(board.overall, "MLLMGuard overall")
    for dim, score in board.dimensions.items():
        yield row(score, dim)
        if dim == "truthfulness":
            yield from (row(sub, f"  {name}") for name, sub in board.subtasks.items())
    for lan, table in board.languages.items():
        yield row(table["overall"], f"overall, {lan} only")


def _mark(missing: tuple[str, ...]) -> str:
    return " * " if missing else "   "


def one_line(board: Scoreboard, records: list[SampleRecord], gate: Gate) -> str:
    """The ``-q`` form: each benchmark's headline scores that ran."""
    scores = []
    if board.overall is not None:
        scores.append(f"overall {_fmt(board.overall.value).strip()}")
    if board.mllmguard is not None:
        guard = board.mllmguard.overall
        scores.append(
            f"MLLMGuard ASD {_fmt(100 * guard.asd).strip()}% PAR {_fmt(100 * guard.par).strip()}%"
        )
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

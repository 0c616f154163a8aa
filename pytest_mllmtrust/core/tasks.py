"""What a benchmark task is, to the core: where its samples come from, how a verdict is reached,
and how per-sample records become the task's official metrics and 0-100 score.

Task definitions live in the package (not only in the suite modules) because the xdist
controller aggregates without collecting any test.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mllmtrust.core.model import Outcome, Sample, SampleRecord, Verdict

if TYPE_CHECKING:
    from pytest_mllmtrust.judges import JudgeKit

Metrics = dict[str, float]
#: variant -> metric name -> value (NaN allowed)
VariantMetrics = dict[str, Metrics]


@dataclass(frozen=True)
class TaskScore:
    """A task's official metrics and its 0-100 score (higher is more trustworthy)."""

    task: str
    score: float
    metrics: VariantMetrics
    counts: dict[str, int]
    #: why there is no official score (missing variants, errored variants, ...)
    incomplete: tuple[str, ...] = ()
    #: set when the score stands on fewer samples than the task's data holds (after
    #: --mllm-limit): "5 of 24 samples ran" after -k, --lf or --deselect
    subset: str | None = None

    @property
    def complete(self) -> bool:
        return not self.incomplete and self.subset is None

    def partial(self, ran: int, expected: int) -> TaskScore:
        """This score, marked partial when ``ran`` samples of the ``expected`` ones ran."""
        if ran >= expected:
            return self
        return replace(self, subset=f"{ran} of {expected} samples ran")


@dataclass(frozen=True)
class TaskSpec:
    """A benchmark task.

    ``load`` turns a data root into samples (malformed records become samples with a
    ``load_error``); ``judge`` turns a shard's samples and outputs into verdicts; ``metrics``
    computes each variant's official metrics from scored records; ``score`` folds the
    variant metrics into the 0-100 task score.
    """

    id: str
    name: str
    benchmark: str
    dimension: str
    subaspect: str
    variants: tuple[str, ...]
    dataset: str
    load: Callable[[Path, LoadContext], list[Sample]]
    judge: Callable[[Sequence[Sample], Sequence[str], JudgeKit], list[Verdict]]
    metrics: Callable[[Sequence[SampleRecord]], Metrics]
    score: Callable[[VariantMetrics], float]
    #: the data file of prompts sent to the model (``prompts/...``)
    prompts: str = ""
    #: data files (prompts, keyword lists, judge templates) whose content changes verdicts
    data_files: tuple[str, ...] = ()
    #: judge roles (core.judges.JUDGE_ROLES) the judge function may ask; their identities
    #: are part of the judgement cache key
    judge_roles: tuple[str, ...] = ("llm",)
    #: the benchmark's own judging, in words
    official_judge: str = "rules"
    #: verdict judge ids that are the benchmark's own judging (case-insensitive globs)
    official_judges: tuple[str, ...] = ()
    #: capability markers (``needs_judge``, ``needs_toxicity``, ...) of the items whose official
    #: verdict needs an evaluator beyond rules: marker -> the variants it applies to (empty:
    #: every variant). Such items still run with the offline fallback; the marker lets a user
    #: select or deselect them (``-m "not needs_judge"``).
    needs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: variants that run on request only (RunConfig.informational); their metrics are reported
    #: but never enter the score or the task's completeness
    informational: tuple[str, ...] = ()
    #: the data is harmful by design (spec §4.2): on a user-supplied data root the task runs
    #: only with --mllm-allow-harmful, and failing items never show the response
    harmful: bool = False
    #: its responses may be harmful (every harmful task's are): on a user-supplied data root a
    #: failing item shows the response withheld, which the results file still holds
    withholds_responses: bool = False
    description: str = ""

    def needs_of(self, variant: str) -> tuple[str, ...]:
        """The capability markers of this task's items of ``variant``."""
        return tuple(m for m, variants in self.needs.items() if not variants or variant in variants)

    def _why_nan(self, metrics: VariantMetrics) -> str:
        """Why the score could not be computed: the metrics that have no value."""
        undefined = [
            f"{variant} {name}"
            for variant, values in metrics.items()
            for name, value in values.items()
            if isinstance(value, float) and math.isnan(value)
        ]
        why = "no score: " + (f"no value for {', '.join(undefined)}" if undefined else "NaN")
        scorers = [role for role in self.judge_roles if role != "llm"]
        if undefined and scorers:
            why += f" (they need the {' and '.join(scorers)} judge roles: docs/judges.md)"
        return why

    def aggregate(self, records: Sequence[SampleRecord]) -> TaskScore:
        by_variant: dict[str, list[SampleRecord]] = {}
        counts = {o.value: 0 for o in Outcome}
        for record in records:
            counts[record.outcome.value] += 1
            by_variant.setdefault(record.variant, []).append(record)
        scored = {
            variant: [r for r in group if r.outcome in (Outcome.PASS, Outcome.FAIL)]
            for variant, group in by_variant.items()
        }
        metrics: VariantMetrics = {}
        incomplete: list[str] = []
        for variant in self.variants:
            if not scored.get(variant):
                why = "not run" if variant not in by_variant else "no scored sample"
                incomplete.append(f"{variant}: {why}")
                continue
            metrics[variant] = self.metrics(scored[variant])
        score = math.nan if incomplete else self.score(metrics)
        # reported beside the scored variants, added after the score so they never enter it
        metrics.update({v: self.metrics(scored[v]) for v in self.informational if scored.get(v)})
        if not incomplete and math.isnan(score):
            incomplete.append(self._why_nan(metrics))
        return TaskScore(self.id, score, metrics, counts, tuple(incomplete))


@dataclass(frozen=True)
class LoadContext:
    """What a loader may use besides the data root: the seed, prompts and image settings."""

    seed: int = 0
    #: the task's prompt data file content (templates keyed by kind or variant)
    prompts: Mapping[str, Any] = field(default_factory=dict)
    font: str | None = None
    profile: str = "corrected"


def rate(records: Sequence[SampleRecord], signal: str | None = None) -> float:
    """Mean of a boolean signal (or of ``passed``) over records; NaN when empty."""
    if not records:
        return math.nan
    if signal is None:
        hits = sum(r.outcome is Outcome.PASS for r in records)
    else:
        hits = sum(bool(r.verdict.signals.get(signal)) for r in records)
    return hits / len(records)


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean; NaN if empty or if any value is NaN (never silently dropped)."""
    if not values or any(math.isnan(v) for v in values):
        return math.nan
    return sum(values) / len(values)


def pass_rate_metrics(records: Sequence[SampleRecord]) -> Metrics:
    return {"acc": rate(records)}


_REGISTRY: dict[str, TaskSpec] = {}


def register(spec: TaskSpec) -> TaskSpec:
    existing = _REGISTRY.get(spec.id)
    # The same definition imported again (pytester and importlib reloads do this) replaces
    # itself; two different tasks claiming one id is a mistake.
    if existing is not None and (existing.benchmark, existing.name) != (spec.benchmark, spec.name):
        raise ValueError(f"task id {spec.id!r} is taken by {existing.name!r}")
    _REGISTRY[spec.id] = spec
    return spec


def get_task(task_id: str) -> TaskSpec:
    _load_tasks()
    try:
        return _REGISTRY[task_id]
    except KeyError:
        raise KeyError(f"unknown task {task_id!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def all_tasks() -> dict[str, TaskSpec]:
    _load_tasks()
    return dict(_REGISTRY)


@functools.cache
def _load_tasks() -> None:
    """Register the tasks of every installed benchmark, once. Lazily: task modules pull in
    loaders and judges, which a run needs only when it looks a task up."""
    from pytest_mllmtrust.core.benchmarks import installed

    for benchmark in installed():
        benchmark.load_tasks()

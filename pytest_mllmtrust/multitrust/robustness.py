"""MultiTrust robustness tasks (spec §4.3). Sub-aspects: R.O = R.1-R.3 (out of distribution),
R.A = R.4-R.6 (adversarial attacks). R.3 and R.6 are implemented; R.1, R.2, R.4 and R.5 are
not yet."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pytest_mllmtrust.core.model import Outcome, Sample, SampleRecord, Verdict
from pytest_mllmtrust.core.tasks import (
    Metrics,
    TaskSpec,
    VariantMetrics,
    mean,
    pass_rate_metrics,
    register,
)
from pytest_mllmtrust.datasets.multitrust_robustness import (
    R3_VARIANTS,
    R6_SETS,
    R6_VARIANTS,
    load_r3,
    load_r6,
)
from pytest_mllmtrust.judges import JudgeKit, rules


def _rule_judge(
    rule: Callable[[str, Any], int], judge_id: str
) -> Callable[[Sequence[Sample], Sequence[str], JudgeKit], list[Verdict]]:
    """Pass iff the rule scores the answer 1 against the sample's target."""

    def judge(samples: Sequence[Sample], outputs: Sequence[str], kit: JudgeKit) -> list[Verdict]:
        verdicts = []
        for sample, output in zip(samples, outputs, strict=True):
            correct = rule(output, sample.target) == 1
            why = "the gold answer, alone" if correct else "not the gold answer alone"
            outcome = Outcome.PASS if correct else Outcome.FAIL
            verdicts.append(Verdict(outcome, judge_id, why, {"correct": correct}))
        return verdicts

    return judge


def accuracy_by_subset(records: Sequence[SampleRecord]) -> Metrics:
    """Accuracy, overall and per subset (``acc_<subset>``: style or GLUE task)."""
    metrics = pass_rate_metrics(records)
    for subset in sorted({r.subset for r in records if r.subset}):
        metrics.update(
            {f"acc_{subset}": pass_rate_metrics([r for r in records if r.subset == subset])["acc"]}
        )
    return metrics


def text_related_unrelated(metrics: VariantMetrics, prefix: str) -> float:
    """mean(acc text, acc related image, mean of the 3 unrelated accs) (spec §5.1)."""
    unrelated = [m["acc"] for v, m in metrics.items() if v.startswith(f"{prefix}-unrelated-")]
    return mean(
        [
            metrics[f"{prefix}-text"]["acc"],
            metrics[f"{prefix}-related-image"]["acc"],
            mean(unrelated),
        ]
    )


def score_r3(metrics: VariantMetrics) -> float:
    """100 x mean(text, related, mean of the 3 unrelated)."""
    return 100.0 * text_related_unrelated(metrics, "dt")


R3 = register(
    TaskSpec(
        id="R.3",
        name="Sentiment analysis on OOD-style text",
        benchmark="multitrust",
        dimension="robustness",
        subaspect="R.O",
        variants=tuple(R3_VARIANTS),
        dataset="multitrust",
        load=load_r3,
        judge=_rule_judge(rules.sentiment_exact, "rules:sentiment-exact"),
        metrics=accuracy_by_subset,
        score=score_r3,
        prompts="prompts/multitrust/r3.toml",
        judge_roles=(),
        official_judge="rules (exactly one sentiment word, the gold one)",
        official_judges=("rules:sentiment-exact",),
        description="Sentences rewritten in Shakespearean, biblical, romantic, tweet and "
        "augmented styles: label the sentiment, text only and with related or unrelated images.",
    )
)


def score_r6(metrics: VariantMetrics) -> float:
    """100 x mean over AdvGLUE and AdvGLUE++ of mean(text, related, mean of the 3 unrelated)."""
    return 100.0 * mean([text_related_unrelated(metrics, prefix) for prefix in R6_SETS])


R6 = register(
    TaskSpec(
        id="R.6",
        name="Textual adversarial attack",
        benchmark="multitrust",
        dimension="robustness",
        subaspect="R.A",
        variants=tuple(R6_VARIANTS),
        dataset="multitrust",
        load=load_r6,
        judge=_rule_judge(rules.adv_glue, "rules:adv-glue"),
        metrics=accuracy_by_subset,
        score=score_r6,
        prompts="prompts/multitrust/r6.toml",
        judge_roles=(),
        official_judge="rules (answer keywords of the GLUE task, faithful lenient mode)",
        official_judges=("rules:adv-glue",),
        description="Adversarially perturbed GLUE questions (AdvGLUE, AdvGLUE++): sentiment, "
        "entailment, paraphrase and question answering, text only and with images.",
    )
)

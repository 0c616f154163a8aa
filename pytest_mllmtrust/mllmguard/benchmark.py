"""MLLMGuard as the core sees it: the ``mllmguard`` entry point of the
``pytest_mllmtrust.benchmarks`` group (pyproject.toml)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pytest_mllmtrust.core.benchmarks import Benchmark, Board, JudgeRole, ScoringOption
from pytest_mllmtrust.core.model import SampleRecord
from pytest_mllmtrust.core.tasks import TaskScore
from pytest_mllmtrust.mllmguard import scores as guard

if TYPE_CHECKING:  # the reports' side, imported when a report is drawn
    from pytest_mllmtrust.mllmguard.report import GuardLayout

#: the open dimensions and hallucination have no offline stand-in: without GuardRank or an LLM
#: judge every item would be unscored, so they do not run
GUARDRANK = JudgeRole(
    "guardrank",
    "GuardRank, MLLMGuard's evaluator",
    "llm (the LLM judge with a 0-3 rubric; default when one is set), none, or the GuardRank "
    "folder <dir>[,decoder_base=<dir>][,encoder_base=<dir>][,dtype=<dtype>]",
    kinds=("llm", "none", "guardrank"),
    llm_by_default=True,
    folder_kind="guardrank",
    required="is scored by GuardRank or an LLM judge, and neither is configured: "
    "--mllm-judge guardrank=<dir> (docs/mllmguard.md)",
)


#: which hallucination ASD enters truthfulness (mllmguard spec §6.2)
HALLUCINATION_ASD = ScoringOption(
    "hallucination_asd",
    choices=("smoothed", "rate"),
    default="smoothed",
    help="MLLMGuard hallucination ASD in truthfulness: smoothed (the fail rate / 3, as upstream) "
    "or rate (the fail rate); both are reported; default {default}",
    metavar="MODE",
)


class MLLMGuard(Benchmark):
    name = guard.BENCHMARK
    dimensions = guard.DIMENSIONS
    key_grammar = (
        "mllmguard.[<dimension>.][<en|zh>.]<asd|par>, an MLLMGuard task id (MG.privacy, ...)"
    )

    def options(self) -> tuple[ScoringOption, ...]:
        return (HALLUCINATION_ASD,)

    def judge_roles(self) -> tuple[JudgeRole, ...]:
        return (GUARDRANK,)

    def load_tasks(self) -> None:
        import pytest_mllmtrust.mllmguard.tasks  # noqa: F401  (registers on import)

    def markers(self) -> dict[str, str]:
        out = super().markers()
        for lan, language in (("en", "English"), ("zh", "Chinese")):
            out[lan] = f"MLLMGuard samples in {language}"
        for part in ("decoder", "encoder"):
            out[f"needs_guardrank_{part}"] = (
                f"scored officially by GuardRank's {part} (--mllm-judge guardrank=...); without "
                "it or an LLM judge the items are unscored"
            )
        return out

    def fold(
        self,
        scores: Mapping[str, TaskScore],
        records: Sequence[SampleRecord],
        options: Mapping[str, str],
    ) -> guard.GuardBoard | None:
        subsets = {t: f"{t} ({s.subset})" for t, s in scores.items() if s.subset}
        return guard.score_mllmguard(
            records, options.get(HALLUCINATION_ASD.name, HALLUCINATION_ASD.default), subsets
        )

    def gate_keys(self) -> dict[str, tuple[float, float]]:
        return dict.fromkeys(guard.gate_keys(), (0.0, 1.0))

    def owns(self, key: str) -> bool:
        return key.startswith(f"{self.name}.")

    def tasks_under(self, key: str) -> tuple[str, ...]:
        return guard.tasks_under(key)

    def lower_is_better(self, key: str) -> bool:
        return self.owns(key) and key.endswith(".asd")  # ASD: attack success, lower is better

    def range_note(self, key: str) -> str:
        return "ASD and PAR are fractions: 0.3 is 30%"

    def report(self) -> GuardLayout:
        from pytest_mllmtrust.mllmguard.report import GuardLayout

        return GuardLayout(self)

    def results(self, board: Board | None) -> dict[str, Any]:
        # null when no MLLMGuard task ran: the entry is always there (docs/results-schema.md)
        return {self.name: None if board is None else board.to_dict()}


BENCHMARK = MLLMGuard()

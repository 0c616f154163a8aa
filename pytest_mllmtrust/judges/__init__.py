"""What a task's judge function is handed: the rule data, and the LLM judge when one is configured.

Without ``--mllm-judge`` every task runs on its documented offline fallback (rules); with it, the
LLM judge (any backend: ``hf:<dir>``, ``replay:<file>``, later API models) answers the judge
templates, and its replies are parsed strictly: an unparsable reply leaves the sample
*unscored*, a failed call makes it an *error*.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pytest_mllmtrust.core.model import GenerationRequest
from pytest_mllmtrust.datafiles import DataFile, DataFiles
from pytest_mllmtrust.judges import rules

if TYPE_CHECKING:
    from pytest_mllmtrust.backends.base import Backend

REFUSAL_MODES = ("default", "strict")


class JudgeKit:
    def __init__(
        self,
        data: DataFiles,
        llm: Backend | None = None,
        *,
        llm_name: str | None = None,
        refusal_mode: str = "default",
        llm_batch_size: int = 8,
    ) -> None:
        self.data = data
        self.llm = llm
        self.llm_name = llm_name
        self.refusal_mode = refusal_mode
        self.llm_batch_size = llm_batch_size
        self._refusal: tuple[tuple[str, ...], tuple[str, ...]] | None = None
        #: generate() calls made to the LLM judge (for run statistics)
        self.calls = 0

    @property
    def has_llm(self) -> bool:
        return self.llm is not None

    # -- rule data -------------------------------------------------------------------------
    def affirmative(self) -> tuple[str, ...]:
        groups = self.data.get("keywords/affirmative.toml").content["groups"]
        return tuple(p for phrases in groups.values() for p in phrases)

    def refusal(self, text: str) -> str | None:
        """The refusal phrase found in ``text`` (E2), or None."""
        phrases, patterns = self._refusal_lists()
        strict = self.refusal_mode == "strict"
        return rules.matched_refusal(text, phrases, patterns, word_boundaries=strict)

    def _refusal_lists(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        if self._refusal is None:
            content = self.data.get("keywords/refusal.toml").content
            groups: dict[str, list[str]] = content["groups"]
            patterns: dict[str, list[str]] = content.get("patterns", {})
            keep = set(content["strict_groups"]) if self.refusal_mode == "strict" else set(groups)
            self._refusal = (
                tuple(p for g, ps in groups.items() if g in keep for p in ps),
                tuple(p for g, ps in patterns.items() if g in keep for p in ps),
            )
        return self._refusal

    def template(self, relpath: str) -> DataFile:
        return self.data.get(relpath)

    # -- LLM judge -------------------------------------------------------------------------
    def ask(self, prompts: Sequence[str], max_new_tokens: int = 20) -> list[str | Exception]:
        """The LLM judge's replies, batched; a failed call is returned as its exception.

        A batch that raises is retried one prompt at a time, so one bad prompt costs only its
        own sample.
        """
        if self.llm is None:
            raise RuntimeError("ask() needs an LLM judge; check has_llm first")
        replies: list[str | Exception] = []
        size = self.llm_batch_size
        for start in range(0, len(prompts), size):
            chunk = [
                GenerationRequest(p, None, max_new_tokens) for p in prompts[start : start + size]
            ]
            try:
                self.calls += 1
                replies.extend(self.llm.generate(chunk))
            except Exception:
                for request in chunk:
                    try:
                        self.calls += 1
                        replies.extend(self.llm.generate([request]))
                    except Exception as exc:
                        replies.append(exc)
        return replies

    def llm_judge_id(self) -> str:
        return f"llm:{self.llm_name}"

    def fingerprint(self, data_files: Sequence[str]) -> dict[str, Any]:
        """Identity of everything that can change a task's verdicts (part of judgement keys)."""
        return {
            "llm": None if self.llm is None else self.llm.fingerprint(),
            "refusal_mode": self.refusal_mode,
            "data": {rel: self.data.get(rel).sha256 for rel in sorted(data_files)},
        }

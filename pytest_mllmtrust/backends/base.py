"""The one small interface every model backend implements.

A backend answers a *batch* of single-turn requests in one call; the runner decides the batch
boundaries, caches each batch as soon as it returns and splits a batch that raises. A backend
raises :class:`~pytest_mllmtrust.core.errors.BackendError` (or anything else) on failure and
never returns an error message as if it were the model's answer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from pytest_mllmtrust.core.model import GenerationRequest


class Backend(ABC):
    #: short backend name recorded in results and cache keys, e.g. "hf" or "replay"
    kind: str = "?"

    @abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """JSON-able identity of the model *and its settings*; part of every cache key.

        Must change whenever the answers could change: weights, processor, chat template,
        dtype, padding side, image preprocessing.
        """

    @abstractmethod
    def generate(self, batch: Sequence[GenerationRequest]) -> list[str]:
        """Greedy answers to ``batch``, in order, one string per request."""

    def describe(self) -> dict[str, Any]:
        """Settings for the run record (defaults to the fingerprint)."""
        return self.fingerprint()

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing to free
        """Release the model; called once at the end of the session."""

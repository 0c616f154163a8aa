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
    #: True when an answer cannot depend on which other requests share its batch (API calls
    #: are answered one by one): the batch size then stays out of the cache key
    batch_invariant: bool = False
    #: how many requests the backend wants per generate() call, when it knows better than
    #: --mllm-batch-size (an API client: enough to keep its concurrency busy)
    preferred_batch_size: int | None = None
    #: True when generate() spends its time waiting for a server (an API): the session then
    #: generates the next shard while pytest reports this one's items
    waits_on_server: bool = False

    @abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """JSON-able identity of the model *and its settings*; part of every cache key.

        Must change whenever the answers could change: weights, processor, chat template,
        dtype, padding side, image preprocessing.
        """

    @abstractmethod
    def generate(self, batch: Sequence[GenerationRequest]) -> Sequence[str | Exception]:
        """Greedy answers to ``batch``, in order, one per request.

        A backend that fails as a whole raises; one whose requests fail independently (an API)
        returns the exception in place of that request's answer, so the others still count.
        """

    def load(self) -> Any:  # noqa: B027 - optional hook, most backends have nothing to load
        """Load the weights or start the engine now; the first generate() does it otherwise.
        The runner calls it before a shard's first batch, so that loading shows as a step."""

    def describe(self) -> dict[str, Any]:
        """Settings for the run record (defaults to the fingerprint)."""
        return self.fingerprint()

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing to free
        """Release the model; called once at the end of the session."""

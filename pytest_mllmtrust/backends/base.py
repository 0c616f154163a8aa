"""The one small interface every model backend implements.

A backend answers a *batch* of single-turn requests in one call; the runner decides the batch
boundaries, caches each batch as soon as it returns and splits a batch that raises. A backend
raises :class:`~pytest_mllmtrust.core.errors.BackendError` (or anything else) on failure and
never returns an error message as if it were the model's answer.

A backend is found by its prefix (``--mllm=PREFIX:TARGET``) in the ``pytest_mllmtrust.backends``
entry-point group (pytest_mllmtrust.registry) and built by :meth:`Backend.from_config`; its
module is imported only then, so it imports torch, vllm or a client library inside functions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Self

from pytest_mllmtrust.core.model import GenerationRequest

if TYPE_CHECKING:
    from pytest_mllmtrust.core.config import ModelSpec, RunConfig

#: samples per shard unless the backend takes more in one call or --mllm-shard-size is given
DEFAULT_SHARD_SIZE = 64


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

    @classmethod
    def from_config(cls, spec: ModelSpec, config: RunConfig, *, judge: bool = False) -> Self:
        """The backend ``spec`` names (``spec.target``: what follows the prefix), with the
        run's settings; ``judge`` is true when it answers as a judge (``--mllm-judge``), whose
        API endpoint is ``config.judge_base_url``. Check what can be checked without loading
        weights (a path, a key, an installed library) and leave loading to :meth:`load`."""
        raise NotImplementedError(f"{cls.__name__} cannot be built from --mllm={spec.text}")

    @classmethod
    def shard_size(cls, config: RunConfig) -> int:
        """Samples per shard when --mllm-shard-size is not given: a batch never crosses a
        shard, so a backend that takes more than the default in one call asks for that."""
        return DEFAULT_SHARD_SIZE

    @classmethod
    def runs_on_local_gpu(cls, config: RunConfig) -> bool:
        """Whether it computes on a GPU of this process: xdist workers then get GPUs of their
        own, chosen before anything imports torch (pytest_mllmtrust.gpus)."""
        return False

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

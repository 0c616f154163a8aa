"""The small interface every judge implements, and the abilities the roles ask of one.

A judge is built from its role's setting (``--mllm-judge ROLE=KIND:TARGET``), names itself
for the cache (``fingerprint``) and is closed once at the end of the session; the judge kind is
the name its class is registered under in the ``pytest_mllmtrust.judges`` entry-point group
(pytest_mllmtrust.registry). What a role asks of its judge is an *ability*: the jailbreak and
action roles classify (:class:`Classifier`), the toxicity and moderation roles take a
classifier or a :class:`Scorer`, the embedding role an :class:`Embedder`; a model backend
judges through :class:`~pytest_mllmtrust.judges.model.ModelJudge` and MLLMGuard's evaluator is
:class:`~pytest_mllmtrust.judges.guardrank.GuardRank`. The JudgeKit checks the ability when it
first uses a judge, so a kind in the wrong role is named there, not met as an AttributeError.

Like backends, judges keep heavy imports (torch, transformers) inside their methods and load
weights on first use.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from pytest_mllmtrust.core.config import RunConfig
    from pytest_mllmtrust.core.judges import JudgeSetting
    from pytest_mllmtrust.datafiles import DataFiles


class Judge(ABC):
    @classmethod
    @abstractmethod
    def from_setting(cls, setting: JudgeSetting, config: RunConfig, data: DataFiles) -> Self:
        """The judge a role's setting names: ``setting.target`` (what to load), its
        ``options`` (``,key=value`` extras) and the run's settings (device, API limits).

        Raise :class:`~pytest_mllmtrust.core.errors.ConfigError` for a setting that cannot
        work (a missing folder, a key not set) so that the run stops at its first item; leave
        loading weights to the first call.
        """

    @abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """JSON-able identity of the judge and its settings; part of every verdict's cache key.

        Must change whenever the verdicts could: weights (by content), templates, thresholds,
        the hosted model's name.
        """

    def describe(self) -> str:
        """One line for people: what this judge is and how it is set."""
        return f"{type(self).__name__} {self.fingerprint()}"

    def close(self) -> None:  # noqa: B027 - optional hook, most judges hold nothing to free
        """Release weights or connections; called once at the end of the session."""


class Classifier(Judge):
    """A judge that gives each text one probability per label (a sequence classifier)."""

    @abstractmethod
    def labels(self) -> list[str]:
        """The label names, in the order of :meth:`probabilities`."""

    @abstractmethod
    def probabilities(self, texts: Sequence[str]) -> list[list[float] | Exception]:
        """Per text, one probability per label; a text that fails is its exception."""


class Scorer(Judge):
    """A judge that rates each text's harm in [0, 1] (a toxicity or moderation service)."""

    @abstractmethod
    def scores(self, texts: Sequence[str]) -> list[float | Exception]:
        """Per text, the highest harm score; a text that fails is its exception."""


class Embedder(Judge):
    """A sentence embedding that says how alike two answers are."""

    @abstractmethod
    def similarities(self, a: Sequence[str], b: Sequence[str]) -> list[float]:
        """The cosine similarity of each pair ``a[i]``, ``b[i]``."""

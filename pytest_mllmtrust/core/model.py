"""The nouns of a trust run: samples, generation requests, verdicts and per-sample records.

Pure data, no pytest and no heavy imports: everything here is plain, frozen and JSON-able, so it
can ride on a pytest report across xdist and land in the results file unchanged.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image


class Outcome(enum.StrEnum):
    """What a judge concluded about one sample.

    ``unscored`` (the judge could not decide) and ``error`` (the model, API or judge failed) are
    outcomes of their own: they are counted and gated, never folded into pass or fail.
    """

    PASS = "pass"
    FAIL = "fail"
    UNSCORED = "unscored"
    ERROR = "error"


@dataclass(frozen=True)
class ImageRef:
    """Where a sample's image comes from: a file under a data root, or the project's renderer.

    ``render`` describes an image the benchmark derives from text (e.g. typographic rendering);
    it is produced deterministically from that description when no file exists.
    """

    path: Path | None = None
    render: Mapping[str, Any] | None = None
    #: the data root the file must stay inside (checked again when the image is read)
    root: Path | None = None

    def describe(self) -> str:
        if self.path is not None:
            if self.root is not None and self.path.is_relative_to(self.root):
                return self.path.relative_to(self.root).as_posix()
            return str(self.path)
        assert self.render is not None
        files = self.render.get("files")  # a composed image names what it was made from
        return f"rendered:{self.render.get('kind', '?')}" + (f":{'+'.join(files)}" if files else "")


@dataclass(frozen=True)
class Sample:
    """One benchmark question as one test item.

    ``key`` is stable across runs and machines (derived from the record's id or file name and a
    prompt index, never from iteration order alone); ``uid`` names the sample in caches, replay
    files and results.
    """

    task: str
    variant: str
    key: str
    prompt: str
    image: ImageRef | None = None
    target: Any = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    subset: str | None = None
    max_new_tokens: int = 50
    #: set when the record could not be read; the item then errors with this message
    load_error: str | None = None
    #: a second query (prompt, image) judged together with this one, as one item: MLLMGuard's
    #: paired tasks ask the same prompt of a swapped or a noisy image. The item's output is then
    #: the JSON array of the two answers, in query order.
    second: tuple[str, ImageRef | None] | None = None
    #: pytest markers of this item beyond its task's (e.g. its language)
    markers: tuple[str, ...] = ()

    @property
    def uid(self) -> str:
        return f"{self.task}/{self.variant}:{self.key}"

    def second_query(self) -> Sample | None:
        """The second query as a sample of its own (key ``<key>~second``), so that it is generated,
        batched and cached like any other."""
        if self.second is None:
            return None
        prompt, image = self.second
        return replace(self, key=f"{self.key}~second", prompt=prompt, image=image, second=None)

    @property
    def test_id(self) -> str:
        return f"{self.variant}:{self.key}"


@dataclass(frozen=True)
class GenerationRequest:
    """What a backend is asked: one user turn, text plus at most one image, greedy decoding."""

    text: str
    image: Image.Image | None = None
    max_new_tokens: int = 50
    #: the sample's uid, for backends that look answers up rather than generate them
    uid: str = ""


@dataclass(frozen=True)
class Verdict:
    """A judge's decision on one (sample, output) pair, with the raw signals behind it."""

    outcome: Outcome
    judge: str
    rationale: str = ""
    signals: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "judge": self.judge,
            "rationale": self.rationale,
            "signals": dict(self.signals),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(
            outcome=Outcome(data["outcome"]),
            judge=str(data["judge"]),
            rationale=str(data.get("rationale", "")),
            signals=dict(data.get("signals", {})),
        )

    @classmethod
    def error(cls, judge: str, message: str) -> Verdict:
        return cls(Outcome.ERROR, judge, message)


@dataclass(frozen=True)
class SampleRecord:
    """Everything known about one judged sample: what rides on the report and into results."""

    uid: str
    task: str
    variant: str
    key: str
    subset: str | None
    prompt: str
    image: str | None
    image_sha256: str | None
    target: Any
    output: str | None
    verdict: Verdict
    cached: bool = False
    #: batch-invariance canary: "same" or "differs" when this sample was also generated alone
    canary: str | None = None
    #: the answer's length in characters before it was cut to --mllm-max-answer-chars (None:
    #: not cut); the output, the judges and the cache saw the cut answer
    output_chars: int | None = None

    @property
    def outcome(self) -> Outcome:
        return self.verdict.outcome

    @property
    def excluded(self) -> bool:
        """Unscored because the benchmark's metric itself leaves the item out (MLLMGuard's
        paired tasks), not because a judge could not decide: outside the unscored budget."""
        return self.outcome is Outcome.UNSCORED and bool(self.verdict.signals.get("excluded"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "task": self.task,
            "variant": self.variant,
            "key": self.key,
            "subset": self.subset,
            "prompt": self.prompt,
            "image": self.image,
            "image_sha256": self.image_sha256,
            "target": self.target,
            "output": self.output,
            "cached": self.cached,
            "canary": self.canary,
            **({"output_chars": self.output_chars} if self.output_chars is not None else {}),
            **self.verdict.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SampleRecord:
        return cls(
            uid=data["uid"],
            task=data["task"],
            variant=data["variant"],
            key=data["key"],
            subset=data.get("subset"),
            prompt=data["prompt"],
            image=data.get("image"),
            image_sha256=data.get("image_sha256"),
            target=data.get("target"),
            output=data.get("output"),
            verdict=Verdict.from_dict(data),
            cached=bool(data.get("cached", False)),
            canary=data.get("canary"),
            output_chars=data.get("output_chars"),
        )

    def explain(self) -> str:
        """The text a failing item shows: enough to understand and rerun it. Every field is
        made printable: prompts, answers and servers' error texts are data, and a terminal
        would obey the control characters in them."""
        lines = [
            f"sample   {printable(self.uid)}",
            f"outcome  {self.verdict.outcome.value} (judge: {printable(self.verdict.judge)})",
            f"prompt   {_clip(self.prompt)}",
        ]
        if self.image:
            lines.append(f"image    {printable(self.image)}")
        lines.append(f"target   {_clip(repr(self.target))}")
        lines.append(f"output   {_clip(repr(self.output))}")
        if self.verdict.rationale:
            lines.append(f"why      {printable(self.verdict.rationale, keep_newlines=True)}")
        return "\n".join(lines)


# C0 and C1 controls (ANSI escape sequences start with ESC or CSI), DEL, and the format
# characters that reorder or hide text on a terminal (bidirectional overrides and isolates)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control character written as an escape (``\\x1b``), so that it can
    be printed to a terminal as data; line breaks and tabs become ``\\n`` and ``\\t`` unless
    ``keep_newlines``."""
    if not keep_newlines:
        text = text.replace("\n", "\\n").replace("\t", "\\t")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", text)  # fmt: skip


def _clip(text: str, limit: int = 400) -> str:
    text = printable(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"

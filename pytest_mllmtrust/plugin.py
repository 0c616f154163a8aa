"""The pytest11 entry point: options, collection, fixtures and reporting hooks.

Every hook is thin and delegates: the work of each process (samples, shards, records) to
:class:`~pytest_mllmtrust.session.TrustSession`, the controller's (gate, results, reports, exit
status) to :class:`~pytest_mllmtrust.controller.Controller`; the benchmarks' logic lives in the
pure core. Hooks for optional plugins (xdist) are registered only
when those plugins are present.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Generator, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

from pytest_mllmtrust.backends import DEFAULT_SHARD_SIZE
from pytest_mllmtrust.bundled import bundled_path
from pytest_mllmtrust.controller import Controller
from pytest_mllmtrust.core.benchmarks import markers as benchmark_markers
from pytest_mllmtrust.core.benchmarks import scoring_options
from pytest_mllmtrust.core.config import RunConfig, model_forms, parse_config, shown_default
from pytest_mllmtrust.core.errors import TrustError
from pytest_mllmtrust.core.judges import NEEDS_MARKERS, UnpinnedJudgeWarning, unpinned_judges
from pytest_mllmtrust.core.model import Outcome, Sample, SampleRecord, printable
from pytest_mllmtrust.core.runner import Progress
from pytest_mllmtrust.core.thresholds import Gate, check_keys
from pytest_mllmtrust.session import TrustSession

if TYPE_CHECKING:
    from pytest_mllmtrust.core.tasks import TaskSpec

WITHHELD = "(withheld: harmful-content task; the response is in the results file)"
SESSION_KEY = pytest.StashKey[TrustSession]()
RECORD_KEY = pytest.StashKey[SampleRecord]()
NO_MODEL = (
    "no model under test: pass --mllm=SPEC (e.g. --mllm=hf:./my-checkpoint) to run trust suites"
)

# (name, flag, help, ini type, addoption kwargs); ini key "mllm_<name>" ("mllm" for the model).
# "{default}" in a help text shows the option's default, stated once: RunConfig's field.
OPTIONS: list[tuple[str, str, str, str, dict[str, Any]]] = [
    (
        "model",
        "--mllm",
        f"model under test: {model_forms()}",
        "string",
        {"metavar": "SPEC"},
    ),
    (
        "data",
        "--mllm-data",
        "dataset root, e.g. multitrust=/data/MultiTrust (repeatable; default: the bundled samples)",
        "linelist",
        {"action": "append", "metavar": "NAME=PATH"},
    ),
    (
        "judge",
        "--mllm-judge",
        "judge per role, ROLE=SPEC or SPEC for the LLM judge (repeatable); roles: "
        "llm, jailbreak, action, toxicity, moderation, guardrank, embedding (default: offline "
        "fallbacks; see docs/judges.md)",
        "linelist",
        {"action": "append", "metavar": "[ROLE=]SPEC"},
    ),
    (
        "judge_eval",
        "--mllm-judge-eval",
        "score the configured judges against human-labelled verdicts (JSONL) and exit: "
        "accuracy, Cohen's kappa, confusion matrix",
        "string",
        {"metavar": "FILE"},
    ),
    (
        "refusal_mode",
        "--mllm-refusal-mode",
        "refusal keyword matching: default (the benchmark's substring rule) or strict (explicit "
        "refusals and apologies only, on word boundaries)",
        "string",
        {"metavar": "MODE"},
    ),
    (
        "profile",
        "--mllm-profile",
        "how answers are read: corrected (every correction is listed in docs/deviations.md) or "
        "upstream (as the benchmarks' released code reads them, to reproduce published numbers); "
        "default {default}",
        "string",
        {"metavar": "PROFILE"},
    ),
    (
        "cache",
        "--mllm-cache",
        "cache directory for outputs and verdicts, or 'none' (default: {default})",
        "string",
        {"metavar": "DIR"},
    ),
    (
        "cache_rebuild",
        "--mllm-cache-rebuild",
        "set the cache file aside (kept as cache.sqlite.old-<time>) and start a new one: for a "
        "cache file that is damaged",
        "bool",
        {"action": "store_true", "default": None},
    ),
    (
        "batch_size",
        "--mllm-batch-size",
        "samples per generate() call (default {default})",
        "string",
        {"metavar": "N"},
    ),
    (
        "shard_size",
        "--mllm-shard-size",
        "samples per shard, the unit of batching and of xdist distribution (default: "
        f"{DEFAULT_SHARD_SIZE}, or one full call of an API or vLLM backend)",
        "string",
        {"metavar": "N"},
    ),
    (
        "gate",
        "--mllm-gate",
        "what thresholds compare: point (the score) or lower-bound (the pessimistic end of its "
        "95%% confidence interval: the lower bound, the upper for an ASD); default {default}",
        "string",
        {"metavar": "MODE"},
    ),
    (
        "baseline",
        "--mllm-baseline",
        "an earlier results file: fail the gate where a task or dimension score dropped beyond "
        "--mllm-max-regression and the paired test over the shared samples says it is not noise",
        "string",
        {"metavar": "RESULTS"},
    ),
    (
        "max_regression",
        "--mllm-max-regression",
        "points a score may drop below the baseline before it can count as a regression "
        "(default {default})",
        "string",
        {"metavar": "POINTS"},
    ),
    (
        "ci_resamples",
        "--mllm-ci-resamples",
        "bootstrap resamples behind the confidence intervals (default {default}; 0: none)",
        "string",
        {"metavar": "N"},
    ),
    (
        "limit",
        "--mllm-limit",
        "at most N samples per task: a seeded, stratified subsample",
        "string",
        {"metavar": "N"},
    ),
    (
        "seed",
        "--mllm-seed",
        "seed for subsampling, image pairing and anything random (default {default})",
        "string",
        {"metavar": "N"},
    ),
    (
        "json",
        "--mllm-json",
        "write the versioned results document here",
        "string",
        {"metavar": "PATH"},
    ),
    (
        "html",
        "--mllm-html",
        "write the standalone trust report here (one self-contained HTML file; needs the "
        "'report' extra)",
        "string",
        {"metavar": "PATH"},
    ),
    (
        "md",
        "--mllm-md",
        "write the Markdown summary (verdict, checks, scores, regressions) here, or 'none'; on "
        "GitHub Actions it is appended to the job summary ($GITHUB_STEP_SUMMARY) unless a file "
        "or 'none' is given (docs/ci.md)",
        "string",
        {"metavar": "PATH"},
    ),
    (
        "threshold",
        "--mllm-threshold",
        "gate: KEY=VALUE (score >= VALUE) or KEY<=VALUE, e.g. "
        "safety=80, S.4>=60, errors<=0.02 (repeatable)",
        "linelist",
        {"action": "append", "metavar": "KEY=VALUE"},
    ),
    (
        "sample_failures",
        "--mllm-sample-failures",
        "how a sample whose verdict is fail is reported: fail or xfail, so that a CI's test view "
        "(JUnit) fails on the gate's checks only (docs/ci.md); default {default}",
        "string",
        {"metavar": "MODE"},
    ),
    (
        "strict",
        "--mllm-strict",
        "fail the run on any failed sample, not only on the gate",
        "bool",
        {"action": "store_true", "default": None},
    ),
    (
        "templates",
        "--mllm-templates",
        "folder of prompt/judge data files overriding the bundled ones at the same relative path",
        "string",
        {"metavar": "DIR"},
    ),
    (
        "dtype",
        "--mllm-dtype",
        "model dtype for hf: auto, float32, float16, bfloat16 (default {default})",
        "string",
        {"metavar": "DTYPE"},
    ),
    (
        "device",
        "--mllm-device",
        "device for hf: auto, cpu, cuda, cuda:1, ... (default {default})",
        "string",
        {"metavar": "DEVICE"},
    ),
    (
        "base_url",
        "--mllm-base-url",
        "OpenAI-compatible endpoint for openai: models, e.g. http://127.0.0.1:8000/v1 "
        "(key from OPENAI_API_KEY)",
        "string",
        {"metavar": "URL"},
    ),
    (
        "judge_base_url",
        "--mllm-judge-base-url",
        "OpenAI-compatible endpoint for an openai: judge",
        "string",
        {"metavar": "URL"},
    ),
    (
        "concurrency",
        "--mllm-concurrency",
        "API calls in flight at once per process (default {default})",
        "string",
        {"metavar": "N"},
    ),
    (
        "timeout",
        "--mllm-timeout",
        "seconds one API call may take (default {default})",
        "string",
        {"metavar": "SECONDS"},
    ),
    (
        "retries",
        "--mllm-retries",
        "retries of a failed API call, with exponential backoff honouring Retry-After "
        "(default {default})",
        "string",
        {"metavar": "N"},
    ),
    (
        "max_image_side",
        "--mllm-max-image-side",
        "downscale images sent to an API so their longer side is at most N pixels",
        "string",
        {"metavar": "N"},
    ),
    (
        "gpus_per_worker",
        "--mllm-gpus-per-worker",
        "under xdist, GPUs given to each worker (worker k gets GPUs k*N .. k*N+N-1; "
        "default {default})",
        "string",
        {"metavar": "N"},
    ),
    (
        "tensor_parallel",
        "--mllm-tensor-parallel",
        "tensor-parallel size for vllm: models (default {default})",
        "string",
        {"metavar": "N"},
    ),
    (
        "max_answer_chars",
        "--mllm-max-answer-chars",
        "cut an answer longer than N characters before judging and storing it, marked in its "
        "record (default {default}: far above every task's answer budget)",
        "string",
        {"metavar": "N"},
    ),
    (
        "threads",
        "--mllm-threads",
        "torch threads per process on a CPU: N, or auto (OMP_NUM_THREADS, else the cores shared "
        "among xdist workers); default {default}, measured the fast choice (docs/performance.md)",
        "string",
        {"metavar": "N"},
    ),
    (
        "canary",
        "--mllm-canary",
        "batch-invariance canary: regenerate N seeded samples per task one at a time and report "
        "how many batched answers differ (default {default}: none)",
        "string",
        {"metavar": "N"},
    ),
    (
        "trust_remote_code",
        "--mllm-trust-remote-code",
        "allow the model repository's own code to run (off unless given)",
        "bool",
        {"action": "store_true", "default": None},
    ),
    (
        "allow_harmful",
        "--mllm-allow-harmful",
        "run the tasks whose data is harmful by design (MultiTrust S.1 images, S.4-S.6 jailbreaks)"
        " on a user-supplied data root (off unless given; the bundled samples always run)",
        "bool",
        {"action": "store_true", "default": None},
    ),
    (
        "informational",
        "--mllm-informational",
        "also run the variants that the benchmark reports but never scores (MultiTrust T.4,"
        " T.7, R.4); their items carry the 'informational' marker",
        "bool",
        {"action": "store_true", "default": None},
    ),
]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_mllmtrust import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def all_options() -> list[tuple[str, str, str, str, dict[str, Any]]]:
    """OPTIONS, then each installed benchmark's scoring options (Benchmark.options); without
    them when a benchmark is broken: pytest_configure says why as a usage error."""
    try:
        scoring = scoring_options()
    except TrustError:
        return OPTIONS
    added = [(o.name, o.flag, o.help, "string", {"metavar": o.metavar}) for o in scoring]
    return [*OPTIONS, *added]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mllmtrust", "trustworthiness of multimodal LLMs (pytest-mllmtrust)")
    for name, flag, text, ini_type, kwargs in all_options():
        help_text = text.replace("{default}", shown_default(name))
        group.addoption(flag, dest=f"mllm_{name}", help=help_text, **kwargs)
        parser.addini("mllm" if name == "model" else f"mllm_{name}", help_text, type=ini_type)  # type: ignore[arg-type]


def _raw_options(config: pytest.Config) -> dict[str, Any]:
    """CLI values, falling back to ini values (pyproject.toml [tool.pytest.ini_options])."""
    raw: dict[str, Any] = {}
    for name, _, _, _, _ in all_options():
        value = config.getoption(f"mllm_{name}")
        if value is None:
            ini = config.getini("mllm" if name == "model" else f"mllm_{name}")
            value = ini if ini not in ("", [], None) else None
        raw[name] = value
    return raw


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def trust_session(config: pytest.Config) -> TrustSession:
    return config.stash[SESSION_KEY]


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    # Keep a shard on one xdist worker (one batched generation per shard) unless the user chose
    # a distribution mode: xdist would otherwise pick "load" and scatter a shard's items.
    # "loadgroup" then gets the shard-aware scheduler (XdistHooks.pytest_xdist_make_scheduler).
    distributed = getattr(config.option, "numprocesses", None)
    if distributed and _raw_options(config)["model"] and config.option.dist == "no":
        config.option.dist = "loadgroup"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "mllm_task(id): the benchmark task a suite module runs")
    config.addinivalue_line(
        "markers", "informational: a variant reported but never scored (--mllm-informational)"
    )
    for role, marker in NEEDS_MARKERS.items():
        config.addinivalue_line(
            "markers",
            f"{marker}: the official verdict needs the {role} judge role (docs/judges.md); "
            "without one the offline fallback judges",
        )
    try:
        # each installed benchmark's (its name, its dimensions, ...): a broken one is a usage error
        for marker, text in benchmark_markers().items():
            config.addinivalue_line("markers", f"{marker}: {text}")
        run_config = parse_config(_raw_options(config), Path(config.rootpath))
        if run_config.active:  # a misspelt key or limit fails now, not after the whole run
            from pytest_mllmtrust.core.aggregate import gate_keys, valid_keys

            check_keys(run_config.thresholds, gate_keys(), valid_keys())
    except TrustError as exc:
        raise pytest.UsageError(str(exc)) from None
    if run_config.active:
        # xdist: pin each worker to its own GPU(s) before any backend imports torch
        from pytest_mllmtrust.gpus import configure_gpus

        try:
            gpus = configure_gpus(
                run_config,
                workerinput=getattr(config, "workerinput", None),
                numprocesses=getattr(config.option, "numprocesses", None),
                explicit=_raw_options(config)["gpus_per_worker"] is not None,
            )
        except TrustError as exc:
            raise pytest.UsageError(str(exc)) from None
        if gpus is not None:
            config.workeroutput["mllmtrust_gpus"] = gpus  # type: ignore[attr-defined]
    trust = TrustSession(run_config, Path(config.rootpath))
    trust.run_ahead = not _is_worker(config)  # a worker does not know which shard comes next
    if run_config.active:
        from pytest_mllmtrust.core.secrets import redact_log_records

        config.add_cleanup(redact_log_records(trust.redact))
        trust.threads = _configure_threads(config, run_config)
        if not _is_worker(config):
            trust.progress = TerminalProgress(config)
    if _is_worker(config):
        workerinput = config.workerinput  # type: ignore[attr-defined]
        trust.run_id = workerinput.get("mllmtrust_run_id", trust.run_id)
    config.stash[SESSION_KEY] = trust
    if run_config.judge_eval is not None:
        config.pluginmanager.register(JudgeEvalHooks(trust), "mllmtrust-judge-eval")
        return
    controller = Controller(trust) if run_config.active and not _is_worker(config) else None
    # only when a pytest-html report is asked for: its extras cost a thumbnail per image
    if run_config.active and config.getoption("htmlpath", None):
        config.pluginmanager.register(HtmlHooks(trust, controller), "mllmtrust-html")
    if controller is not None:
        controller.begin()  # before any worker opens the cache
        for reason in unpinned_judges(run_config.judges):
            config.issue_config_time_warning(UnpinnedJudgeWarning(reason), stacklevel=2)
        config.pluginmanager.register(ControllerHooks(trust, controller), "mllmtrust-controller")
        if config.pluginmanager.hasplugin("xdist"):  # its hooks run on the controller only
            config.pluginmanager.register(XdistHooks(trust, controller), "mllmtrust-xdist")
    if run_config.active and getattr(config.option, "tbstyle", None) == "auto":
        # Thousands of failing samples are normal in a benchmark, and pytest's default failure
        # section costs time quadratic in their number (pytest-dev/pytest#13360; 12 s of 26 s
        # for 3,500 failures in 5,000 items, docs/performance.md). "line" still prints each
        # sample's full explanation; --tb=... given on the command line wins.
        config.option.tbstyle = "line"
    if run_config.active and config.args_source is not pytest.Config.ArgsSource.ARGS:
        # No paths given: a trust run runs the trust suites, not the repository's own tests
        # (its testpaths, or the current directory); those run when named on the command line.
        config.args[:] = [str(bundled_path("suites"))]


def _configure_threads(config: pytest.Config, run_config: RunConfig) -> tuple[int, str]:
    """Set this process's torch threads before any backend imports torch; on an xdist
    controller (which runs no model) only work out what each worker will use."""
    from pytest_mllmtrust.cpus import apply_threads, threads_for

    numprocesses = getattr(config.option, "numprocesses", None)
    workerinput = getattr(config, "workerinput", None)
    workers = workerinput["workercount"] if workerinput else numprocesses
    threads = threads_for(
        run_config.threads,
        workers=workers if isinstance(workers, int) and workers > 0 else 1,
        cores=os.cpu_count() or 1,
        environ=os.environ,
    )
    controller = bool(numprocesses) and workerinput is None
    if not controller or run_config.threads is not None:
        # an explicit number also reaches the workers, through the environment they inherit
        apply_threads(threads[0])
    return threads


def pytest_report_header(config: pytest.Config) -> str | None:
    from pytest_mllmtrust.reporting.terminal import header_line

    trust = trust_session(config)
    return header_line(trust.config, trust.threads) if trust.config.active else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "mllm_sample" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("mllm_task")
    if marker is None or not marker.args:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: a suite needs pytest.mark.mllm_task(ID)"
        )
    trust = trust_session(metafunc.config)
    if not trust.config.active:
        metafunc.parametrize(
            "mllm_sample",
            [pytest.param(None, id="no-model", marks=pytest.mark.skip(reason=NO_MODEL))],
        )
        return
    from pytest_mllmtrust.core.tasks import get_task

    spec = get_task(marker.args[0])
    if trust.harmful_gated(spec):
        reason = f"{spec.id} data is harmful by design: pass --mllm-allow-harmful to run it"
        marks = [pytest.mark.skip(reason=reason), *_marks(spec, None)]  # -m safety shows it
        metafunc.parametrize("mllm_sample", [pytest.param(None, id="harmful", marks=marks)])
        return
    unscorable = trust.unscorable(spec)
    if unscorable:  # marked like the task's items, so that `-m mllmguard` shows the reason
        marks = [pytest.mark.skip(reason=unscorable), *_marks(spec, None)]
        metafunc.parametrize("mllm_sample", [pytest.param(None, id="no-scorer", marks=marks)])
        return
    params = [
        pytest.param(s, id=s.test_id, marks=_marks(spec, s)) for s in trust.samples_for(spec.id)
    ]
    metafunc.parametrize("mllm_sample", params)


def _marks(spec: TaskSpec, sample: Sample | None) -> list[pytest.MarkDecorator]:
    names = [spec.benchmark, spec.dimension]
    if sample is not None:
        names += [*spec.needs_of(sample.variant), *sample.markers]
        if sample.variant in spec.informational:
            names.append("informational")
    return [_mark(name) for name in names]


@functools.cache
def _mark(name: str) -> pytest.MarkDecorator:
    """One mark object per name, shared by every item (tens of thousands in a release run)."""
    mark: pytest.MarkDecorator = getattr(pytest.mark, name)
    return mark


def pytest_collection_finish(session: pytest.Session) -> None:
    trust = trust_session(session.config)
    if trust.config.active:
        trust.select(list(_selected_samples(session.items)))


def _selected_samples(items: list[pytest.Item]) -> Iterator[tuple[str, Sample]]:
    for item in items:
        callspec = getattr(item, "callspec", None)
        sample = callspec.params.get("mllm_sample") if callspec else None
        if isinstance(sample, Sample):
            yield item.nodeid, sample


@pytest.fixture(scope="session")
def mllm_session(request: pytest.FixtureRequest) -> TrustSession:
    """This process's trust run: the model (loaded once, lazily), the cache, the judges."""
    return trust_session(request.config)


@pytest.fixture
def mllm_record(
    request: pytest.FixtureRequest, mllm_session: TrustSession, mllm_sample: Sample
) -> SampleRecord:
    """The judged record of this item's sample; the first item of a shard generates the shard.

    A sample whose evaluation could not be completed (model, judge or data failure) raises here,
    during setup, so pytest reports it as an *error*, never a pass or fail.
    """
    record = mllm_session.record_for(mllm_sample)
    if isinstance(mllm_session.progress, TerminalProgress):
        mllm_session.progress.resume(request.node.nodeid)
    request.node.stash[RECORD_KEY] = record
    from pytest_mllmtrust.core.tasks import get_task
    from pytest_mllmtrust.reporting.html import item_score

    if getattr(request.config.option, "xmlpath", None):  # --junitxml: each case's properties
        request.node.user_properties.extend(
            [
                ("mllm_task", record.task),
                ("mllm_dimension", get_task(record.task).dimension),
                ("mllm_variant", record.variant),
                ("mllm_outcome", record.outcome.value),
                ("mllm_judge", record.verdict.judge),
                ("mllm_score", item_score({"signals": record.verdict.signals})),
            ]
        )
    if mllm_session.load_failure and not request.session.shouldstop:
        request.session.shouldstop = f"mllmtrust: {mllm_session.load_failure}"

    if mllm_session.hides_harmful(get_task(record.task)) and record.output is not None:
        # Responses to harmful-by-design data never reach the console (spec §4.2): the item
        # sees a copy without them; the stashed record, and so the results file, keeps them.
        record = dataclasses.replace(record, output=WITHHELD)
    if record.outcome is Outcome.ERROR:
        pytest.fail(record.explain(), pytrace=False)
    return record


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    record = item.stash.get(RECORD_KEY, None)
    # The record rides on the report of the phase that decided the outcome (xdist carries it
    # as a dict: pytest_report_to_serializable).
    if record is not None and (call.when == "call" or (call.when == "setup" and report.failed)):
        report.mllm_record = record  # type: ignore[attr-defined]
    marker = item.get_closest_marker("mllm_task")
    if marker is not None and marker.args:
        report.mllm_task = marker.args[0]  # type: ignore[attr-defined]
        if (
            record is not None
            and record.outcome is Outcome.FAIL
            and report.failed
            and call.when == "call"
            and trust_session(item.config).config.sample_failures == "xfail"
        ):
            # --mllm-sample-failures=xfail: a failing sample is an expected failure (a benchmark
            # always has some), so a CI's test view fails only on the gate (docs/ci.md)
            report.outcome = "skipped"
            report.wasxfail = printable(f"{record.uid}: {record.verdict.rationale}")
    return report


@pytest.hookimpl(wrapper=True)
def pytest_report_to_serializable(report: Any) -> Generator[None, Any, Any]:
    """An xdist worker's report goes to the controller as JSON: its record as a dict."""
    data = yield
    if data is not None and isinstance(data.get("mllm_record"), SampleRecord):
        data["mllm_record"] = data["mllm_record"].to_dict()
    return data


@pytest.hookimpl(wrapper=True)
def pytest_report_from_serializable(data: dict[str, Any]) -> Generator[None, Any, Any]:
    report = yield
    if isinstance(getattr(report, "mllm_record", None), dict):
        report.mllm_record = SampleRecord.from_dict(report.mllm_record)
    return report


def pytest_report_teststatus(report: pytest.TestReport) -> tuple[str, str, str] | None:
    record = getattr(report, "mllm_record", None)
    if record is not None and report.skipped and record.outcome is Outcome.UNSCORED:
        return ("excluded", "~", "EXCLUDED") if record.excluded else ("unscored", "U", "UNSCORED")
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    trust = trust_session(config)
    if trust.config.active and _is_worker(config):
        config.workeroutput.update(trust.worker_output())  # type: ignore[attr-defined]
        trust.close()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not trust_session(config).config.active and any(
        NO_MODEL in str(getattr(r, "longrepr", ""))
        for r in terminalreporter.stats.get("skipped", [])
    ):
        terminalreporter.write_line(f"mllmtrust: trust suites skipped: {NO_MODEL}")


class ControllerHooks:
    """Registered on the controller only (the single process without xdist): each hook hands
    over to the :class:`~pytest_mllmtrust.controller.Controller`, which collects every item's
    record, decides the gate and the exit status, writes the results and says what to print."""

    def __init__(self, trust: TrustSession, controller: Controller) -> None:
        self.trust = trust
        self.controller = controller

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.controller.observe(report)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.trust.close()
        controller = self.controller
        if session.config.option.collectonly or not controller.is_trust_run():
            return  # no trust item selected and no gate asked for: not a trust run
        record_gate_in_junit(session.config, controller.finish())
        hook = session.config.hook
        controller.write_reports(
            lambda head: hook.pytest_mllmtrust_update_results(config=session.config, results=head)
        )
        session.exitstatus = controller.exit_status(session.exitstatus, session.testsfailed)

    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        if not self.controller.finished or config.get_verbosity() < 0:
            return
        terminalreporter.section("mllmtrust")
        for line in self.controller.summary_lines():
            terminalreporter.write_line(line)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """The verdict, last: after pytest's short summary and its final counts, so that the
        gate is what a reader of the log sees at its end."""
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if not self.controller.finished or reporter is None:
            return
        if config.get_verbosity() < 0:
            reporter.write_line(self.controller.verdict_line())
            return
        reporter.write_sep("=", "mllmtrust gate", bold=True)
        for line in self.controller.gate_lines():
            missed = "MISSED" in line or line == "gate FAILED"
            reporter.write_line(line, red=missed, green=line == "gate PASSED")


def record_gate_in_junit(config: pytest.Config, gate: Gate) -> None:
    """Each gate check as a test case of the JUnit XML (``--junitxml``), class
    ``mllmtrust.gate``, and the verdict as a property of the suite: a CI's test view shows the
    gate beside the samples (docs/ci.md)."""
    try:  # pytest has no public handle on the JUnit writer; without one, nothing to add
        from _pytest.junitxml import xml_key
    except ImportError:
        return
    xml = config.stash.get(xml_key, None)
    if xml is None:
        return
    for c in gate.checks:
        name = str(c.threshold)
        properties = [("mllm_gate_observed", "" if c.observed is None else f"{c.observed:g}")]
        phases: tuple[tuple[Literal["setup", "call", "teardown"], bool], ...] = (
            ("setup", True), ("call", c.passed), ("teardown", True)
        )  # fmt: skip
        for when, passed in phases:
            xml.pytest_runtest_logreport(
                pytest.TestReport(
                    nodeid=f"mllmtrust::gate::{name}",
                    location=("mllmtrust", None, f"gate::{name}"),
                    keywords={},
                    outcome="passed" if passed else "failed",
                    longrepr=None if passed else c.sentence,
                    when=when,
                    user_properties=properties if when == "call" else [],
                )
            )
    xml.add_global_property("mllmtrust_gate", gate.verdict)


class TerminalProgress:
    """Model loading and per-shard generation progress, rewritten in place on one terminal
    line per step (the first item of a shard otherwise generates the whole shard in silence).
    Silent under ``-q``, when the output is not a terminal, and on xdist workers (whose output
    pytest does not show)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.open_step: str | None = None

    def __call__(self, step: Progress) -> None:
        from pytest_mllmtrust.reporting.terminal import progress_line

        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None or not reporter.isatty() or self.config.get_verbosity() < 0:
            return
        with self._uncaptured():
            if reporter.currentfspath is not None:  # pytest wrote on this line: leave it
                reporter.ensure_newline()
            elif self.open_step is not None and self.open_step != step.label:
                reporter.write("\n")  # our previous step's line stays as it ended
            reporter.rewrite(progress_line(step), erase=True)
        self.open_step = step.label

    def resume(self, nodeid: str) -> None:
        """Hand the terminal back to pytest after a shard printed progress: without -v pytest
        writes each result letter after the file name it printed when the item started."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if self.open_step is None or reporter is None:
            return
        self.open_step = None
        if reporter.currentfspath is None and self.config.get_verbosity() == 0:
            with self._uncaptured():
                reporter.write_fspath_result(nodeid, "")

    def _uncaptured(self) -> AbstractContextManager[None]:
        """Write to the terminal while pytest captures the item's output (as live logs do)."""
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        return capture.global_and_fixture_disabled() if capture else nullcontext()


class HtmlHooks:
    """pytest-html, registered only when ``--html`` asks for a report: the trust summary above
    its table, task, dimension, verdict and score columns, and each item's prompt, image,
    output and rationale as its extra. Rows and extras are made where the item ran (an xdist
    worker's reports carry them); the summary on the controller."""

    def __init__(self, trust: TrustSession, controller: Controller | None) -> None:
        self.trust = trust
        #: None on an xdist worker, which makes rows and extras but no summary
        self.controller = controller
        self.thumbs: dict[str, str | None] = {}

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str], summary: list[str]) -> None:
        if self.controller is not None and self.controller.finished:
            prefix.append(self.controller.html_summary())

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells[1:1] = ["<th>Task</th>", "<th>Dimension</th>", "<th>Verdict</th>", "<th>Score</th>"]

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        from html import escape

        from pytest_mllmtrust.core.tasks import get_task
        from pytest_mllmtrust.reporting.html import item_score

        record: SampleRecord | None = getattr(report, "mllm_record", None)
        task = dimension = verdict = score = ""
        if record is not None:
            task, verdict = record.task, record.outcome.value
            score = item_score({"signals": record.verdict.signals})
            dimension = get_task(task).dimension
        cells[1:1] = [
            f"<td>{escape(str(value))}</td>" for value in (task, dimension, verdict, score)
        ]

    def extra(self, record: SampleRecord) -> Any:
        """The pytest-html extra of one item."""
        from pytest_html import extras

        from pytest_mllmtrust.reporting.html import item_fragment, thumbnail_at

        sha = record.image_sha256
        if sha and sha not in self.thumbs:  # one thumbnail per image and process
            root = self.trust.data_root_of(record.task)
            self.thumbs[sha] = thumbnail_at(root, record.image, sha)
        return extras.html(item_fragment(record.to_dict(), self.thumbs.get(sha or "")))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        record = item.stash.get(RECORD_KEY, None)
        if record is not None and (call.when == "call" or (call.when == "setup" and report.failed)):
            report.extras = [*getattr(report, "extras", []), self.extra(record)]  # type: ignore[attr-defined]
        return report


class JudgeEvalHooks:
    """``--mllm-judge-eval=FILE``: score the configured judges against human labels instead of
    running any test, the way a team checks a local judge before trusting its gate."""

    def __init__(self, trust: TrustSession) -> None:
        self.trust = trust
        self.lines: list[str] = []
        self.failed = False

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> bool:
        session.items = []
        return True

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        path = self.trust.config.judge_eval
        assert path is not None
        try:
            self.lines = self.trust.judge_agreement(path)
        except TrustError as exc:
            self.lines = [f"error: {exc}"]
            self.failed = True
        finally:
            self.trust.close()
        return True

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # no test ran on purpose: "no tests collected" would be the wrong status
        failed = self.failed or not self.lines
        session.exitstatus = pytest.ExitCode.USAGE_ERROR if failed else pytest.ExitCode.OK

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.section("mllmtrust judge agreement")
        for line in self.lines:
            terminalreporter.write_line(line)


class XdistHooks:
    """Registered on the controller only, when pytest-xdist is installed."""

    def __init__(self, trust: TrustSession, controller: Controller) -> None:
        self.trust = trust
        self.controller = controller

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["mllmtrust_run_id"] = self.trust.run_id

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.option.dist != "loadgroup":
            return None
        from pytest_mllmtrust._xdist import ShardScheduling

        return ShardScheduling(config, log, shard_size=self.trust.shard_size)

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        self.controller.add_worker_output(getattr(node, "workeroutput", {}))


__all__ = ["mllm_record", "mllm_session", "trust_session"]

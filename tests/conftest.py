from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Offline by construction: a hub id that is not on disk fails at once instead of hanging.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One torch thread per process, the plugin's default (pytest_mllmtrust.cpus): the tiny models
# built and run here are several times slower with a thread per core on a busy 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "multitrust"

# Extension modules cannot be imported twice in one process, but pytester's in-process runs
# drop every module first imported during the run. Keep these so that a later in-process run
# that loads a model does not re-import torch (which fails with a SystemError).
_KEEP_LOADED = (
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "huggingface_hub",
    "numpy",
    "PIL",
    "accelerate",
    "sklearn",
    "scipy",
    "regex",
    "jinja2",
)


@pytest.fixture(autouse=True)
def _keep_heavy_modules_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    from _pytest import pytester

    original = pytester.SysModulesSnapshot.__init__

    def snapshot(self: Any, preserve: Callable[[str], bool] | None = None) -> None:
        def keep(name: str) -> bool:
            return name.split(".")[0] in _KEEP_LOADED or bool(preserve and preserve(name))

        original(self, preserve=keep)

    monkeypatch.setattr(pytester.SysModulesSnapshot, "__init__", snapshot)


@pytest.fixture(autouse=True)
def _no_job_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite's own CI may be GitHub Actions: the trust runs of its tests must not append
    their summaries to the job summary (the tests of that set the variable themselves). Per
    test, not at import: a trust run of the whole checkout imports this file too."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.fixture(scope="session")
def tiny_llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pytest_mllmtrust.testing import build_tiny_vlm

    return build_tiny_vlm("llava", tmp_path_factory.mktemp("models") / "llava")


@pytest.fixture(scope="session")
def tiny_qwen2_vl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pytest_mllmtrust.testing import build_tiny_vlm

    return build_tiny_vlm("qwen2_vl", tmp_path_factory.mktemp("models") / "qwen2_vl")


def bundled_uids(tasks: Iterable[str] = ("T.1", "S.4"), **options: Any) -> list[Any]:
    """The samples the suites will run for ``tasks`` on the bundled data."""
    from pytest_mllmtrust.core.config import parse_config
    from pytest_mllmtrust.session import TrustSession

    trust = TrustSession(parse_config({"model": "replay:x", **options}, Path.cwd()), Path.cwd())
    return [s for t in tasks for s in trust.samples_for(t)]


def write_replay(
    path: Path, answer: Callable[[Any], Any], tasks: Iterable[str] = ("T.1", "S.4")
) -> Path:
    """A replay file answering every bundled sample, informational variants included;
    ``answer`` returning None replays an error. For a paired sample ``answer`` returns the
    two answers, (first, second), either of which may be None."""
    lines = []
    for sample in bundled_uids(tasks, informational=True):
        texts = answer(sample)
        second = sample.second_query()
        queries = [sample] if second is None else [sample, second]
        for query, text in zip(queries, [texts] if second is None else texts, strict=True):
            entry = (
                {"uid": query.uid, "output": text}
                if text is not None
                else {"uid": query.uid, "error": "HTTP 500"}
            )
            lines.append(json.dumps(entry, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass
class TrustRun:
    result: pytest.RunResult
    results_path: Path

    @property
    def results(self) -> dict[str, Any]:
        return json.loads(self.results_path.read_text(encoding="utf-8"))

    @property
    def outcomes(self) -> dict[str, str]:
        return {s["uid"]: s["outcome"] for s in self.results["samples"]}


#: the tasks an integration run covers unless a test names others: each new task brings its own
#: integration tests, so adding one must not change the counts and timings of existing runs
DEFAULT_TASKS = ("T.1", "S.4")


def ignore_other_suites(tasks: Iterable[str]) -> list[str]:
    """``--ignore`` options for every bundled suite module not of ``tasks`` (found by their
    ``mllm_task`` marker). Ignoring, rather than naming the wanted modules, keeps the run's
    rootdir and ini file those of the test's own directory."""
    from pytest_mllmtrust.bundled import bundled_path

    wanted = set(tasks)
    found, ignore = set(), []
    for path in sorted(bundled_path("suites").rglob("test_*.py")):
        match = re.search(r"mllm_task\(\"([^\"]+)\"\)", path.read_text(encoding="utf-8"))
        if match and match.group(1) in wanted:
            found.add(match.group(1))
        else:
            ignore.append(f"--ignore={path}")
    assert found == wanted, f"no suite module for {sorted(wanted - found)}"
    return ignore


@pytest.fixture
def run_trust(pytester: pytest.Pytester) -> Callable[..., TrustRun]:
    """Run pytest on the bundled suites of ``tasks`` in a fresh directory; ``subprocess=True``
    for xdist or for runs that must not share this process's imports."""

    def run(
        *args: str,
        subprocess: bool = False,
        json_name: str = "results.json",
        tasks: Iterable[str] = DEFAULT_TASKS,
    ) -> TrustRun:
        out = pytester.path / json_name
        argv = (f"--mllm-json={out}", "-p", "no:cacheprovider", *ignore_other_suites(tasks), *args)
        result = pytester.runpytest_subprocess(*argv) if subprocess else pytester.runpytest(*argv)
        return TrustRun(result, out)

    return run


def read_fixture(relpath: str) -> Any:
    return json.loads((FIXTURES / relpath).read_text(encoding="utf-8"))

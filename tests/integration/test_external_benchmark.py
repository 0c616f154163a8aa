"""A third party's benchmark package, installed and run through the gate like the built-ins.

The package is the one docs/writing-a-suite.md publishes (its ``toml`` and ``py`` blocks after
"Publishing a benchmark package", each opening with the file's path): built offline with
hatchling and installed with ``pip --target`` into a temporary folder that goes first on
PYTHONPATH. pytest then runs in a subprocess from another folder, so the benchmark is found
only through its ``pytest_mllmtrust.benchmarks`` entry point.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

from pytest_mllmtrust import EXIT_GATE_FAILED

pytestmark = pytest.mark.slow

DOC = Path(__file__).resolve().parents[2] / "docs" / "writing-a-suite.md"
PACKAGE_FILES = {
    "pyproject.toml",
    "acme_trust/__init__.py",
    "acme_trust/tasks.py",
    "acme_trust/data/questions.toml",
    "acme_trust/suites/__init__.py",
    "acme_trust/suites/test_acme_capitals.py",
    "acme_trust/suites/test_acme_sums.py",
}
# ACME.1: one of two capitals right (50); ACME.2: both sums right (100); acme.overall: 75
ANSWERS = {
    "ACME.1/plain:france": "Paris.",
    "ACME.1/plain:japan": "Kyoto",
    "ACME.2/plain:two-plus-three": "5",
    "ACME.2/plain:seven-times-six": "It is 42.",
}


def package_blocks(text: str) -> dict[str, str]:
    """The published package's files by path: each fenced block of the publishing section
    whose first line is ``# <path>``."""
    section = text.split("## Publishing a benchmark package", 1)[1]
    blocks = re.findall(r"```(?:py|toml)\n(.*?)```", section, flags=re.DOTALL)
    return {block.splitlines()[0].removeprefix("# ").strip(): block for block in blocks}


def run(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package of the docs, built and installed offline into a folder of its own."""
    assert find_spec("hatchling"), "an offline build needs hatchling: pip install -e '.[test]'"
    source = tmp_path_factory.mktemp("acme-trust")
    blocks = package_blocks(DOC.read_text(encoding="utf-8"))
    assert set(blocks) == PACKAGE_FILES
    for name, code in blocks.items():
        path = source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code, encoding="utf-8")
    target = source.parent / "acme-site"
    proc = run(
        *("-m", "pip", "install", "--no-deps", "--no-index", "--no-build-isolation"),
        *("--disable-pip-version-check", "--target", str(target), str(source)),
        cwd=source.parent,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return target


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory, site: Path) -> tuple[Path, dict[str, str]]:
    """A model team's folder with the replayed answers, and the environment with the package
    installed: its folder first on PYTHONPATH, ahead of this checkout."""
    repo = tmp_path_factory.mktemp("model-team")
    (repo / "answers.jsonl").write_text(
        "".join(json.dumps({"uid": uid, "output": out}) + "\n" for uid, out in ANSWERS.items()),
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MLLMTRUST_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH")) if p)
    env["HF_HUB_OFFLINE"] = "1"
    return repo, env


def gated_run(
    team: tuple[Path, dict[str, str]], threshold: str, results: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    repo, env = team
    proc = run(
        *("-m", "pytest", "--pyargs", "acme_trust.suites", "--strict-markers"),
        *("-p", "no:cacheprovider", "--mllm=replay:answers.jsonl"),
        *(f"--mllm-threshold={threshold}", f"--mllm-json={results}"),
        cwd=repo,
        env=env,
    )
    document = json.loads((repo / results).read_text(encoding="utf-8"))
    return proc, document


def test_the_gate_passes_on_the_installed_benchmarks_score(
    team: tuple[Path, dict[str, str]],
) -> None:
    proc, results = gated_run(team, "acme.overall=70", "above.json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # its items ran from the installed suites, with its markers registered (--strict-markers)
    assert pytest.RunResult.parse_summary_nouns(proc.stdout.splitlines()) == {
        "passed": 3, "failed": 1,
    }  # fmt: skip
    assert results["tasks"]["ACME.1"]["score"] == pytest.approx(50.0)
    assert results["tasks"]["ACME.2"]["score"] == pytest.approx(100.0)
    assert results["acme"] == {"overall": pytest.approx(75.0), "missing": []}
    assert results["gate"]["passed"] is True
    [check] = [c for c in results["gate"]["checks"] if c["key"] == "acme.overall"]
    assert (check["op"], check["observed"]) == (">=", pytest.approx(75.0))
    # its samples came from the data it ships, and its judge counts as its official one
    assert results["run"]["datasets"]["acme"]["files"] == 1
    assert results["run"]["judges"]["ACME.1"]["all_official"] is True
    # the built-in benchmarks are still there, with nothing run
    assert results["overall"] is None
    assert results["mllmguard"] is None


def test_the_gate_fails_with_its_own_exit_status_below_the_threshold(
    team: tuple[Path, dict[str, str]],
) -> None:
    proc, results = gated_run(team, "acme.overall>=80", "below.json")
    assert proc.returncode == EXIT_GATE_FAILED, proc.stdout + proc.stderr
    assert results["gate"]["passed"] is False
    assert "acme.overall>=80: MISSED, acme.overall = 75.00, off by 5.00" in proc.stdout


def test_an_unknown_key_names_the_installed_benchmarks_keys(
    team: tuple[Path, dict[str, str]],
) -> None:
    repo, env = team
    proc = run(
        *("-m", "pytest", "--pyargs", "acme_trust.suites", "-p", "no:cacheprovider"),
        *("--mllm=replay:answers.jsonl", "--mllm-threshold=acme.latency>=1"),
        cwd=repo,
        env=env,
    )
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR
    assert "unknown key 'acme.latency'" in proc.stderr
    assert "acme.overall" in proc.stderr


def test_its_board_shows_in_the_terminal_summary_and_the_trust_report(
    team: tuple[Path, dict[str, str]],
) -> None:
    repo, env = team
    proc = run(
        *("-m", "pytest", "--pyargs", "acme_trust.suites", "-p", "no:cacheprovider"),
        *("--mllm=replay:answers.jsonl", "--mllm-html=report.html"),
        cwd=repo,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr  # no threshold: the gate passes
    # the generic layout of a board: each of its scores by gate key (75 = mean of 50 and 100)
    assert " score      acme\n 75.00      acme.overall\n" in proc.stdout
    page = (repo / "report.html").read_text(encoding="utf-8")
    assert '<td>acme.overall</td><td class="num">75.00</td>' in page

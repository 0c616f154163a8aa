"""What a new user meets first: which tests a trust run collects, the help texts, the run header,
progress while the model generates, and the gate's verdict at the end of the output."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ignore_other_suites, write_replay
from pytest_mllmtrust.bundled import bundled_path
from pytest_mllmtrust.core.config import BACKENDS


@pytest.fixture
def replay(pytester: pytest.Pytester) -> Path:
    return write_replay(pytester.path / "answers.jsonl", lambda s: "No.")


@pytest.fixture
def team_repo(pytester: pytest.Pytester) -> Path:
    """A model team's repository: its own tests under testpaths, and one beside them."""
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_team.py").write_text("def test_team_own():\n    pass\n")
    (pytester.path / "test_root_own.py").write_text("def test_root_own():\n    pass\n")
    return pytester.path


def test_a_trust_run_without_paths_collects_only_the_trust_suites(
    run_trust, replay: Path, team_repo: Path
) -> None:
    run = run_trust(f"--mllm=replay:{replay}", "--collect-only", "-q")
    collected = run.result.stdout.lines
    trust_items = [line for line in collected if "::test_" in line]
    assert len(trust_items) == 30 + 24  # T.1 and S.4
    assert all("/test_t1_" in line or "/test_s4_" in line for line in trust_items)
    assert not any("_own" in line for line in collected)


def test_the_teams_own_tests_run_when_named(
    pytester: pytest.Pytester, replay: Path, team_repo: Path
) -> None:
    args = ["-p", "no:cacheprovider", *ignore_other_suites(("S.4",))]
    result = pytester.runpytest(
        f"--mllm=replay:{replay}", "tests", str(bundled_path("suites")), *args
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 24 + 1
    result.stdout.fnmatch_lines(["*tests/test_team.py*"])
    # without --mllm, pytest is the team's own: testpaths as configured
    own = pytester.runpytest("-p", "no:cacheprovider")
    assert own.parseoutcomes() == {"passed": 1}


def test_help_names_every_model_backend(pytester: pytest.Pytester) -> None:
    text = " ".join(pytester.runpytest("--help").stdout.str().split())
    for backend in BACKENDS:
        assert f"'{backend}:" in text
    assert "--mllm-threads=N" in text


@pytest.mark.parametrize("command", [[sys.executable, "-m", "pytest_mllmtrust"], ["mllmtrust"]])
def test_the_command_line_tool_explains_itself(command: list[str]) -> None:
    if command == ["mllmtrust"]:  # the console script installed beside this interpreter
        command = [str(Path(sys.executable).with_name("mllmtrust"))]
    shown = subprocess.run([*command, "-h"], capture_output=True, text=True, check=True).stdout
    assert "report" in shown
    assert "compare" in shown
    assert "pytest --mllm=SPEC" in shown
    bare = subprocess.run(command, capture_output=True, text=True, check=False)
    assert bare.returncode == 2
    assert "COMMAND" in bare.stderr


def test_the_header_names_the_cpu_threads_and_the_option_sets_them(run_trust, replay: Path) -> None:
    default = run_trust(f"--mllm=replay:{replay}", "-m", "safety", subprocess=True)
    default.result.stdout.fnmatch_lines(["mllmtrust: * threads=1 (--mllm-threads) schema=*"])
    assert default.results["run"]["threads"] == 1
    three = run_trust(
        f"--mllm=replay:{replay}", "-m", "safety", "--mllm-threads=3", subprocess=True
    )
    three.result.stdout.fnmatch_lines(["mllmtrust: * threads=3 (--mllm-threads) schema=*"])
    assert three.results["run"]["threads"] == 3
    auto = run_trust(f"--mllm=replay:{replay}", "-m", "safety", "--mllm-threads=auto",
                     subprocess=True)  # fmt: skip
    auto.result.stdout.fnmatch_lines(["mllmtrust: * threads=* (auto: *) schema=*"])


def test_the_gate_is_the_last_thing_printed(run_trust, replay: Path) -> None:
    run = run_trust(f"--mllm=replay:{replay}", "--mllm-threshold=T.1>=99")
    lines = [line for line in run.result.stdout.lines if line.strip()]
    heading = next(i for i, line in enumerate(lines) if "mllmtrust gate" in line)
    assert " failed" in lines[heading - 1]  # pytest's own counts come before the gate
    assert any(line.startswith("FAILED ") for line in lines[:heading])
    assert [line.split(":")[0] for line in lines[heading + 1 :]] == ["gate"] * 3 + ["gate FAILED"]
    assert "T.1>=99: MISSED" in lines[heading + 1]


def run_in_terminal(args: list[str], cwd: Path) -> str:
    """Run pytest with its output on a pseudo-terminal, as in an interactive shell."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "PY_COLORS": "0"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", *args], cwd=cwd, stdin=terminal, stdout=terminal,
        stderr=terminal, env=env, close_fds=True,
    )  # fmt: skip
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed: the process has exited
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=300)
    os.close(controller)
    return b"".join(chunks).decode("utf-8", "replace")


def test_generation_shows_progress_on_a_terminal_only(
    pytester: pytest.Pytester, tiny_llava: Path
) -> None:
    args = [f"--mllm=hf:{tiny_llava}", "-p", "no:cacheprovider", *ignore_other_suites(("T.1",))]
    shown = run_in_terminal(args, pytester.path)
    assert "mllmtrust: loading the model ..." in shown
    assert "mllmtrust: loading the model: " in shown
    for variant in ("d-basic-object", "g-basic-ocr"):
        assert f"mllmtrust: T.1 {variant}: 6 samples generated in " in shown
    # the result letters go on a line of their own, after the file name, as pytest writes them
    lines = [line.rsplit("\r", 1)[-1] for line in shown.splitlines()]
    results = [line for line in lines if "test_t1_basic_world_understanding.py " in line]
    assert len(results) >= 5
    assert not any("samples/s)" in line and line.rstrip().endswith(("F", ".")) for line in lines)
    quiet = run_in_terminal([*args, "-q", "--mllm-cache=none"], pytester.path)
    assert "mllmtrust: loading the model" not in quiet
    assert "generated" not in quiet
    piped = pytester.runpytest_subprocess(*args, "--mllm-cache=none")
    assert "mllmtrust: loading the model" not in piped.stdout.str()

"""The wheel, installed into a model team's repository, runs the bundled suites on its own.

The wheel is built from this checkout without network and installed with ``pip --target`` into
a temporary folder. Every check then runs in a subprocess from a fake model-team repository
(outside the checkout) with that folder first on PYTHONPATH, so the installed copy shadows the
editable install of the checkout: suites, bundled samples and judge data must all come from
inside the wheel.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
BUNDLED_FOLDERS = (
    "suites",
    "fixtures/multitrust",
    "fixtures/mllmguard",
    "judges",
)  # not the generator scripts
REFUSAL = "Sorry, I can't help with that."
HEAVY_MODULES = {"torch", "transformers"}

# Runs inside the installed environment: one replayed answer for every bundled sample.
WRITE_REPLAY = textwrap.dedent(
    """
    import json
    import sys
    from pathlib import Path

    from pytest_mllmtrust.core.config import parse_config
    from pytest_mllmtrust.core.tasks import all_tasks
    from pytest_mllmtrust.session import TrustSession

    out, answer = Path(sys.argv[1]), sys.argv[2]
    trust = TrustSession(parse_config({"model": "replay:x"}, Path.cwd()), Path.cwd())
    with out.open("w", encoding="utf-8") as f:
        for task, spec in sorted(all_tasks().items()):
            if trust.unscorable(spec):  # skipped without a scorer
                continue
            for sample in trust.samples_for(task):
                for query in (sample, sample.second_query()):
                    if query is not None:
                        print(json.dumps({"uid": query.uid, "output": answer}), file=f)
    """
)

# The model team's conftest: records which test files the run collected.
RECORD_COLLECTED_FILES = textwrap.dedent(
    """
    import json
    from pathlib import Path


    def pytest_collection_finish(session):
        paths = sorted({str(item.path) for item in session.items})
        Path("collected.json").write_text(json.dumps(paths), encoding="utf-8")
    """
)

OWN_TEST = textwrap.dedent(
    """
    def test_preprocessing_keeps_aspect_ratio():
        width, height = 640, 480
        assert width / height == (width // 2) / (height // 2)
    """
)


def run_python(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_python_checked(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = run_python(*args, cwd=cwd, env=env)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def is_inside(path: str | Path, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(folder.resolve())


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def imported_modules(importtime_log: str) -> set[str]:
    """Module names in a ``python -X importtime`` log: ``import time: self | total | name``."""
    return {
        line.rsplit("|", 1)[-1].strip()
        for line in importtime_log.splitlines()
        if line.startswith("import time:") and "|" in line
    } - {"imported package"}


def top_level(module: str) -> str:
    return module.split(".")[0]


def checkout_files(folder: str) -> set[str]:
    """Files of a bundled folder in this checkout, as the wheel names them."""
    root = REPO_ROOT / folder
    return {
        f"pytest_mllmtrust/_bundled/{folder}/{path.relative_to(root).as_posix()}"
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.name != ".DS_Store"
    }


# -- building, installing, and the fake model-team repository --------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert find_spec("hatchling"), (
        "an offline wheel build needs hatchling: pip install -e '.[test]'"
    )
    out = tmp_path_factory.mktemp("wheel")
    run_python_checked(
        *("-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"),
        *("--disable-pip-version-check", "-w", str(out), str(REPO_ROOT)),
        cwd=out,
    )
    (built,) = out.glob("pytest_mllmtrust-*.whl")
    return built


@pytest.fixture(scope="module")
def site(wheel: Path) -> Path:
    target = wheel.parent / "site"
    run_python_checked(
        *("-m", "pip", "install", "--no-deps", "--no-index", "--disable-pip-version-check"),
        *("--target", str(target), str(wheel)),
        cwd=wheel.parent,
    )
    return target


@pytest.fixture(scope="module")
def installed_env(site: Path) -> dict[str, str]:
    """This interpreter with the installed wheel ahead of the editable checkout, offline."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "MLLMTRUST_")) and key not in {"PYTHONPATH", "RC_TAG"}
    }
    env.update(
        PYTHONPATH=str(site),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        MLLMTRUST_HASH_CACHE=str(site.parent / "hashes.json"),
    )
    return env


@pytest.fixture(scope="module")
def model_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("acme-vlm")
    assert not is_inside(repo, REPO_ROOT)
    (repo / "pyproject.toml").write_text(
        '[project]\nname = "acme-vlm"\nversion = "0.1.0"\n', encoding="utf-8"
    )
    (repo / "conftest.py").write_text(RECORD_COLLECTED_FILES, encoding="utf-8")
    (repo / "tests").mkdir()
    (repo / "tests" / "test_preprocessing.py").write_text(OWN_TEST, encoding="utf-8")
    return repo


@pytest.fixture(scope="module")
def replay_file(model_repo: Path, installed_env: dict[str, str]) -> Path:
    path = model_repo / "answers.jsonl"
    run_python_checked("-c", WRITE_REPLAY, str(path), REFUSAL, cwd=model_repo, env=installed_env)
    return path


@pytest.fixture(scope="module")
def suite_run(
    model_repo: Path, replay_file: Path, installed_env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """What a model team types: no paths, so the plugin runs the installed suites."""
    return run_python(
        *("-m", "pytest", "-v", f"--mllm=replay:{replay_file.name}", "--mllm-json=results.json"),
        cwd=model_repo,
        env=installed_env,
    )


@pytest.fixture(scope="module")
def results(suite_run: subprocess.CompletedProcess[str], model_repo: Path) -> dict[str, Any]:
    assert suite_run.returncode == 0, suite_run.stdout + suite_run.stderr
    return json.loads((model_repo / "results.json").read_text(encoding="utf-8"))


# -- the wheel itself --------------------------------------------------------------------------


def test_wheel_ships_suites_fixtures_and_judge_data(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for name in (
        "pytest_mllmtrust/_bundled/suites/safety/test_s4_typographic_jailbreaking.py",
        "pytest_mllmtrust/_bundled/fixtures/multitrust/truthfulness/query_basic/query_d_existence.json",
        "pytest_mllmtrust/_bundled/judges/keywords/refusal.toml",
    ):
        assert name in names
    if (REPO_ROOT / "pytest_mllmtrust" / "py.typed").is_file():
        assert "pytest_mllmtrust/py.typed" in names
    for folder in BUNDLED_FOLDERS:
        assert checkout_files(folder) <= names, f"{folder}/ is not shipped whole"


def test_wheel_registers_the_pytest_plugin(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        entry_points = configparser.ConfigParser()
        entry_points.read_string(archive.read(name).decode("utf-8"))
    assert entry_points["pytest11"]["mllmtrust"] == "pytest_mllmtrust.plugin"


# -- the installed copy, used from the model team's repository ----------------------------------


def test_installed_copy_shadows_the_checkout(
    site: Path, model_repo: Path, installed_env: dict[str, str]
) -> None:
    out = run_python_checked(
        "-c",
        "import pytest_mllmtrust, pytest_mllmtrust.bundled as b; "
        "print(pytest_mllmtrust.__file__); print(b.bundled_path('suites'))",
        cwd=model_repo,
        env=installed_env,
    )
    package_file, suites = out.splitlines()
    assert is_inside(package_file, site)
    assert is_inside(suites, site)
    assert Path(suites).parts[-2:] == ("_bundled", "suites")


def test_suites_run_every_bundled_sample(results: dict[str, Any], replay_file: Path) -> None:
    samples = results["samples"]
    # one replayed answer per query of every bundled sample of every task that can run
    # offline; a paired sample (MLLMGuard) asks two queries, the second keyed "<key>~second"
    queries = [json.loads(line)["uid"] for line in replay_file.read_text("utf-8").splitlines()]
    paired = {uid.removesuffix("~second") for uid in queries if uid.endswith("~second")}
    assert paired
    assert len(samples) == len(queries) - len(paired)
    for sample in samples:
        expected = json.dumps([REFUSAL] * 2) if sample["uid"] in paired else REFUSAL
        assert sample["output"] == expected
        assert not sample["cached"]
    # judged: no error, no unscored (a refused pair is outside MLLMGuard's metric: excluded; a
    # refusal is no clear yes or no, so it enters none of F.6's tests)
    judged = [s for s in samples if not s["signals"].get("excluded") and s["task"] != "F.6"]
    assert {s["outcome"] for s in judged} <= {"pass", "fail"}
    assert {s["outcome"] for s in samples if s["task"] == "F.6"} == {"unscored"}
    assert all(s["judge"] for s in samples)
    assert results["run"]["stats"]["errors"] == 0
    assert results["run"]["stats"]["outputs_generated"] == len(queries)
    assert results["run"]["datasets"]["multitrust"]["bundled"] is True
    assert results["gate"]["passed"] is True
    # The refusal keywords (judge data) recognise the replayed refusal on every S.4 sample.
    s4 = [s for s in samples if s["task"] == "S.4"]
    assert s4
    assert all(s["outcome"] == "pass" and s["signals"]["refused"] for s in s4)


def test_prompts_and_judge_data_come_from_the_wheel(results: dict[str, Any], site: Path) -> None:
    bundled = site / "pytest_mllmtrust" / "_bundled"
    data_files = results["run"]["data_files"]
    assert "keywords/refusal.toml" in data_files
    for relpath, record in data_files.items():
        folder = "suites" if relpath.startswith("prompts/") else "judges"
        assert record["overridden"] is False
        assert record["sha256"] == sha256_of(bundled / folder / relpath), relpath


def test_collected_tests_are_the_installed_suites_only(
    suite_run: subprocess.CompletedProcess[str], model_repo: Path, site: Path
) -> None:
    assert suite_run.returncode == 0, suite_run.stdout + suite_run.stderr
    collected = json.loads((model_repo / "collected.json").read_text(encoding="utf-8"))
    assert str(model_repo / "tests" / "test_preprocessing.py") not in collected
    # every installed suite module, one per task
    assert len(collected) == len(
        list((site / "pytest_mllmtrust" / "_bundled" / "suites").rglob("test_*.py"))
    )
    assert all(is_inside(p, site) and "/_bundled/suites/" in Path(p).as_posix() for p in collected)


def test_the_teams_own_test_runs_beside_the_suites_when_named(
    model_repo: Path, replay_file: Path, installed_env: dict[str, str], results: dict[str, Any]
) -> None:
    suites = run_python_checked(
        "-c", "from pytest_mllmtrust.bundled import bundled_path; print(bundled_path('suites'))",
        cwd=model_repo, env=installed_env,
    ).strip()  # fmt: skip
    both = run_python(
        *("-m", "pytest", "-v", f"--mllm=replay:{replay_file.name}", "tests", suites),
        cwd=model_repo,
        env=installed_env,
    )
    assert both.returncode == 0, both.stdout + both.stderr
    assert "tests/test_preprocessing.py::test_preprocessing_keeps_aspect_ratio PASSED" in (
        both.stdout
    )
    counts = pytest.RunResult.parse_summary_nouns(both.stdout.splitlines())
    passed = sum(s["outcome"] == "pass" for s in results["samples"])
    failed = sum(s["outcome"] == "fail" for s in results["samples"])
    assert counts.get("passed") == passed + 1  # every passing sample and the team's own test
    assert counts.get("failed") == failed
    assert "errors" not in counts


def test_importing_the_plugin_does_not_import_torch(
    model_repo: Path, installed_env: dict[str, str]
) -> None:
    run_python_checked(
        "-c",
        "import sys, pytest_mllmtrust, pytest_mllmtrust.plugin; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules",
        cwd=model_repo,
        env=installed_env,
    )


def test_pytest_help_lists_the_options_without_importing_torch(
    model_repo: Path, installed_env: dict[str, str]
) -> None:
    proc = run_python(
        "-X", "importtime", "-m", "pytest", "--help", cwd=model_repo, env=installed_env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "--mllm=" in proc.stdout
    modules = imported_modules(proc.stderr)
    assert any(top_level(m) == "pytest_mllmtrust" for m in modules)  # the log covers the plugin
    assert not {m for m in modules if top_level(m) in HEAVY_MODULES}

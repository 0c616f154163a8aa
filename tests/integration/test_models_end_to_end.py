"""T.1 and S.4 end to end through pytest with tiny real-architecture VLMs (random weights).

The answers are noise, so these tests assert what must hold whatever the model says: every
sample gets a real verdict, generation is batched as configured, reruns make no model call,
xdist changes nothing, and a killed run resumes without regenerating what it had cached.
"""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import DEFAULT_TASKS, FIXTURES, ignore_other_suites
from pytest_mllmtrust.bundled import bundled_path

pytestmark = pytest.mark.slow

SAMPLES = 30 + 24  # T.1: 5 variants x 6 records; S.4: 3 variants x 4 rows x 2 prompts


def batches(batch_size: int) -> int:
    """generate() calls for the bundled data: every variant is one shard (< 64 samples)."""
    return 5 * math.ceil(6 / batch_size) + 3 * math.ceil(8 / batch_size)


def comparable(results: dict) -> list[tuple]:
    return [(s["uid"], s["output"], s["outcome"], s["signals"]) for s in results["samples"]]


@pytest.mark.parametrize("family", ["llava", "qwen2_vl"])
def test_both_tasks_run_batched_and_a_rerun_makes_no_model_call(
    request: pytest.FixtureRequest, run_trust, family: str
) -> None:
    model = request.getfixturevalue(f"tiny_{family}")
    first = run_trust(f"--mllm=hf:{model}", "--mllm-batch-size=4")
    assert first.result.ret == 0
    results = first.results
    assert len(results["samples"]) == SAMPLES
    assert all(s["outcome"] in ("pass", "fail") for s in results["samples"])
    assert all(isinstance(s["output"], str) for s in results["samples"])
    stats = results["run"]["stats"]
    assert stats["model_calls"] == batches(4)  # never one generate() per sample
    assert stats["outputs_generated"] == SAMPLES
    assert results["tasks"]["T.1"]["complete"]
    assert results["tasks"]["S.4"]["complete"]
    # S.4 renders nothing here (the bundle has its images) but T.1/S.4 images were hashed
    assert all(len(s["image_sha256"]) == 64 for s in results["samples"])

    again = run_trust(f"--mllm=hf:{model}", "--mllm-batch-size=4", json_name="again.json")
    stats = again.results["run"]["stats"]
    assert stats["model_calls"] == 0
    assert stats["outputs_cached"] == SAMPLES
    assert stats["judgements_cached"] == SAMPLES
    assert comparable(again.results) == comparable(results)


def test_xdist_gives_the_same_results_as_one_process(run_trust, tiny_llava: Path) -> None:
    pytest.importorskip("xdist")
    model = f"--mllm=hf:{tiny_llava}"
    alone = run_trust(model, "--mllm-cache=cache-alone", subprocess=True, json_name="alone.json")
    spread = run_trust(
        model, "-n", "2", "--mllm-cache=cache-spread", subprocess=True, json_name="spread.json"
    )
    assert alone.result.ret == spread.result.ret == 0
    assert comparable(spread.results) == comparable(alone.results)
    for key in ("tasks", "subaspects", "dimensions", "overall", "gate"):
        assert spread.results[key] == alone.results[key]
    # the workers' backend settings reached the controller's run record
    backend = spread.results["run"]["backend"]
    assert backend == alone.results["run"]["backend"]
    assert (backend["backend"], backend["dtype"], backend["padding_side"]) == (
        "hf",
        "float32",
        "left",
    )
    # both workers reported their work to the controller, and nothing was done twice
    assert spread.results["run"]["stats"]["outputs_generated"] == SAMPLES
    assert spread.results["run"]["stats"]["model_calls"] == batches(8)


@pytest.mark.parametrize(
    ("workers", "kill_after"),
    [((), 5), ((), 40), (("-n", "2"), 8), (("-n", "2"), 30)],
    ids=["one-process-early", "one-process-late", "xdist-early", "xdist-late"],
)
def test_a_killed_run_resumes_without_regenerating_cached_answers(
    pytester: pytest.Pytester, run_trust, tiny_llava: Path, workers: tuple[str, ...],
    kill_after: int,
) -> None:  # fmt: skip
    """SIGKILL to the whole run (controller and xdist workers, as a crash would) once
    ``kill_after`` answers are cached; the rerun reuses every one of them, generates only the
    rest, and ends with exactly the results of a run never interrupted."""
    cache = pytester.path / "cache"
    db = cache / "cache.sqlite"
    args = [
        sys.executable,
        "-m",
        "pytest",
        str(bundled_path("suites")),
        # the same tasks as the resumed run below, so every cached answer is one it reuses
        *ignore_other_suites(DEFAULT_TASKS),
        "-p",
        "no:cacheprovider",
        f"--mllm=hf:{tiny_llava}",
        "--mllm-batch-size=1",
        f"--mllm-cache={cache}",
        "-q",
        *workers,
    ]
    proc = subprocess.Popen(
        args, cwd=pytester.path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill takes the workers too
    )  # fmt: skip
    try:
        cached_at_kill = wait_for_outputs(db, at_least=kill_after, proc=proc)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    time.sleep(0.2)  # let the killed workers' descriptors close
    assert kill_after <= cached_at_kill < SAMPLES
    kept = outputs_in(db)  # what survived the kill, read after the process is gone
    assert kept >= cached_at_kill
    resumed = run_trust(f"--mllm=hf:{tiny_llava}", "--mllm-batch-size=1", f"--mllm-cache={cache}")
    stats = resumed.results["run"]["stats"]
    assert stats["outputs_cached"] == kept
    assert stats["outputs_generated"] == SAMPLES - kept
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    uninterrupted = run_trust(
        f"--mllm=hf:{tiny_llava}", "--mllm-batch-size=1", "--mllm-cache=fresh", json_name="ref.json"
    )
    assert comparable(resumed.results) == comparable(uninterrupted.results)


def outputs_in(db: Path) -> int:
    """Cached answers, read without ever creating the file or taking a write lock (the run
    itself must set the cache up alone)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
            query = "SELECT COUNT(*) FROM entries WHERE kind = 'output'"
            return int(connection.execute(query).fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def wait_for_outputs(db: Path, *, at_least: int, proc: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        count = outputs_in(db)
        if count >= at_least:
            return count
        if proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) before it could be killed")
        time.sleep(0.1)
    pytest.fail("the run cached nothing within 120 s")


def test_a_fully_cached_rerun_never_imports_torch(
    pytester: pytest.Pytester, run_trust, tiny_llava: Path
) -> None:
    args = (f"--mllm=hf:{tiny_llava}", "-m", "truthfulness")
    assert run_trust(*args).result.ret == 0  # fills the cache
    pytester.makeconftest(
        "import sys\n"
        "def pytest_sessionfinish(session):\n"
        "    loaded = sorted(m for m in ('torch', 'transformers') if m in sys.modules)\n"
        "    open('heavy-modules.txt', 'w').write(','.join(loaded))\n"
    )
    rerun = run_trust(*args, subprocess=True, json_name="rerun.json")
    assert rerun.results["run"]["stats"]["outputs_cached"] == 30
    assert (pytester.path / "heavy-modules.txt").read_text() == ""


def test_the_canary_compares_batched_answers_with_answers_generated_alone(
    run_trust, tiny_llava: Path
) -> None:
    from PIL import Image

    from pytest_mllmtrust.backends.hf import TransformersBackend
    from pytest_mllmtrust.core.model import GenerationRequest

    args = (
        f"--mllm=hf:{tiny_llava}",
        "--mllm-canary=2",
        "-m",
        "truthfulness",
        "--mllm-batch-size=6",
    )
    run = run_trust(*args)
    results = run.results
    canary = results["canary"]["T.1"]
    assert canary["checked"] == 2
    checked = [s for s in results["samples"] if s["canary"] is not None]
    assert len(checked) == 2
    assert results["run"]["stats"]["canary_calls"] == 2
    # check the verdicts independently: generate each canary sample alone, here
    backend = TransformersBackend(str(tiny_llava))
    for sample in checked:
        with Image.open(FIXTURES / sample["image"]) as image:
            request = GenerationRequest(sample["prompt"], image.convert("RGB"), 100)
        (alone,) = backend.generate([request])
        assert sample["canary"] == ("same" if alone == sample["output"] else "differs")
    assert canary["differ"] == sum(s["canary"] == "differs" for s in checked)
    run.result.stdout.fnmatch_lines([f"canary: {canary['differ']} of 2 batched answers differ*"])

    again = run_trust(*args, json_name="again.json")
    assert again.results["run"]["stats"]["canary_calls"] == 0  # the single answers are cached
    assert again.results["canary"] == results["canary"]

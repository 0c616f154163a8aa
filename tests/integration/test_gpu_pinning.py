"""xdist worker -> GPU pinning, checked by the environment each real worker process sees.

No GPU is needed: the controller's ``CUDA_VISIBLE_DEVICES`` names the GPUs to share out, and
each worker must narrow it to its own slice before anything imports torch.
"""

from __future__ import annotations

import json

import pytest

from conftest import bundled_uids, write_replay
from pytest_mllmtrust.gpus import visible_gpus

pytest.importorskip("xdist")

RECORDER = """
import json, os

def pytest_sessionstart(session):
    worker = getattr(session.config, "workerinput", None)
    if worker is None:
        return
    gpus = getattr(session.config, "workeroutput", {}).get("mllmtrust_gpus")
    seen = {"cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "slice": gpus,
            "torch_imported": "torch" in __import__("sys").modules}
    with open(f"seen-{worker['workerid']}.json", "w") as out:
        json.dump(seen, out)
"""


def _answer(sample) -> str:
    return "I'm sorry, but I can't help with that." if sample.task == "S.4" else "Yes."


@pytest.fixture
def replay(pytester: pytest.Pytester):
    pytester.makeconftest(RECORDER)
    return write_replay(pytester.path / "answers.jsonl", _answer)


def test_each_worker_sees_only_its_own_slice_of_gpus(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, run_trust, replay
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5,7,9")
    run = run_trust(
        f"--mllm=replay:{replay}",
        "-n",
        "2",
        "--mllm-gpus-per-worker=2",
        "--mllm-shard-size=8",
        subprocess=True,
    )
    assert run.result.ret == 0, run.result.stdout.str()
    seen = {
        path.stem.removeprefix("seen-"): json.loads(path.read_text())
        for path in pytester.path.glob("seen-gw*.json")
    }
    assert seen["gw0"]["cuda"] == "3,5"
    assert seen["gw1"]["cuda"] == "7,9"
    assert seen["gw0"]["slice"] == ["3", "5"]
    assert seen["gw1"]["slice"] == ["7", "9"]
    assert set(seen) == {"gw0", "gw1"}
    # pinned in time: nothing had imported torch (so no CUDA context) when the session began
    assert not seen["gw0"]["torch_imported"]
    assert not seen["gw1"]["torch_imported"]
    # the controller merged every worker's verdicts once, into one results file and one gate
    uids = {sample.uid for sample in bundled_uids()}
    samples = run.results["samples"]
    assert len(samples) == len(uids) == 54
    assert {s["uid"] for s in samples} == uids
    assert {s["outcome"] for s in samples} <= {"pass", "fail"}
    assert run.results["gate"]["passed"] is True


def test_a_cpu_machine_is_left_alone(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, run_trust, replay
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    run = run_trust(f"--mllm=replay:{replay}", "-n", "2", subprocess=True)
    assert run.result.ret == 0, run.result.stdout.str()
    seen = {
        path.stem.removeprefix("seen-"): json.loads(path.read_text())
        for path in pytester.path.glob("seen-gw*.json")
    }
    assert set(seen) == {"gw0", "gw1"}
    if len(visible_gpus()) >= 2:  # a GPU machine: one GPU each, by index
        assert [seen["gw0"]["cuda"], seen["gw1"]["cuda"]] == ["0", "1"]
    else:  # a CPU machine (or a single GPU for a replay run): nothing pinned, nothing set
        assert seen["gw0"] == seen["gw1"] == {"cuda": None, "slice": None, "torch_imported": False}


def test_more_workers_than_gpus_is_a_usage_error_with_the_numbers(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, run_trust, replay
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5,7,9")
    run = run_trust(
        f"--mllm=replay:{replay}", "-n", "3", "--mllm-gpus-per-worker=2", subprocess=True
    )
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    text = run.result.stderr.str() + run.result.stdout.str()
    assert "3 xdist workers x 2 GPU(s) per worker" in text
    assert "need 6 GPUs, but 4 are visible" in text
    assert not list(pytester.path.glob("seen-gw*.json"))  # no worker was started

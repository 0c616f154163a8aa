"""An LLM judge that cannot decide, a model that cannot load, and what the terminal says."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import write_replay
from pytest_mllmtrust import EXIT_GATE_FAILED

pytestmark = pytest.mark.slow


def ocr_answers(pytester: pytest.Pytester) -> Path:
    return write_replay(pytester.path / "answers.jsonl", lambda s: "OPEN 24 HOURS")


def test_an_undecided_llm_judge_leaves_samples_unscored_never_passed(
    pytester: pytest.Pytester, run_trust, tiny_llava: Path
) -> None:
    # A random-weight model as the judge: its replies never contain a single [Yes] or [No].
    answers = ocr_answers(pytester)
    args = (f"--mllm=replay:{answers}", f"--mllm-judge=hf:{tiny_llava}", "-k", "ocr", "-rs")
    run = run_trust(*args)
    samples = run.results["samples"]
    assert len(samples) == 6
    assert {s["outcome"] for s in samples} == {"unscored"}
    assert all(s["judge"] == f"llm:hf:{tiny_llava}" for s in samples)
    assert all(isinstance(s["signals"]["judge_reply"], str) for s in samples)
    assert run.result.parseoutcomes() == {"unscored": 6, "deselected": 48}
    ocr = run.results["tasks"]["T.1"]
    assert ocr["counts"]["unscored"] == 6
    assert ocr["variants"] == {}  # nothing scored, so no metric was made up
    # a tiny local model is not the benchmark's GPT-4 judge: recorded as a substitute
    assert run.results["run"]["judges"]["T.1"]["ran"] == [
        {"judge": f"llm:hf:{tiny_llava}", "samples": 6, "official": False}
    ]
    assert run.results["run"]["judges"]["T.1"]["all_official"] is False
    assert run.results["run"]["stats"]["judge_calls"] == 1  # six judge prompts, one batch
    assert run.result.ret == EXIT_GATE_FAILED  # 100% unscored is over the 5% budget
    run.result.stdout.fnmatch_lines(["*gate: unscored<=0.05: MISSED, unscored = 1*"])

    again = run_trust(*args, json_name="again.json")
    assert again.results["run"]["stats"]["judge_calls"] == 0  # verdicts come from the cache
    assert again.results["run"]["stats"]["judgements_cached"] == 6


def test_a_model_that_cannot_load_stops_the_run_with_how_to_fetch_it(
    pytester: pytest.Pytester, run_trust
) -> None:
    started = time.monotonic()
    run = run_trust("--mllm=smolvlm-256m")  # not on disk, and the hub is offline in tests
    assert time.monotonic() - started < 60
    assert run.result.ret == pytest.ExitCode.INTERRUPTED
    text = run.result.stdout.str()
    assert "HuggingFaceTB/SmolVLM-256M-Instruct" in text
    assert "download" in text
    assert run.result.parseoutcomes().get("errors") == 1  # stopped after the first item


def test_quiet_mode_prints_one_line_and_verbose_mode_the_header(
    pytester: pytest.Pytester, run_trust
) -> None:
    answers = write_replay(pytester.path / "answers.jsonl", lambda s: "No.")
    quiet = run_trust(f"--mllm=replay:{answers}", "-q", "-m", "safety")
    quiet.result.stdout.fnmatch_lines(
        ["mllmtrust: 24 samples, overall *, 0 errors, no score thresholds set, only the *"]
    )
    gated = run_trust(f"--mllm=replay:{answers}", "-q", "-m", "safety", "--mllm-threshold=S.4=50")
    gated.result.stdout.fnmatch_lines(["mllmtrust: 24 samples, overall *, 0 errors, gate PASSED"])
    assert "MultiTrust overall" not in quiet.result.stdout.str()
    normal = run_trust(f"--mllm=replay:{answers}", "-m", "safety")
    normal.result.stdout.fnmatch_lines(
        [
            f"mllmtrust: model=replay:{answers} judge=rules data=bundled samples profile=corrected"
            " seed=0 limit=-"
            " threads=1 (--mllm-threads) schema=3",
            "*= mllmtrust =*",
            "24 samples: * passed, * failed, 0 unscored, 0 errors",
        ]
    )


def test_missing_typographic_images_are_rendered_and_seen_by_the_model(
    pytester: pytest.Pytester, run_trust, tiny_llava: Path
) -> None:
    import shutil

    from conftest import FIXTURES

    data = pytester.path / "data"
    shutil.copytree(FIXTURES, data)
    folder = data / "safety/typographic_jailbreak/behavior_graph"
    shutil.rmtree(folder)
    run = run_trust(
        f"--mllm=hf:{tiny_llava}",
        f"--mllm-data=multitrust={data}",
        "--mllm-allow-harmful",  # S.4 on a user-supplied data root
        "-k",
        "typographic-behavior",
        "--log-cli-level=INFO",
    )
    samples = run.results["samples"]
    assert len(samples) == 8
    assert {s["image"] for s in samples} == {"rendered:typographic"}
    assert all(s["outcome"] in ("pass", "fail") for s in samples)
    # the two prompts of one row share one rendered image; different rows differ
    by_row: dict[str, set[str]] = {}
    for s in samples:
        by_row.setdefault(s["key"].split("#")[0], set()).add(s["image_sha256"])
    assert all(len(ids) == 1 for ids in by_row.values())
    assert len(set().union(*by_row.values())) == 4
    # progress of the shard's generation, visible with live logging
    run.result.stdout.fnmatch_lines(
        ["*generating 8 of 8 samples (0 cached)*", "*S.4 typographic-behavior: 8/8 generated*"]
    )


def test_a_conftest_can_amend_the_results_document(pytester: pytest.Pytester, run_trust) -> None:
    answers = write_replay(pytester.path / "answers.jsonl", lambda s: "No.")
    pytester.makeconftest(
        "def pytest_mllmtrust_update_results(config, results):\n"
        "    results['run']['release_candidate'] = 'rc-7'\n"
    )
    run = run_trust(f"--mllm=replay:{answers}", "-m", "safety")
    assert run.results["run"]["release_candidate"] == "rc-7"

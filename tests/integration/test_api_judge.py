"""An OpenAI-compatible LLM judge over real HTTP: strict parsing, errors, caching, pinning."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import write_replay
from pytest_mllmtrust.testing_server import ChatServer, Fault, Rule, prompt_text

KEY = "sk-judge-4b1d-do-not-leak"

# The T.1 OCR judge prompt names the text the image shows; the judge's reply depends on it.
REPLIES = {
    "STOP": "[Yes]",
    "GATE 7": "[yes]",  # case does not matter
    "EXIT": "[No]",
    "OPEN 24 HOURS": "I believe the answer is right.",  # no bracketed verdict: unscored
    "MAPLE STREET": "[Yes] ... on reflection [No]",  # contradictory: unscored
}


def judge_reply(body: dict[str, Any]) -> str:
    text = prompt_text(body)
    return next((reply for shown, reply in REPLIES.items() if shown in text), "[No]")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatServer]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with ChatServer(reply=judge_reply) as chat:
        chat.rules.append(Rule("SALE 50%", Fault.status(500)))  # this sample's judge call fails
        yield chat


def judge_args(server: ChatServer, answers: Path, model: str) -> tuple[str, ...]:
    return (
        f"--mllm=replay:{answers}",
        f"--mllm-judge=openai:{model}",
        f"--mllm-judge-base-url={server.base_url}",
        "--mllm-retries=1",
        "-k",
        "ocr",
    )


def test_judge_replies_are_parsed_strictly_and_failures_are_errors(
    pytester: pytest.Pytester, run_trust, server: ChatServer
) -> None:
    answers = write_replay(pytester.path / "answers.jsonl", lambda s: f"It says {s.target}.")
    args = judge_args(server, answers, "gpt-4-1106-preview")
    run = run_trust(*args)
    by_text = {s["target"]: s["outcome"] for s in run.results["samples"]}
    assert by_text == {
        "STOP": "pass",
        "GATE 7": "pass",
        "EXIT": "fail",
        "OPEN 24 HOURS": "unscored",
        "MAPLE STREET": "unscored",
        "SALE 50%": "error",
    }
    error = next(s for s in run.results["samples"] if s["outcome"] == "error")
    assert "500" in error["rationale"]
    # every judge prompt went over HTTP, the failing one twice (one retry)
    assert len(server.requests) == 6 + 1
    assert all(r["model"] == "gpt-4-1106-preview" for r in server.requests)
    assert all(r.get("temperature", 0) == 0 for r in server.requests)  # greedy, as upstream
    # the benchmark's own judge model: the OCR verdicts are official
    assert run.results["run"]["judges"]["T.1"] == {
        "official_judge": "rules (object/attribute/scene); GPT-4 judge (OCR, grounding)",
        "ran": [{"judge": "llm:openai:gpt-4-1106-preview", "samples": 6, "official": True}],
        "all_official": True,
    }
    assert run.results["run"]["judge_roles"]["llm"]["pinned"] is True
    assert KEY not in run.results_path.read_text(encoding="utf-8")
    assert KEY not in run.result.stdout.str()

    # A rerun answers from the judgement cache; only the errored sample is judged again.
    again = run_trust(*args, json_name="again.json")
    assert len(server.requests) == 7 + 2
    assert again.results["run"]["stats"]["judgements_cached"] == 5


def test_another_judge_model_is_another_cache_entry_and_an_unpinned_one_warns(
    pytester: pytest.Pytester, run_trust, server: ChatServer
) -> None:
    answers = write_replay(pytester.path / "answers.jsonl", lambda s: f"It says {s.target}.")
    run_trust(*judge_args(server, answers, "gpt-4-1106-preview"))
    before = len(server.requests)
    run = run_trust(*judge_args(server, answers, "gpt-4o"), json_name="other.json")
    assert len(server.requests) - before == 7  # nothing reused from the other judge's verdicts
    run.result.stdout.fnmatch_lines(["*UnpinnedJudgeWarning*'gpt-4o' is an alias*"])
    assert run.results["run"]["judge_roles"]["llm"]["pinned"] is False
    assert run.results["run"]["judges"]["T.1"]["all_official"] is False

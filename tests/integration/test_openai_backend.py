"""The ``openai:`` backend against a real chat-completions server on 127.0.0.1.

No mocked client: :class:`ChatServer` is an HTTP server in this process that records what it
receives and misbehaves on cue (error statuses, Retry-After, slow answers, broken bodies).
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from conftest import bundled_uids
from pytest_mllmtrust.backends.openai_api import OpenAIBackend
from pytest_mllmtrust.core.errors import BackendError
from pytest_mllmtrust.core.model import GenerationRequest
from pytest_mllmtrust.testing_server import ChatServer, Fault, Rule

KEY = "sk-planted-7f3c9a1e-do-not-leak"
REFUSAL = "I'm sorry, I can't help with that."


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer() as chat:
        yield chat


@pytest.fixture
def make_backend(server: ChatServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    made: list[OpenAIBackend] = []

    def make(**options: Any) -> OpenAIBackend:
        settings: dict[str, Any] = {
            "base_url": server.base_url,
            "concurrency": 4,
            "timeout": 5.0,
            "retries": 3,
            "backoff_base": 0.01,
            **options,
        }
        backend = OpenAIBackend("test-model", **settings)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


def ask(text: str, image: Image.Image | None = None, tokens: int = 50) -> GenerationRequest:
    return GenerationRequest(text, image, tokens, f"uid:{text}")


def data_url_image(body: dict[str, Any]) -> Image.Image:
    parts = body["messages"][0]["content"]
    (image_part,) = [p for p in parts if p["type"] == "image_url"]
    url = image_part["image_url"]["url"]
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :])))


# -- what goes over the wire ------------------------------------------------------------------


def test_image_goes_as_a_data_url_with_greedy_settings(server: ChatServer, make_backend) -> None:
    picture = Image.new("RGB", (300, 120), (200, 10, 10))
    (answer,) = make_backend().generate([ask("What colour is this?", picture, tokens=17)])
    assert answer == "answer to: What colour is this?"
    (body,) = server.requests
    assert body["model"] == "test-model"
    assert body["temperature"] == 0
    assert body["max_tokens"] == 17
    assert len(body["messages"]) == 1
    assert body["messages"][0]["role"] == "user"
    parts = body["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["image_url", "text"]
    assert parts[1]["text"] == "What colour is this?"
    sent = data_url_image(body)
    assert sent.size == (300, 120)
    assert sent.convert("RGB").getpixel((10, 10)) == (200, 10, 10)
    assert server.authorizations == [f"Bearer {KEY}"]


def test_max_image_side_downscales_the_longer_side(server: ChatServer, make_backend) -> None:
    backend = make_backend(max_image_side=100)
    backend.generate(
        [ask("wide", Image.new("RGB", (300, 120))), ask("small", Image.new("L", (40, 80)))]
    )
    sizes = {
        b["messages"][0]["content"][1]["text"]: data_url_image(b).size for b in server.requests
    }
    assert sizes == {"wide": (100, 40), "small": (40, 80)}  # aspect kept; never upscaled
    assert backend.fingerprint()["max_image_side"] == 100


def test_text_only_requests_send_plain_string_content(server: ChatServer, make_backend) -> None:
    assert make_backend().generate([ask("Just text")]) == ["answer to: Just text"]
    assert server.requests[0]["messages"] == [{"role": "user", "content": "Just text"}]


def test_answers_come_back_in_request_order(server: ChatServer, make_backend) -> None:
    server.reply = lambda body: body["messages"][0]["content"].upper()
    prompts = [f"prompt number {i}" for i in range(12)]
    assert make_backend().generate([ask(p) for p in prompts]) == [p.upper() for p in prompts]


def test_concurrency_is_bounded_as_configured(server: ChatServer, make_backend) -> None:
    server.latency = 0.1
    backend = make_backend(concurrency=4)
    assert backend.preferred_batch_size == 32  # eight waves per call keep the pipeline busy
    started = time.monotonic()
    answers = backend.generate([ask(f"q{i}") for i in range(20)])
    elapsed = time.monotonic() - started
    assert all(isinstance(a, str) for a in answers)
    assert server.max_in_flight == 4
    # 20 requests, 4 at a time, 0.1 s each: 5 waves, not 20 (serial) and not 1 (unbounded)
    assert 0.45 <= elapsed < 1.5


# -- retries ------------------------------------------------------------------------------


def test_429_retry_after_is_honoured(server: ChatServer, make_backend) -> None:
    server.faults.append(Fault.status(429, retry_after=0.3))
    assert make_backend(backoff_base=0.001).generate([ask("rate limited")]) == [
        "answer to: rate limited"
    ]
    assert len(server.requests) == 2
    assert server.arrivals[1] - server.arrivals[0] >= 0.3


def test_retry_after_as_an_http_date_is_honoured(server: ChatServer, make_backend) -> None:
    from email.utils import formatdate

    server.faults.append(Fault.status(503, retry_after=formatdate(time.time() + 2.2, usegmt=True)))
    assert make_backend(backoff_base=0.001).generate([ask("later")]) == ["answer to: later"]
    # the date has one-second resolution: the wait is 1.2 to 2.2 s less the time the first
    # request took to go out (up to a second on a loaded machine), never the 1 ms backoff
    assert server.arrivals[1] - server.arrivals[0] >= 0.15


def test_a_burst_of_500s_is_retried_with_growing_backoff(server: ChatServer, make_backend) -> None:
    server.faults.extend([Fault.status(500), Fault.status(502), Fault.status(503)])
    assert make_backend(backoff_base=0.05).generate([ask("flaky")]) == ["answer to: flaky"]
    assert len(server.requests) == 4
    gaps = [b - a for a, b in zip(server.arrivals, server.arrivals[1:], strict=False)]
    # equal jitter: the wait before retry k is in [base * 2**k / 2, base * 2**k]
    assert gaps[0] >= 0.025
    assert gaps[2] >= 0.1


@pytest.mark.parametrize(
    "fault", [Fault.truncated(), Fault.not_json(), Fault.reset()], ids=lambda f: f.kind
)
def test_broken_responses_are_retried(server: ChatServer, make_backend, fault: Fault) -> None:
    server.faults.extend([fault, fault])
    assert make_backend().generate([ask("broken")]) == ["answer to: broken"]
    assert len(server.requests) == 3


def test_an_empty_answer_is_asked_again_then_becomes_an_error(
    server: ChatServer, make_backend
) -> None:
    replies = iter(["", "  \n", "a real answer"])
    server.reply = lambda body: next(replies, "")
    assert make_backend().generate([ask("quiet")]) == ["a real answer"]
    assert len(server.requests) == 3
    server.reply = ""
    (answer,) = make_backend(retries=1).generate([ask("silent")])
    assert isinstance(answer, BackendError)
    assert "empty answer after 2 attempt(s)" in str(answer)


def test_timeouts_are_retried_then_become_errors(server: ChatServer, make_backend) -> None:
    server.faults.extend([Fault.delay(0.6)] * 3)
    started = time.monotonic()
    (answer,) = make_backend(timeout=0.2, retries=2).generate([ask("slow")])
    assert isinstance(answer, BackendError)
    assert "timed out" in str(answer)
    assert "3 attempt" in str(answer)
    assert len(server.requests) == 3
    assert time.monotonic() - started < 2.0


def test_a_timeout_then_a_fast_answer_succeeds(server: ChatServer, make_backend) -> None:
    server.faults.append(Fault.delay(0.6))
    assert make_backend(timeout=0.2).generate([ask("slow once")]) == ["answer to: slow once"]


def test_exhausted_retries_fail_only_their_own_slot(server: ChatServer, make_backend) -> None:
    server.rules.append(Rule("doomed", Fault.status(503)))
    answers = make_backend(retries=2).generate([ask("fine 1"), ask("doomed"), ask("fine 2")])
    assert answers[0] == "answer to: fine 1"
    assert answers[2] == "answer to: fine 2"
    assert isinstance(answers[1], BackendError)
    assert str(answers[1]) == "HTTP 503 after 3 attempt(s)"
    assert sum("doomed" in json.dumps(b) for b in server.requests) == 3


@pytest.mark.parametrize(
    ("fault", "words"),
    [(Fault.empty_choices(), "no choices"), (Fault.content_filter(), "content filter")],
    ids=["empty-choices", "content-filter"],
)
def test_a_withheld_answer_is_an_error_not_an_output(
    server: ChatServer, make_backend, fault: Fault, words: str
) -> None:
    server.faults.append(fault)
    (answer,) = make_backend().generate([ask("hmm")])
    assert isinstance(answer, BackendError)
    assert words in str(answer)


def test_401_fails_at_once_without_revealing_the_key(server: ChatServer, make_backend) -> None:
    server.faults.extend([Fault.status(401)] * 5)
    (answer,) = make_backend(retries=4).generate([ask("who am i")])
    assert isinstance(answer, BackendError)
    assert len(server.requests) == 1  # no retries
    assert "401" in str(answer)
    assert "key is missing or wrong" in str(answer)
    assert KEY not in str(answer)
    assert KEY not in repr(answer)


def test_404_names_the_model_and_is_not_retried(server: ChatServer, make_backend) -> None:
    server.faults.extend([Fault.status(404)] * 5)
    (answer,) = make_backend().generate([ask("where")])
    assert isinstance(answer, BackendError)
    assert "404" in str(answer)
    assert "test-model" in str(answer)
    assert len(server.requests) == 1


def test_the_key_is_never_in_the_identity(server: ChatServer, make_backend) -> None:
    backend = make_backend()
    assert backend.fingerprint() == {
        "backend": "openai",
        "model": "test-model",
        "base_url": server.base_url,
        "max_image_side": None,
        "temperature": 0.0,
    }
    described = backend.describe()
    assert described["concurrency"] == 4
    assert described["retries"] == 3
    assert KEY not in json.dumps(described)


def test_userinfo_and_query_stay_out_of_the_fingerprint(server: ChatServer, make_backend) -> None:
    url = server.base_url.replace("http://", "http://user:secret@") + "?api-key=secret"
    assert make_backend(base_url=url).fingerprint()["base_url"] == server.base_url


def test_without_a_key_a_placeholder_is_sent(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = OpenAIBackend("test-model", base_url=server.base_url)
    try:
        assert backend.generate([ask("local")]) == ["answer to: local"]
    finally:
        backend.close()
    assert server.authorizations == ["Bearer not-needed"]


def test_batches_reuse_one_loop_and_close_cleanly(server: ChatServer, make_backend) -> None:
    backend = make_backend()
    for i in range(3):
        assert backend.generate([ask(f"round {i}")]) == [f"answer to: round {i}"]
    backend.close()
    backend.close()  # idempotent


# -- through pytest -------------------------------------------------------------------------


def test_failed_calls_are_errors_not_refusals_and_successes_are_cached(
    run_trust, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    samples = bundled_uids(("S.4",))
    prompts = [s.prompt for s in samples]
    # two samples whose prompt no other sample's prompt contains: their calls always fail
    doomed = [
        s for s in samples if sum(s.prompt in p for p in prompts) == 1 and s.key.endswith("#b")
    ][:2]
    assert len(doomed) == 2
    with ChatServer(reply=REFUSAL) as server:
        for sample in doomed:
            server.rules.append(Rule(sample.prompt, Fault.status(503, retry_after=0)))
        args = (
            "--mllm=openai:test-model",
            f"--mllm-base-url={server.base_url}",
            "--mllm-retries=1",
            "-m",
            "safety",
        )
        run = run_trust(*args)
        outcomes = run.outcomes
        assert len(outcomes) == len(samples) == 24
        for sample in doomed:
            assert outcomes[sample.uid] == "error"
        assert all(o == "pass" for uid, o in outcomes.items() if uid not in {s.uid for s in doomed})
        by_uid = {s["uid"]: s for s in run.results["samples"]}
        failed = json.dumps(by_uid[doomed[0].uid])
        assert "HTTP 503 after 2 attempt(s)" in failed
        assert REFUSAL not in failed  # no output was recorded for the failed call
        stats = run.results["run"]["stats"]
        assert stats["outputs_generated"] == 22
        assert stats["errors"] == 2
        assert len(server.requests) == 22 + 2 * 2
        assert all(a == f"Bearer {KEY}" for a in server.authorizations)
        # the key is in no file and no output of the run
        assert KEY not in run.results_path.read_text(encoding="utf-8")
        assert KEY not in run.result.stdout.str()

        before = len(server.requests)
        again = run_trust(*args, json_name="again.json")
        assert again.outcomes == outcomes
        stats = again.results["run"]["stats"]
        assert stats["outputs_cached"] == 22
        assert stats["outputs_generated"] == 0
        # only the two failed samples went out again (twice each); the rest came from the cache
        new = server.requests[before:]
        assert len(new) == 4
        assert {prompt for b in new for prompt in [b["messages"][0]["content"][1]["text"]]} == {
            s.prompt for s in doomed
        }

"""The hosted scorers (Perspective, E12; OpenAI moderation, E13) against a real HTTP server on
127.0.0.1.

:class:`ChatServer` answers both APIs' shapes, records every request (path and query string
included) and misbehaves on cue. Its scores come from a function each test sets, so every
expected maximum below is worked out from that function by hand.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_mllmtrust.core.errors import ConfigError, JudgeError
from pytest_mllmtrust.judges.hosted import (
    PERSPECTIVE_ATTRIBUTES,
    PERSPECTIVE_URL,
    ModerationScorer,
    PerspectiveScorer,
)
from pytest_mllmtrust.testing_server import ChatServer, Fault, Rule

# '/' and '+' make the percent-encoded form (as sent in the query string) differ from the key
KEY = "AIza-planted/7c1e+do-not-leak"
QUOTED_KEY = urllib.parse.quote_plus(KEY)
OPENAI_KEY = "sk-planted-4b9d-moderation-do-not-leak"


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer() as chat:
        yield chat


@pytest.fixture
def perspective(server: ChatServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("PERSPECTIVE_API_KEY", raising=False)

    def make(**options: Any) -> PerspectiveScorer:
        settings: dict[str, Any] = {
            "api_key": KEY,
            "url": server.perspective_url,
            "concurrency": 4,
            "timeout": 5.0,
            "retries": 2,
            "backoff_base": 0.01,
            **options,
        }
        return PerspectiveScorer(**settings)

    return make


@pytest.fixture
def moderation(server: ChatServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    made: list[ModerationScorer] = []

    def make(**options: Any) -> ModerationScorer:
        settings: dict[str, Any] = {
            "base_url": server.base_url,
            "concurrency": 4,
            "timeout": 5.0,
            "retries": 2,
            "backoff_base": 0.01,
            **options,
        }
        scorer = ModerationScorer("omni-moderation-latest", **settings)
        made.append(scorer)
        return scorer

    yield make
    for scorer in made:
        scorer.close()


def leaks(value: object, *secrets: str) -> bool:
    text = value if isinstance(value, str) else repr(value)
    return any(secret in text for secret in secrets)


# -- Perspective: what is sent ----------------------------------------------------------------


def test_perspective_request_body_and_key_in_the_query(server: ChatServer, perspective) -> None:
    assert perspective().scores(["you are an idiot"]) == [0.9]  # the default scoring function
    (body,) = server.requests
    assert body == {
        "comment": {"text": "you are an idiot"},
        "requestedAttributes": {name: {} for name in PERSPECTIVE_ATTRIBUTES},
        "languages": ["en"],
        "doNotStore": True,
    }
    (path,) = server.paths
    route, _, query = path.partition("?")
    assert route == "/v1alpha1/comments:analyze"
    assert urllib.parse.parse_qs(query) == {"key": [KEY]}
    assert server.authorizations == [None]  # the key goes in the query, nowhere else


def test_perspective_default_attributes_and_url() -> None:
    assert PERSPECTIVE_ATTRIBUTES == (
        "TOXICITY",
        "SEVERE_TOXICITY",
        "IDENTITY_ATTACK",
        "INSULT",
        "PROFANITY",
        "THREAT",
        "SEXUALLY_EXPLICIT",
        "FLIRTATION",
    )
    assert PERSPECTIVE_URL == "https://commentanalyzer.googleapis.com/v1alpha1/comments:analyze"
    scorer = PerspectiveScorer(api_key=KEY)
    assert scorer.fingerprint() == {
        "scorer": "perspective",
        "url": PERSPECTIVE_URL,
        "attributes": list(PERSPECTIVE_ATTRIBUTES),
        "languages": ["en"],
    }


def test_a_query_already_in_the_url_is_kept_and_hidden(server: ChatServer, perspective) -> None:
    scorer = perspective(url=server.perspective_url + "?alt=json", languages=("de", "en"))
    assert scorer.scores(["hallo"]) == [0.1]
    assert urllib.parse.parse_qs(server.paths[0].partition("?")[2]) == {
        "alt": ["json"],
        "key": [KEY],
    }
    assert server.requests[0]["languages"] == ["de", "en"]
    assert scorer.fingerprint()["url"] == server.perspective_url  # no query in the identity
    assert scorer.fingerprint()["languages"] == ["de", "en"]


# -- Perspective: scores ----------------------------------------------------------------------

# per text, the value the server gives each attribute; unlisted attributes get 0.01
TABLE: dict[str, dict[str, float]] = {
    "calm": {"TOXICITY": 0.05, "INSULT": 0.30, "THREAT": 0.12},
    "rude": {"TOXICITY": 0.70, "INSULT": 0.85, "FLIRTATION": 0.20},
    "lewd": {"SEXUALLY_EXPLICIT": 0.66, "FLIRTATION": 0.91, "TOXICITY": 0.40},
}


def table_scores(text: str, name: str) -> float:
    return TABLE[text].get(name, 0.01)


def test_score_is_the_max_over_the_attributes(server: ChatServer, perspective) -> None:
    server.scores = table_scores
    # calm: max(0.05, 0.30, 0.12, 0.01...) = 0.30; rude: 0.85 (INSULT); lewd: 0.91 (FLIRTATION)
    assert perspective().scores(["calm", "rude", "lewd"]) == [0.30, 0.85, 0.91]


def test_only_the_requested_attributes_count(server: ChatServer, perspective) -> None:
    server.scores = table_scores
    scorer = perspective(attributes=("TOXICITY", "THREAT"))
    # calm: max(TOXICITY 0.05, THREAT 0.12) = 0.12 (INSULT's 0.30 is not asked for)
    # rude: max(0.70, 0.01) = 0.70; lewd: max(0.40, 0.01) = 0.40
    assert scorer.scores(["calm", "rude", "lewd"]) == [0.12, 0.70, 0.40]
    assert all(set(b["requestedAttributes"]) == {"TOXICITY", "THREAT"} for b in server.requests)
    assert scorer.fingerprint()["attributes"] == ["TOXICITY", "THREAT"]


def test_a_partial_reply_gives_the_max_of_what_it_scores(server: ChatServer, perspective) -> None:
    # the server leaves out INSULT and FLIRTATION (the largest ones above)
    server.scores = lambda text, name: (
        None if name in ("INSULT", "FLIRTATION") else table_scores(text, name)
    )
    # calm: max(0.05, 0.12) = 0.12; rude: 0.70; lewd: max(0.66, 0.40) = 0.66
    assert perspective().scores(["calm", "rude", "lewd"]) == [0.12, 0.70, 0.66]


def test_a_reply_scoring_nothing_is_an_error(server: ChatServer, perspective) -> None:
    server.scores = lambda text, name: None if text == "void" else 0.25
    server.faults.append(Fault.missing_scores())  # the first request: no attributeScores at all
    first = perspective(concurrency=1).scores(["gap"])
    second = perspective().scores(["void", "fine"])
    assert isinstance(first[0], JudgeError)
    assert "no attributeScores" in str(first[0])
    assert isinstance(second[0], JudgeError)
    assert "none of the requested attributes" in str(second[0])
    assert second[1] == 0.25
    assert len(server.requests) == 3  # not retried: the service would answer the same


def test_scores_come_back_in_order(server: ChatServer, perspective) -> None:
    server.scores = lambda text, name: int(text.split()[1]) / 100
    texts = [f"text {i}" for i in range(25)]
    assert perspective(concurrency=5).scores(texts) == [i / 100 for i in range(25)]
    assert perspective().scores([]) == []


def test_perspective_concurrency_is_bounded(server: ChatServer, perspective) -> None:
    server.latency = 0.1
    started = time.monotonic()
    scores = perspective(concurrency=3).scores([f"t{i}" for i in range(12)])
    elapsed = time.monotonic() - started
    assert scores == [0.1] * 12
    assert server.max_in_flight == 3
    # 12 requests, 3 at a time, 0.1 s each: 4 waves (not 1 if unbounded, not 12 if serial)
    assert 0.35 <= elapsed < 1.0


def test_rate_limit_spaces_the_requests(server: ChatServer, perspective) -> None:
    perspective(concurrency=5, rate_limit=20).scores([f"t{i}" for i in range(5)])
    arrivals = sorted(server.arrivals)
    assert len(arrivals) == 5
    # 20 requests/s: the k-th request no earlier than k x 0.05 s after the first, whatever the
    # five threads would do by themselves (a loaded machine only ever delays one)
    assert all(t - arrivals[0] >= 0.05 * k - 0.01 for k, t in enumerate(arrivals))


# -- Perspective: failures --------------------------------------------------------------------


def test_429_with_retry_after_is_retried(server: ChatServer, perspective) -> None:
    server.faults.append(Fault.status(429, retry_after=0.3))
    assert perspective(backoff_base=0.001).scores(["limited idiot"]) == [0.9]
    assert len(server.requests) == 2
    assert server.arrivals[1] - server.arrivals[0] >= 0.3  # not the 1 ms backoff


def test_a_persistent_500_fails_only_its_text(server: ChatServer, perspective) -> None:
    server.rules.append(Rule("doomed", Fault.status(500)))
    scores = perspective(retries=2).scores(["fine", "doomed idiot", "also fine idiot"])
    assert scores[0] == 0.1
    assert scores[2] == 0.9
    assert isinstance(scores[1], JudgeError)
    assert str(scores[1]) == "perspective: HTTP 500 after 3 attempt(s)"
    assert sum(b["comment"]["text"] == "doomed idiot" for b in server.requests) == 3
    assert len(server.requests) == 5


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        (Fault.not_json(), "unreadable response"),
        (Fault.truncated(), "broken response"),
        (Fault.reset(), "connection error"),
    ],
    ids=lambda v: v.kind if isinstance(v, Fault) else "",
)
def test_broken_replies_are_retried_then_errors(
    server: ChatServer, perspective, fault: Fault, words: str
) -> None:
    server.faults.extend([fault] * 3)
    (score,) = perspective(retries=2).scores(["broken"])
    assert isinstance(score, JudgeError)
    assert words in str(score)
    assert "3 attempt(s)" in str(score)
    assert len(server.requests) == 3
    # one broken reply, then a good one: the retry saves the text
    server.faults.append(fault)
    assert perspective(retries=2).scores(["mended idiot"]) == [0.9]


def test_timeouts_become_errors(server: ChatServer, perspective) -> None:
    server.faults.extend([Fault.delay(0.8)] * 2)
    started = time.monotonic()
    (score,) = perspective(timeout=0.2, retries=1).scores(["slow"])
    assert isinstance(score, JudgeError)
    assert "timed out (timeout 0.2 s) after 2 attempt(s)" in str(score)
    assert len(server.requests) == 2
    assert time.monotonic() - started < 1.2  # did not wait for the 0.8 s answers


def test_a_400_is_not_retried(server: ChatServer, perspective) -> None:
    (score,) = perspective(retries=3).scores([""])  # Perspective refuses empty comments
    assert isinstance(score, JudgeError)
    assert "HTTP 400" in str(score)
    assert "Comment must be non-empty." in str(score)
    assert len(server.requests) == 1


def test_missing_key_is_a_config_error(server: ChatServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERSPECTIVE_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="PERSPECTIVE_API_KEY") as caught:
        PerspectiveScorer(url=server.perspective_url)
    assert "export PERSPECTIVE_API_KEY=" in str(caught.value)
    monkeypatch.setenv("PERSPECTIVE_API_KEY", "from-the-environment")
    assert PerspectiveScorer(url=server.perspective_url).scores(["x"]) == [0.1]
    assert server.paths[0].endswith("?key=from-the-environment")


@pytest.mark.parametrize(
    "options",
    [{"concurrency": 0}, {"timeout": 0}, {"retries": -1}, {"attributes": ()}, {"languages": []}],
)
def test_bad_settings_are_config_errors(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        PerspectiveScorer(api_key=KEY, **options)


def test_the_key_never_leaks(server: ChatServer, perspective) -> None:
    # a wrong path: the server's 404 message echoes the path, query (and so the key) included
    wrong = perspective(url=server.base_url + "/not-here")
    (missing,) = wrong.scores(["x"])
    assert isinstance(missing, JudgeError)
    assert "HTTP 404" in str(missing)
    assert "no route /v1/not-here?key=***" in str(missing)  # scrubbed, not dropped silently
    server.faults.extend([Fault.status(401), Fault.status(503), Fault.status(503)])
    scorer = perspective(retries=1)
    (refused,) = scorer.scores(["a"])
    (failed,) = scorer.scores(["b"])
    assert "API key was refused" in str(refused)
    assert "HTTP 503 after 2 attempt(s)" in str(failed)
    for error in (missing, refused, failed):
        assert isinstance(error, JudgeError)
        assert not leaks(str(error), KEY, QUOTED_KEY)
        assert not leaks(repr(error), KEY, QUOTED_KEY)
        # nothing rides along as cause or context: neither the library's exception (its
        # attributes hold the URL, key included) nor an unscrubbed internal one
        assert error.__cause__ is None
        assert error.__context__ is None
        assert error.__traceback__ is None
    for shown in (
        repr(scorer),
        str(scorer),
        scorer.describe(),
        json.dumps(scorer.fingerprint()),
        repr(wrong),
        wrong.describe(),
        json.dumps(wrong.fingerprint()),
    ):
        assert not leaks(shown, KEY, QUOTED_KEY)
    # and the key really was sent: these checks are not vacuous
    assert all(path.endswith("key=" + QUOTED_KEY) for path in server.paths)
    assert "Perspective API at " + server.perspective_url in scorer.describe()


# -- OpenAI moderation ------------------------------------------------------------------------


def moderation_table(text: str, name: str) -> float:
    """Per text, one category stands out; everything else scores 0.02."""
    standout = {
        "threat": ("harassment/threatening", 0.77),
        "slur": ("hate", 0.64),
        "gore": ("violence/graphic", 0.58),
        "plain": ("sexual", 0.03),
    }
    category, value = standout[text]
    return value if name == category else 0.02


def test_moderation_request_and_max_over_categories(server: ChatServer, moderation) -> None:
    server.scores = moderation_table
    scorer = moderation()
    assert scorer.scores(["threat", "slur", "gore", "plain"]) == [0.77, 0.64, 0.58, 0.03]
    (body,) = server.requests  # four texts, one request
    assert body == {"model": "omni-moderation-latest", "input": ["threat", "slur", "gore", "plain"]}
    assert server.paths == ["/v1/moderations"]
    assert server.authorizations == [f"Bearer {OPENAI_KEY}"]
    assert scorer.served_models == {"omni-moderation-latest"}


def test_moderation_categories_can_be_limited(server: ChatServer, moderation) -> None:
    server.scores = moderation_table
    scorer = moderation(categories=("hate", "violence/graphic"))
    # threat's 0.77 is outside the two: 0.02; slur: 0.64; gore: 0.58; plain: 0.02
    assert scorer.scores(["threat", "slur", "gore", "plain"]) == [0.02, 0.64, 0.58, 0.02]
    assert scorer.fingerprint()["categories"] == ["hate", "violence/graphic"]


def test_moderation_batches_and_keeps_order(server: ChatServer, moderation) -> None:
    server.scores = lambda text, name: int(text[1:]) / 100 if name == "hate" else 0.0
    texts = [f"t{i}" for i in range(40)]
    assert moderation().scores(texts) == [i / 100 for i in range(40)]
    assert len(server.requests) == 2  # 32 + 8
    sent = sorted((b["input"] for b in server.requests), key=len, reverse=True)
    assert sent == [texts[:32], texts[32:]]


def test_moderation_batch_size_and_concurrency(server: ChatServer, moderation) -> None:
    server.latency = 0.1
    started = time.monotonic()
    scores = moderation(batch_size=2, concurrency=2).scores([f"x{i}" for i in range(8)])
    elapsed = time.monotonic() - started
    assert scores == [0.1] * 8
    assert len(server.requests) == 4
    assert server.max_in_flight == 2
    assert 0.18 <= elapsed < 0.8  # 4 requests, 2 at a time: 2 waves of 0.1 s


@pytest.mark.parametrize(("status", "tries"), [(500, 3), (400, 1)])
def test_a_failing_batch_falls_back_to_single_texts(
    server: ChatServer, moderation, status: int, tries: int
) -> None:
    server.rules.append(Rule("poison", Fault.status(status)))
    texts = ["a idiot", "b", "poison", "c", "d idiot"]
    scores = moderation(retries=2, batch_size=5).scores(texts)
    assert scores[:2] == [0.9, 0.1]
    assert scores[3:] == [0.1, 0.9]
    assert isinstance(scores[2], JudgeError)
    assert f"HTTP {status}" in str(scores[2])
    inputs = [b["input"] for b in server.requests]
    # the batch (tried `tries` times), then each text alone; poison alone `tries` times again
    assert inputs.count(texts) == tries
    assert inputs.count(["poison"]) == tries
    assert all(inputs.count([t]) == 1 for t in texts if t != "poison")
    assert len(inputs) == 2 * tries + 4


def test_a_refused_key_fails_the_batch_without_fallback(server: ChatServer, moderation) -> None:
    server.faults.extend([Fault.status(401)] * 10)
    scorer = moderation()
    scores = scorer.scores(["one", "two", "three"])
    assert len(server.requests) == 1  # neither retried nor split
    assert all(isinstance(s, JudgeError) for s in scores)
    assert len({id(s) for s in scores}) == 3  # one error object per text
    assert all(s.__context__ is None for s in scores if isinstance(s, JudgeError))
    assert "key is missing or wrong" in str(scores[0])
    for shown in (*map(str, scores), *map(repr, scores), repr(scorer), scorer.describe()):
        assert not leaks(shown, OPENAI_KEY)
    assert not leaks(json.dumps(scorer.fingerprint()), OPENAI_KEY)


def test_moderation_429_retry_after_then_success(server: ChatServer, moderation) -> None:
    server.faults.append(Fault.status(429, retry_after=0.3))
    assert moderation(backoff_base=0.001).scores(["idiot", "nice"]) == [0.9, 0.1]
    assert len(server.requests) == 2
    assert server.arrivals[1] - server.arrivals[0] >= 0.3


def test_moderation_timeouts_and_bad_json_are_errors(server: ChatServer, moderation) -> None:
    server.faults.extend([Fault.delay(0.8)] * 2)
    (slow,) = moderation(timeout=0.2, retries=1).scores(["slow"])
    assert isinstance(slow, JudgeError)
    assert "timed out" in str(slow)
    server.faults.extend([Fault.not_json()] * 2)
    (garbled,) = moderation(retries=1).scores(["garbled"])
    assert isinstance(garbled, JudgeError)
    assert "unreadable response" in str(garbled)
    assert len(server.requests) == 4


def test_a_result_without_scores_is_an_item_error(server: ChatServer, moderation) -> None:
    server.faults.append(Fault.missing_scores())
    scores = moderation().scores(["p", "q"])
    assert all(isinstance(s, JudgeError) for s in scores)
    assert "no category_scores" in str(scores[0])
    assert len(server.requests) == 1
    # a reply in which the scoring function leaves every category out for one text
    server.scores = lambda text, name: None if text == "blank" else 0.4
    scores = moderation().scores(["blank", "full"])
    assert isinstance(scores[0], JudgeError)
    assert scores[1] == 0.4


def test_moderation_key_handling(server: ChatServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        ModerationScorer()
    # a local server needs no key: a placeholder is sent instead
    with ModerationScorer(base_url=server.base_url) as scorer:
        assert scorer.scores(["idiot"]) == [0.9]
        assert scorer.fingerprint() == {
            "scorer": "openai-moderation",
            "model": "omni-moderation-latest",
            "base_url": server.base_url,
            "categories": None,
        }
    assert server.authorizations == ["Bearer not-needed"]

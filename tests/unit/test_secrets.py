"""The redactor and the terminal escaping, on generated inputs: whatever surrounds a key, however
it was cut or encoded, no recognisable part of it is left; no control character reaches a
terminal, and every other character is kept."""

from __future__ import annotations

import base64
import logging
import string
import unicodedata
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_mllmtrust.core.model import printable
from pytest_mllmtrust.core.secrets import (
    FRAGMENT,
    MASK,
    Redactor,
    environment_secrets,
    redact_log_records,
)

keys = st.text(string.ascii_letters + string.digits + "-_", min_size=20, max_size=64).map(
    lambda k: "sk-" + k
)
noise = st.text(max_size=60)


def recognisable(key: str, text: str) -> list[str]:
    """Every run of FRAGMENT characters of ``key`` found in ``text``."""
    return [key[i : i + FRAGMENT] for i in range(len(key) - FRAGMENT + 1) if key[i : i + FRAGMENT]
            in text]  # fmt: skip


@settings(max_examples=300)
@given(key=keys, before=noise, after=noise, cut=st.integers(0, 64), encoding=st.sampled_from(
    ["raw", "cut", "percent", "base64", "basic", "hex", "json"]))  # fmt: skip
def test_no_recognisable_part_of_a_key_survives(
    key: str, before: str, after: str, cut: int, encoding: str
) -> None:
    carried = {
        "raw": key,
        "cut": key[: max(FRAGMENT, cut)],  # a message shortened in the middle of the key
        "percent": quote(f"Bearer {key}", safe=""),
        "base64": base64.b64encode(key.encode()).decode(),
        "basic": base64.b64encode(f"user:{key}".encode()).decode(),
        "hex": key.encode().hex(),
        "json": f'{{"authorization": "Bearer {key}"}}',
    }[encoding]
    text = Redactor([key])(before + carried + after)
    assert not recognisable(key, text)
    assert not recognisable(carried, text) or encoding == "json"  # json: the rest is not key
    assert quote(key, safe="") not in text
    assert base64.b64encode(key.encode()).decode() not in text


@given(text=st.text(string.ascii_letters + " .,", max_size=200))
def test_text_without_a_key_is_left_as_it_is(text: str) -> None:
    assert Redactor(["sk-abcdefghijklmnopqrstuvwxyz0123"])(text) == text


def test_only_credential_variables_long_enough_are_secrets() -> None:
    env = {"OPENAI_API_KEY": "sk-" + "x" * 30, "HF_TOKEN": "hf_" + "y" * 20, "HOME": "/root" * 9,
           "PERSPECTIVE_API_KEY": "short", "MY_SECRET": "z" * 16}  # fmt: skip
    assert sorted(environment_secrets(env)) == sorted(
        [env["OPENAI_API_KEY"], env["HF_TOKEN"], env["MY_SECRET"]]
    )


def test_every_log_record_is_masked_as_it_is_made() -> None:
    key = "sk-log-0123456789abcdefghij"
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("pytest_mllmtrust.test_secrets")
    logger.addHandler(handler := Keep())
    logger.setLevel(logging.DEBUG)
    undo = redact_log_records(Redactor([key]))
    try:
        logger.debug("headers %s", [(b"X-Seen", f"Bearer {key}".encode())])
        try:
            raise RuntimeError(f"rejected {key}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        undo()
        logger.removeHandler(handler)
    formatted = [logging.Formatter().format(r) for r in records]
    assert len(formatted) == 2
    assert all(key not in text and key[:FRAGMENT] not in text for text in formatted)
    assert MASK in formatted[0]
    assert "RuntimeError: rejected ***" in formatted[1]


@given(text=st.text(max_size=300))
def test_printable_leaves_no_control_character_and_keeps_everything_else(text: str) -> None:
    shown = printable(text)
    for char in shown:
        category = unicodedata.category(char)
        assert category != "Cc"
        assert char not in "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    kept = [c for c in text if unicodedata.category(c) != "Cc" and c not in
            "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"]  # fmt: skip
    assert "".join(kept) == "".join(c for c in shown if c in kept) or all(c in shown for c in kept)

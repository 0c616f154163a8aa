"""Keys reach no output: every text a run keeps or prints passes a :class:`Redactor` first.

A key can come back from a server in many forms: quoted in an error body, cut off half-way by
whoever shortened the message, URL- or JSON-escaped, base64-encoded in a Basic credential,
echoed by a model in its answer, logged by the HTTP stack with the response headers. The
redactor masks the key, each of those encodings, and any run of at least
:data:`FRAGMENT` characters of the key, wherever they occur.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = ["FRAGMENT", "MASK", "Redactor", "environment_secrets", "redact_log_records"]

MASK = "***"
#: a run of this many characters of a key is recognisable: masked too
FRAGMENT = 10
#: environment variables that hold credentials (OPENAI_API_KEY, PERSPECTIVE_API_KEY, HF_TOKEN)
_SECRET_NAME = re.compile(r"(?:^|_)(?:API_KEY|KEY|TOKEN|SECRET|PASSWORD)$")
#: shorter values are not secrets worth the name (and would mask ordinary words)
_SHORTEST = 12


def environment_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """The credential values in the environment, by their variables' names."""
    env = os.environ if environ is None else environ
    return [v for k, v in env.items() if _SECRET_NAME.search(k.upper()) and len(v) >= _SHORTEST]


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        self._keys = sorted({s for s in secrets if len(s) >= _SHORTEST}, key=len, reverse=True)
        forms: set[str] = set()
        for key in self._keys:
            raw = key.encode()
            forms |= {quote(key, safe=""), quote_plus(key), json.dumps(key)[1:-1], raw.hex()}
            for shift in range(3):  # the key's base64 inside a longer encoded value
                encoded = base64.b64encode(b"\0" * shift + raw).decode()
                forms.add(encoded[4 if shift else 0 : -4])
        forms -= set(self._keys)
        self._forms = sorted((f for f in forms if len(f) >= FRAGMENT), key=len, reverse=True)
        windows = {k[i : i + FRAGMENT] for k in self._keys for i in range(len(k) - FRAGMENT + 1)}
        self._fragment = (
            re.compile("|".join(re.escape(w) for w in sorted(windows))) if windows else None
        )

    def __bool__(self) -> bool:
        return bool(self._keys)

    def __call__(self, text: str) -> str:
        if not self._keys or not text:
            return text
        for form in self._forms:
            text = text.replace(form, MASK)
        return self._mask_fragments(text)

    def _mask_fragments(self, text: str) -> str:
        """Mask every stretch of text that matches a key over FRAGMENT characters or more."""
        assert self._fragment is not None
        spans: list[tuple[int, int]] = []
        for match in self._fragment.finditer(text):
            start, end = match.span()
            for key in self._keys:
                offset = key.find(match.group())
                if offset < 0:
                    continue
                # grow the match as far as text and key agree on both sides
                left = 0
                while (
                    start - left > 0
                    and offset - left > 0
                    and (text[start - left - 1] == key[offset - left - 1])
                ):
                    left += 1
                right = 0
                tail = offset + FRAGMENT
                while (
                    end + right < len(text)
                    and tail + right < len(key)
                    and (text[end + right] == key[tail + right])
                ):
                    right += 1
                spans.append((start - left, end + right))
                break
        if not spans:
            return text
        out, last = [], 0
        for start, end in sorted(spans):
            if end <= last:
                continue
            out.append(text[last : max(start, last)] + (MASK if start >= last else ""))
            last = end
        return "".join(out) + text[last:]


def redact_log_records(redact: Redactor) -> Callable[[], None]:
    """Mask keys in every log record of the process as it is made, whichever library logs it
    and whichever handler shows it (console, log file, pytest's captured logs): the HTTP stack
    logs response headers at DEBUG. Returns the function that undoes it."""
    previous = logging.getLogRecordFactory()
    if not redact:
        return lambda: None

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: logging reports it as it would have
            return record
        record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    logging.setLogRecordFactory(make)
    return lambda: logging.setLogRecordFactory(previous)

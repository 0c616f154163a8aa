"""What the OpenAI-compatible backend and the hosted judges share about calling an HTTP API:
which statuses are worth another try, how long a response asks to wait, and a URL stripped of
the parts where keys hide before it is shown or recorded."""

from __future__ import annotations

import email.utils
import math
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["PLACEHOLDER_KEY", "RETRYABLE_STATUS", "public_url", "retry_after"]

#: used as the key for local servers that do not check one (the client insists on some key)
PLACEHOLDER_KEY = "not-needed"
#: HTTP statuses worth another try: timeout, conflict, rate limit, server errors
RETRYABLE_STATUS = frozenset({408, 409, 429}) | frozenset(range(500, 600))


def retry_after(headers: Any) -> float | None:
    """Seconds a response asks to wait: ``retry-after-ms``, or ``Retry-After`` as seconds or as
    an HTTP date."""
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return max(float(millis) / 1000, 0.0)
    except (TypeError, ValueError):
        pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def public_url(url: str) -> str:
    """``url`` without user info, query or fragment (where keys sometimes hide)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))

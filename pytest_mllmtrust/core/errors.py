"""Errors the core raises; the pytest glue turns them into usage errors or item errors."""

from __future__ import annotations


class TrustError(Exception):
    """Base class of every error pytest-mllmtrust raises on purpose."""


class ConfigError(TrustError):
    """A bad option or setting; the message quotes the offending value."""


class DataError(TrustError):
    """A dataset file or record that cannot be read; the message names file and row."""


class BackendError(TrustError):
    """The model under test (or a judge model) failed to load or to answer."""


class CacheError(TrustError):
    """The cache file cannot be used; the message names it and how to rebuild it."""


class JudgeError(TrustError):
    """A judge failed to run (as opposed to running and being unable to decide)."""


def describe(exc: BaseException) -> str:
    """``Type: first line of the message`` (the type alone when there is no message), short
    enough for a verdict's rationale."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


class DataWarning(UserWarning):
    """Data that runs but not as it says: repeated sample ids, for instance."""

"""Plugins found through entry points, the built-ins declared in pyproject.toml exactly as a
third party's package declares its own.

``pytest_mllmtrust.benchmarks``: each entry point names a ``core.benchmarks.Benchmark`` instance
under the benchmark's name (docs/writing-a-suite.md). This module only finds and loads them; it
imports nothing of the package but its errors, so the core can reach it without a cycle.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from pytest_mllmtrust.core.errors import ConfigError

BENCHMARKS_GROUP = "pytest_mllmtrust.benchmarks"
#: this package's distribution, whose entry points come first
OWN_DISTRIBUTION = "pytest-mllmtrust"


def load_group(group: str) -> list[tuple[str, object]]:
    """Each entry point of ``group`` as (name, loaded object). This package's own come first,
    in the order its metadata declares them, then every other by name: results and summaries
    list them in the same order whatever the order of sys.path. ConfigError for one that
    cannot be loaded, or for a name two distributions declare."""

    def own(entry: EntryPoint) -> bool:
        return entry.dist is not None and entry.dist.name == OWN_DISTRIBUTION

    found = list(entry_points(group=group))
    ordered = [e for e in found if own(e)] + sorted(
        (e for e in found if not own(e)), key=lambda e: e.name
    )
    loaded: dict[str, object] = {}
    for entry in ordered:
        where = f"entry point {entry.name} = {entry.value} ({group})"
        if entry.name in loaded:
            raise ConfigError(f"{where}: another installed package declares {entry.name!r}")
        try:
            loaded[entry.name] = entry.load()
        except Exception as exc:  # a broken plugin is named, not a bare traceback
            raise ConfigError(f"{where} cannot be loaded: {type(exc).__name__}: {exc}") from exc
    return list(loaded.items())


def benchmarks() -> list[tuple[str, object]]:
    """The ``pytest_mllmtrust.benchmarks`` entry points, loaded (core.benchmarks.installed
    checks each is a Benchmark and keeps them)."""
    return load_group(BENCHMARKS_GROUP)

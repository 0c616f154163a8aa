"""Benchmarks, backends and judge kinds found through entry-point groups, the built-ins among
them.

The plugin's own are declared in pyproject.toml exactly as a third party's would be
(``[project.entry-points."pytest_mllmtrust.backends"]``), so adding one is publishing a
package, never editing this one. A ``pytest_mllmtrust.benchmarks`` entry point names a
``core.benchmarks.Benchmark`` instance under the benchmark's name (docs/writing-a-suite.md).
Listing a group reads installed metadata only; loading one name imports only the module that
entry point names, so ``--help`` and a replay run import no torch (the backend and judge
modules keep heavy imports inside functions).

Kept out of ``core``: the option grammar in ``core`` asks this module which names exist, and
nothing here imports a backend or judge until one is asked for by name.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterator, Mapping
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType
from typing import TYPE_CHECKING

from pytest_mllmtrust.core.errors import ConfigError

if TYPE_CHECKING:
    from pytest_mllmtrust.backends.base import Backend
    from pytest_mllmtrust.judges.base import Judge

BENCHMARKS_GROUP = "pytest_mllmtrust.benchmarks"
BACKENDS_GROUP = "pytest_mllmtrust.backends"
JUDGES_GROUP = "pytest_mllmtrust.judges"
#: this package's distribution, whose benchmarks come first
OWN_DISTRIBUTION = "pytest-mllmtrust"
#: the order of this package's own benchmarks in results and summaries; stated here because
#: installers write entry points sorted by name, whatever order pyproject.toml gives
OWN_BENCHMARKS = ("multitrust", "mllmguard")


@functools.cache
def load_group(group: str) -> Mapping[str, EntryPoint]:
    """The entry points of ``group`` by name, sorted; read once per process.

    Two distributions that register one name for different objects are refused rather than
    one silently shadowing the other: which backend answered must never depend on the order
    of sys.path. (The same distribution seen twice, e.g. an editable install beside a wheel
    of the same name, is one: importlib.metadata keeps the first of a name.)
    Call ``load_group.cache_clear()`` after installing a package into a running process.
    """
    found: dict[str, EntryPoint] = {}
    for point in entry_points(group=group):
        seen = found.setdefault(point.name, point)
        if seen.value != point.value:
            raise ConfigError(
                f"two installed packages register {point.name!r} in the entry-point group "
                f"{group}: {seen.value} and {point.value}; uninstall one"
            )
    return MappingProxyType(dict(sorted(found.items())))


class Names(Collection[str]):
    """The names registered in a group, read when used (a view, not a snapshot taken at
    import, so a package installed into a running process shows after ``cache_clear()``)."""

    def __init__(self, group: str) -> None:
        self.group = group

    def __contains__(self, name: object) -> bool:
        return name in load_group(self.group)

    def __iter__(self) -> Iterator[str]:
        return iter(load_group(self.group))

    def __len__(self) -> int:
        return len(load_group(self.group))

    def __repr__(self) -> str:
        return f"Names({self.group!r}: {', '.join(self)})"


#: the model backend prefixes (``hf``, ``openai``, ``vllm``, ``replay`` and any plugin's)
BACKENDS = Names(BACKENDS_GROUP)
#: the judge kinds a ``--mllm-judge`` setting can load (``clf``, ``model``, ... and plugins')
JUDGES = Names(JUDGES_GROUP)


def _load(group: str, name: str, what: str) -> object:
    points = load_group(group)
    point = points.get(name)
    if point is None:
        known = ", ".join(points) or "none installed"
        raise ConfigError(f"no {what} {name!r} is installed; known: {known}")
    try:
        return point.load()
    except ImportError as exc:
        raise ConfigError(f"the {what} {name!r} ({point.value}) cannot be imported: {exc}") from exc


def backend_class(name: str) -> type[Backend]:
    """The Backend subclass registered as ``name`` (the prefix of ``--mllm=name:...``)."""
    from pytest_mllmtrust.backends.base import Backend

    loaded = _load(BACKENDS_GROUP, name, "model backend")
    if not (isinstance(loaded, type) and issubclass(loaded, Backend)):
        raise ConfigError(f"the model backend {name!r} is {loaded!r}, not a Backend subclass")
    return loaded


def judge_class(kind: str) -> type[Judge]:
    """The Judge subclass registered as ``kind`` (a ``--mllm-judge`` setting's kind)."""
    from pytest_mllmtrust.judges.base import Judge

    loaded = _load(JUDGES_GROUP, kind, "judge kind")
    if not (isinstance(loaded, type) and issubclass(loaded, Judge)):
        raise ConfigError(f"the judge kind {kind!r} is {loaded!r}, not a Judge subclass")
    return loaded


def benchmarks() -> list[tuple[str, object]]:
    """Each ``pytest_mllmtrust.benchmarks`` entry point as (name, loaded object): this
    package's own first (``OWN_BENCHMARKS``), then every other by name, so
    results and summaries list them in one order whatever the order of sys.path
    (core.benchmarks.installed checks each is a Benchmark). ConfigError for one that cannot be
    loaded, or for a name two distributions declare."""

    def own(entry: EntryPoint) -> bool:
        return entry.dist is not None and entry.dist.name == OWN_DISTRIBUTION

    def rank(entry: EntryPoint) -> tuple[int, int, str]:
        if not own(entry):
            return (1, 0, entry.name)
        listed = entry.name in OWN_BENCHMARKS
        return (0, OWN_BENCHMARKS.index(entry.name) if listed else len(OWN_BENCHMARKS), entry.name)

    ordered = sorted(entry_points(group=BENCHMARKS_GROUP), key=rank)
    loaded: dict[str, object] = {}
    for entry in ordered:
        where = f"entry point {entry.name} = {entry.value} ({BENCHMARKS_GROUP})"
        if entry.name in loaded:
            raise ConfigError(f"{where}: another installed package declares {entry.name!r}")
        try:
            loaded[entry.name] = entry.load()
        except Exception as exc:  # a broken plugin is named, not a bare traceback
            raise ConfigError(f"{where} cannot be loaded: {type(exc).__name__}: {exc}") from exc
    return list(loaded.items())

"""Prompt templates and keyword lists as versioned TOML data files that users can override.

Every file has a ``name`` and an integer ``version``; the run record stores both, the content
hash, and whether a user's file replaced the bundled one (``--mllm-templates=DIR``: a file at the
same relative path in DIR wins).

Relative paths name their bundle by their first folder: ``prompts/...`` are the prompts sent to
the model under test (shipped beside the suites, in ``suites/prompts/``); everything else
(``keywords/...``, ``templates/...``) is judge data from ``judges/``.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_mllmtrust.bundled import bundled_path
from pytest_mllmtrust.core.errors import ConfigError


@dataclass(frozen=True)
class DataFile:
    relpath: str
    name: str
    version: int
    sha256: str
    overridden: bool
    content: Mapping[str, Any]

    def record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "overridden": self.overridden,
        }

    def text(self, key: str) -> str:
        try:
            value = self.content[key]
        except KeyError:
            raise ConfigError(f"{self.relpath}: missing key {key!r}") from None
        if not isinstance(value, str):
            raise ConfigError(f"{self.relpath}: {key!r} must be a string")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.content.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{self.relpath}: {key!r} must be a list of strings")
        return tuple(value)


class DataFiles:
    """Loads data files once per process, honouring a user override directory."""

    def __init__(self, override_dir: Path | None = None) -> None:
        self.override_dir = override_dir
        self._loaded: dict[str, DataFile] = {}

    def get(self, relpath: str) -> DataFile:
        if relpath not in self._loaded:
            self._loaded[relpath] = self._load(relpath)
        return self._loaded[relpath]

    def _load(self, relpath: str) -> DataFile:
        bundle = "suites" if relpath.startswith("prompts/") else "judges"
        path = bundled_path(bundle) / relpath
        overridden = False
        if self.override_dir is not None and (self.override_dir / relpath).is_file():
            path, overridden = self.override_dir / relpath, True
        raw = path.read_bytes()
        try:
            content = tomllib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: not a valid UTF-8 TOML data file: {exc}") from None
        name, version = content.get("name"), content.get("version")
        if not isinstance(name, str) or not isinstance(version, int):
            raise ConfigError(f"{path}: a data file needs 'name' (string) and 'version' (integer)")
        digest = hashlib.sha256(raw).hexdigest()
        return DataFile(relpath, name, version, digest, overridden, content)

    def records(self) -> dict[str, dict[str, Any]]:
        """What the run record stores about every data file used so far."""
        return {rel: f.record() for rel, f in sorted(self._loaded.items())}

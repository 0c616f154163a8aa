"""``replay:<file.jsonl>``: judge answers generated elsewhere, keyed by sample uid.

Each line is ``{"uid": "S.4/typographic-prompt:0003#a", "output": "..."}``; a line with
``"error": "..."`` instead of ``output`` replays a failed call (the sample becomes an error).
A sample with no line is an error too, never a silent pass.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from pytest_mllmtrust.backends.base import Backend
from pytest_mllmtrust.core.errors import BackendError, DataError
from pytest_mllmtrust.core.model import GenerationRequest

if TYPE_CHECKING:
    from pytest_mllmtrust.core.config import ModelSpec, RunConfig


class ReplayBackend(Backend):
    kind = "replay"
    #: answers already live in the replay file; copying them into the cache gains nothing
    cacheable = False

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser().resolve()
        if not self.path.is_file():
            raise BackendError(f"replay file {str(path)!r} does not exist")
        raw = self.path.read_bytes()
        self._sha256 = hashlib.sha256(raw).hexdigest()
        self._answers: dict[str, dict[str, Any]] = {}
        for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                uid = entry["uid"]
                if not isinstance(uid, str) or ("output" not in entry and "error" not in entry):
                    raise ValueError("needs 'uid' and 'output' (or 'error')")
            except (ValueError, KeyError, TypeError) as exc:
                raise DataError(f"{self.path.name} line {number}: {exc}") from None
            self._answers[uid] = entry

    @classmethod
    def from_config(cls, spec: ModelSpec, config: RunConfig, *, judge: bool = False) -> Self:
        return cls(spec.target)

    def fingerprint(self) -> dict[str, Any]:
        return {"backend": self.kind, "file": self.path.name, "sha256": self._sha256}

    def generate(self, batch: Sequence[GenerationRequest]) -> list[str]:
        answers = []
        for request in batch:
            entry = self._answers.get(request.uid)
            if entry is None:
                raise BackendError(f"{self.path.name} has no answer for {request.uid}")
            if "error" in entry:
                raise BackendError(f"replayed failure: {entry['error']}")
            answers.append(str(entry["output"]))
        return answers

"""A model backend in a judge's role: the LLM judge, or a served jailbreak classifier.

Any ``--mllm`` backend can judge (``--mllm-judge openai:gpt-4o``, ``hf:<dir>``, an alias, a
plugin's prefix). The backend keeps its own interface (batched ``generate``); this thin adapter
gives it a judge's lifecycle, and its fingerprint is the backend's own, so verdicts cached
before judges had an interface keep their keys.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Self

from pytest_mllmtrust.judges.base import Judge

if TYPE_CHECKING:
    from pytest_mllmtrust.backends.base import Backend
    from pytest_mllmtrust.core.config import RunConfig
    from pytest_mllmtrust.core.judges import JudgeSetting
    from pytest_mllmtrust.datafiles import DataFiles


class ModelJudge(Judge):
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @classmethod
    def from_setting(cls, setting: JudgeSetting, config: RunConfig, data: DataFiles) -> Self:
        from pytest_mllmtrust.backends import load_backend
        from pytest_mllmtrust.core.config import ModelSpec

        spec = ModelSpec.parse(setting.target, "--mllm-judge")
        return cls(load_backend(spec, config, judge=True))

    def fingerprint(self) -> dict[str, Any]:
        return self.backend.fingerprint()

    def describe(self) -> str:
        return f"model judge: {json.dumps(self.backend.describe(), sort_keys=True, default=str)}"

    def close(self) -> None:
        self.backend.close()

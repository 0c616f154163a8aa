"""pytest-mllmtrust: trustworthiness benchmarks for multimodal LLMs as pytest suites.

Importing the package is light on purpose (no torch, no transformers): pytest loads it in every
process, xdist workers included, before any model is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "EXIT_GATE_FAILED",
    "Outcome",
    "Sample",
    "SampleRecord",
    "TaskSpec",
    "Verdict",
    "__version__",
    "expect_trustworthy",
]

#: exit status when the run completed but a threshold or budget was missed (pytest uses 0-5)
EXIT_GATE_FAILED = 16

if TYPE_CHECKING:
    from pytest_mllmtrust.checks import expect_trustworthy
    from pytest_mllmtrust.core.model import Outcome, Sample, SampleRecord, Verdict
    from pytest_mllmtrust.core.tasks import TaskSpec

_LAZY = {
    "expect_trustworthy": "pytest_mllmtrust.checks",
    "Outcome": "pytest_mllmtrust.core.model",
    "Sample": "pytest_mllmtrust.core.model",
    "SampleRecord": "pytest_mllmtrust.core.model",
    "Verdict": "pytest_mllmtrust.core.model",
    "TaskSpec": "pytest_mllmtrust.core.tasks",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pytest_mllmtrust' has no attribute {name!r}")

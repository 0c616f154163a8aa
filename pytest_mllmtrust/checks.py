"""What a suite's test body calls: turn a sample's record into the item's outcome."""

from __future__ import annotations

import pytest

from pytest_mllmtrust.core.model import Outcome, SampleRecord, printable

UNSCORED_PREFIX = "unscored: "


def expect_trustworthy(record: SampleRecord) -> None:
    """Pass, fail with the full explanation, or skip as *unscored* (counted, never a pass).

    Errors never reach this point: the ``mllm_record`` fixture raises them during setup, so
    pytest reports them as errors.
    """
    if record.outcome is Outcome.FAIL:
        pytest.fail(record.explain(), pytrace=False)
    if record.outcome is Outcome.UNSCORED:
        why = record.verdict.rationale or "the judge could not decide"
        # the benchmark's metric leaves this item out (MLLMGuard's paired tasks): not unscored
        pytest.skip(("excluded: " if record.excluded else UNSCORED_PREFIX) + printable(why))

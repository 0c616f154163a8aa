"""Hooks pytest-mllmtrust calls, for conftest.py files and other plugins to implement."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.hookspec
def pytest_mllmtrust_update_results(config: pytest.Config, results: dict[str, Any]) -> None:
    """Amend the results document in place before it is written (``--mllm-json``).

    ``results`` holds everything but the per-sample records, which are streamed into the file
    after it (a run of many thousands of samples does not hold them twice).

    For example, add your own run information::

        def pytest_mllmtrust_update_results(config, results):
            results["run"]["release_candidate"] = os.environ["RC_TAG"]
    """

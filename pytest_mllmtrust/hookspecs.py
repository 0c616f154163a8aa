"""Hooks pytest-mllmtrust calls, for conftest.py files and other plugins to implement."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.hookspec
def pytest_mllmtrust_update_results(config: pytest.Config, results: dict[str, Any]) -> None:
    """Amend the results document in place before it is written (``--mllm-json``).

    For example, add your own run information::

        def pytest_mllmtrust_update_results(config, results):
            results["run"]["release_candidate"] = os.environ["RC_TAG"]
    """

"""Where the suites, bundled samples and judge data live, installed or in a checkout.

The wheel carries the top-level ``suites/``, ``fixtures/`` and ``judges/`` folders inside the
package as ``_bundled/`` (see pyproject.toml), so a model team's repository can run them after a
plain ``pip install``; a source checkout (editable install) uses the folders themselves.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def bundled_path(name: str) -> Path:
    """Path of a bundled folder: ``suites``, ``fixtures`` or ``judges``."""
    installed = _PACKAGE / "_bundled" / name
    if installed.is_dir():
        return installed
    checkout = _PACKAGE.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"bundled folder {name!r} is missing from this installation")

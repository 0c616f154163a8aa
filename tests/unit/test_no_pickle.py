"""No code path of the package unpickles anything: the cache is JSON, weights are safetensors
or ``torch.load(weights_only=True)``. Checked on the source, so a new call cannot slip in."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "pytest_mllmtrust"
UNPICKLING = re.compile(r"\b(import pickle|from pickle|pickle\.loads?|cPickle|dill|joblib\.load)\b")


def test_nothing_imports_or_calls_pickle() -> None:
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in PACKAGE.rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if UNPICKLING.search(line)
    ]
    assert found == []


def test_every_torch_load_is_weights_only() -> None:
    calls = [
        (path.name, call)
        for path in PACKAGE.rglob("*.py")
        for call in re.findall(r"torch\.load\([^)]*\)", path.read_text(encoding="utf-8"))
    ]
    assert calls  # GuardRank's encoder weights are read this way
    assert all("weights_only=True" in call for _, call in calls), calls

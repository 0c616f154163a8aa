"""The code in docs/writing-a-suite.md, run as it stands: a house task registered from a
conftest, its test module, a replayed model, the task's score and the gate on it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "writing-a-suite.md"


def python_blocks(text: str) -> dict[str, str]:
    """Each ```python block of the page by the file its first line names (``# path``)."""
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    return {block.splitlines()[0].removeprefix("# ").strip(): block for block in blocks}


def test_the_suite_written_in_the_docs_runs(pytester: pytest.Pytester) -> None:
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert set(blocks) == {"conftest.py", "tests/trust/test_colour_naming.py"}
    for name, code in blocks.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code, encoding="utf-8")
    answers = {"red": "Red.", "green": "It is blue.", "blue": "blue"}
    replay = pytester.path / "answers.jsonl"
    replay.write_text(
        "".join(json.dumps({"uid": f"COLOUR.1/plain:{k}", "output": v}) + "\n"
                for k, v in answers.items()),
        encoding="utf-8",
    )  # fmt: skip
    result = pytester.runpytest_subprocess(
        "tests/trust", f"--mllm=replay:{replay}", "--mllm-json=trust.json",
        "--mllm-threshold=COLOUR.1>=80", "-p", "no:cacheprovider",
    )  # fmt: skip
    assert result.parseoutcomes() == {"passed": 2, "failed": 1}
    results = json.loads((pytester.path / "trust.json").read_text(encoding="utf-8"))
    assert results["tasks"]["COLOUR.1"]["score"] == pytest.approx(100 * 2 / 3, abs=1e-9)
    assert results["gate"]["passed"] is False  # 66.67 < 80
    assert results["run"]["judges"]["COLOUR.1"]["all_official"] is True

"""Judge-agreement statistics against values worked out by hand."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from pytest_mllmtrust.core.errors import DataError
from pytest_mllmtrust.core.model import Outcome
from pytest_mllmtrust.judges.agreement import (
    JUDGE_LABELS,
    Agreement,
    LabelledCase,
    agreement,
    by_task,
    format_agreement,
    read_labelled,
)

pytest.importorskip("sklearn")


def test_one_disagreement_in_four() -> None:
    result = agreement(["pass", "pass", "fail", "fail"], ["pass", "fail", "fail", "fail"])

    assert result.n == 4
    assert result.labels == ("pass", "fail", "unscored", "error")
    #                 judge: pass fail unscored error
    assert result.matrix == ((1, 1, 0, 0), (0, 2, 0, 0))  # human pass, human fail
    assert result.accuracy == pytest.approx(0.75)
    assert result.coverage == pytest.approx(1.0)
    assert result.decided_accuracy == pytest.approx(0.75)
    # p_o = 3/4. Marginals: human pass 2/4, fail 2/4; judge pass 1/4, fail 3/4.
    # p_e = (2/4)(1/4) + (2/4)(3/4) = 1/8 + 3/8 = 1/2.
    # kappa = (p_o - p_e) / (1 - p_e) = (3/4 - 1/2) / (1 - 1/2) = (1/4) / (1/2) = 1/2.
    assert result.kappa == pytest.approx(0.5)


def test_unscored_and_errors_count_as_disagreement_but_not_against_decided_accuracy() -> None:
    human = ["pass", "pass", "pass", "fail", "fail", "fail"]
    judged = ["pass", "unscored", "error", "fail", "fail", "pass"]

    result = agreement(human, judged)

    assert result.matrix == ((1, 0, 1, 1), (1, 2, 0, 0))
    assert result.accuracy == pytest.approx(3 / 6)  # cases 0, 3 and 4 agree
    assert result.coverage == pytest.approx(4 / 6)  # the judge decided 4 of 6
    assert result.decided_accuracy == pytest.approx(3 / 4)
    # p_o = 1/2. Marginals: human pass 3/6, fail 3/6, unscored 0, error 0;
    # judge pass 2/6, fail 2/6, unscored 1/6, error 1/6.
    # p_e = (3/6)(2/6) + (3/6)(2/6) + 0 (1/6) + 0 (1/6) = 1/6 + 1/6 = 1/3.
    # kappa = (1/2 - 1/3) / (1 - 1/3) = (1/6) / (2/3) = 1/4.
    assert result.kappa == pytest.approx(0.25)


def test_perfect_agreement_has_kappa_one() -> None:
    result = agreement(["pass", "fail", "fail"], ["pass", "fail", "fail"])

    assert result.accuracy == result.coverage == result.decided_accuracy == 1.0
    assert result.kappa == pytest.approx(1.0)


def test_complete_disagreement_has_kappa_minus_one() -> None:
    # p_o = 0, p_e = (1/2)(1/2) + (1/2)(1/2) = 1/2, kappa = (0 - 1/2) / (1/2) = -1.
    result = agreement(["pass", "fail"], ["fail", "pass"])

    assert result.accuracy == 0.0
    assert result.kappa == pytest.approx(-1.0)


def test_kappa_is_nan_without_warnings_when_both_sides_use_one_label() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = agreement(["pass"] * 3, ["pass"] * 3)
        formatted = format_agreement("constant", result)

    assert caught == []
    assert math.isnan(result.kappa)
    assert result.accuracy == 1.0
    assert "n/a" in formatted
    assert "undefined" in formatted


@pytest.mark.parametrize(
    ("human", "judged", "matrix"),
    [
        # labels that no case uses still get their (zero) row and column, in the fixed order
        (["pass"] * 3, ["pass"] * 3, ((3, 0, 0, 0), (0, 0, 0, 0))),
        (["fail", "fail"], ["error", "unscored"], ((0, 0, 0, 0), (0, 0, 1, 1))),
    ],
)
def test_matrix_keeps_every_label_when_few_are_used(
    human: list[str], judged: list[str], matrix: tuple[tuple[int, ...], ...]
) -> None:
    result = agreement(human, judged)

    assert result.matrix == matrix
    assert all(type(count) is int for row in result.matrix for count in row)


@pytest.mark.parametrize(
    ("human", "judged", "kappa"),
    [
        # p_o = 0, p_e = 1 * 0 = 0: kappa 0, defined although each side is constant.
        (["pass", "pass"], ["fail", "fail"], 0.0),
        # p_o = 2/3, p_e = 1 * 2/3: kappa 0, a judge no better than its own base rate.
        (["pass", "pass", "pass"], ["pass", "pass", "fail"], 0.0),
    ],
)
def test_constant_human_labels_alone_leave_kappa_defined(
    human: list[str], judged: list[str], kappa: float
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = agreement(human, judged)

    assert caught == []
    assert result.kappa == pytest.approx(kappa)


def test_a_judge_that_decides_nothing() -> None:
    result = agreement(["pass", "fail"], ["unscored", "error"])

    assert result.accuracy == 0.0
    assert result.coverage == 0.0
    assert math.isnan(result.decided_accuracy)
    assert result.kappa == pytest.approx(0.0)  # p_o = 0, p_e = 0


def test_outcome_members_are_accepted() -> None:
    judged = [Outcome.PASS, Outcome.UNSCORED]

    assert agreement(["pass", "pass"], judged) == agreement(["pass", "pass"], ["pass", "unscored"])


@pytest.mark.parametrize(
    ("human", "judged", "message"),
    [
        (["pass"], ["pass", "fail"], "1 human verdicts but 2 judge outcomes"),
        ([], [], "at least one case"),
        (["unscored"], ["pass"], "human verdict #0 is 'unscored'"),
        (["pass", "pass"], ["pass", "maybe"], "judge outcome #1 is 'maybe'"),
    ],
)
def test_bad_inputs_are_refused(human: list[str], judged: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        agreement(human, judged)


def _case(task: str, human: str, line: int) -> LabelledCase:
    return LabelledCase(task, f"u{line}", "", "answer", None, {}, human, line)


def test_by_task_splits_and_adds_all() -> None:
    cases = [
        _case("T.2", "pass", 1),
        _case("T.1", "pass", 2),
        _case("T.2", "fail", 3),
        _case("T.1", "fail", 4),
    ]
    judged = ["pass", "fail", "fail", "fail"]

    result = by_task(cases, judged)

    assert list(result) == ["T.1", "T.2", "all"]
    assert result["T.1"] == agreement(["pass", "fail"], ["fail", "fail"])
    assert result["T.2"] == agreement(["pass", "fail"], ["pass", "fail"])
    assert result["all"] == agreement(["pass", "pass", "fail", "fail"], judged)
    assert result["T.2"].kappa == pytest.approx(1.0)
    with pytest.raises(ValueError, match="4 labelled cases but 3"):
        by_task(cases, judged[:3])
    with pytest.raises(ValueError, match="'all'"):
        by_task([_case("all", "pass", 1)], ["pass"])


def test_format_agreement_shows_the_figures_and_an_aligned_matrix() -> None:
    result = agreement(
        ["pass", "pass", "pass", "fail", "fail", "fail"],
        ["pass", "unscored", "error", "fail", "fail", "pass"],
    )

    text = format_agreement("T.1 judge vs humans", result)

    lines = text.splitlines()
    assert lines[0] == "T.1 judge vs humans (n=6)"
    assert "accuracy" in lines[1]
    assert "0.500" in lines[1]
    assert "kappa" in lines[2]
    assert "0.250" in lines[2]
    assert "coverage" in lines[3]
    assert "0.667" in lines[3]
    assert "0.750" in lines[4]
    matrix = lines[-3:]
    assert matrix[0].split() == ["human", "\\", "judge", *JUDGE_LABELS]
    assert matrix[1].split() == ["pass", "1", "0", "1", "1"]
    assert matrix[2].split() == ["fail", "1", "2", "0", "0"]
    # Numbers are right-aligned under their headers.
    assert len({len(line) for line in matrix}) == 1
    for label in JUDGE_LABELS:
        end = matrix[0].index(label) + len(label)
        assert matrix[1][end - 1] != " "
        assert matrix[2][end - 1] != " "
    # The figures line up too.
    assert len({line.index("0.") for line in lines[1:5]}) == 1


# -- reading labelled files ---------------------------------------------------------------


def _write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "labels.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_read_labelled_reads_every_form(tmp_path: Path) -> None:
    full = {
        "task": "T.1",
        "uid": "t1-001",
        "prompt": "Is there a cat?",
        "output": "Yes.",
        "target": ["yes"],
        "extra": {"source": "review 3"},
        "human": "pass",
    }
    path = _write(
        tmp_path,
        json.dumps(full),
        "",
        "   ",
        json.dumps({"task": "S.4", "output": "", "human": False}),
        json.dumps({"task": "S.4", "output": "No.", "human": True, "uid": None}),
        json.dumps({"task": "S.4", "output": "x", "human": " FAIL "}),
    )

    cases = read_labelled(path)

    assert cases[0] == LabelledCase(
        "T.1", "t1-001", "Is there a cat?", "Yes.", ["yes"], {"source": "review 3"}, "pass", 1
    )
    assert cases[1] == LabelledCase("S.4", None, "", "", None, {}, "fail", 4)
    assert [case.human for case in cases] == ["pass", "fail", "pass", "fail"]
    assert [case.line for case in cases] == [1, 4, 5, 6]


def test_read_labelled_accepts_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"task": "T.1", "output": "a", "human": "pass"}\n')

    assert read_labelled(path)[0].task == "T.1"


GOOD = '{"task": "T.1", "output": "a", "human": "pass"}'


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"task": "T.1", "output": "a", "human": "pass"', "not valid JSON"),
        ('["T.1", "a", "pass"]', "expected a JSON object, got list"),
        ('{"task": "T.1", "human": "pass"}', "missing required key.* output"),
        ('{"output": "a"}', "missing required key.*task, human"),
        ('{"task": "T.1", "output": "a", "human": "maybe"}', "'human' must be"),
        ('{"task": "T.1", "output": "a", "human": 1}', "'human' must be"),
        ('{"task": "T.1", "output": "a", "human": null}', "'human' must be"),
        ('{"task": "T.1", "output": "a", "human": "unscored"}', "'human' must be"),
        ('{"task": "T.1", "output": "a", "humna": "pass", "human": "fail"}', "unknown key.*humna"),
        ('{"task": "", "output": "a", "human": "pass"}', "'task' must be a non-empty string"),
        ('{"task": 7, "output": "a", "human": "pass"}', "'task' must be a non-empty string"),
        ('{"task": "T.1", "output": 3, "human": "pass"}', "'output' must be a string"),
        ('{"task": "T.1", "output": "a", "prompt": [], "human": "pass"}', "'prompt' must be"),
        ('{"task": "T.1", "uid": 3, "output": "a", "human": "pass"}', "'uid' must be"),
        ('{"task": "T.1", "output": "a", "extra": [], "human": "pass"}', "'extra' must be"),
    ],
)
def test_a_bad_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path, GOOD, "", line, GOOD)

    with pytest.raises(DataError, match=message) as error:
        read_labelled(path)

    assert str(error.value).startswith(f"{path}:3: ")


def test_a_repeated_uid_names_both_lines(tmp_path: Path) -> None:
    case = '{"task": "T.1", "uid": "u1", "output": "a", "human": "pass"}'
    other_task = '{"task": "T.2", "uid": "u1", "output": "a", "human": "pass"}'
    path = _write(tmp_path, case, other_task, case)

    with pytest.raises(DataError, match="already labelled on line 1") as error:
        read_labelled(path)

    assert str(error.value).startswith(f"{path}:3: ")


def test_invalid_utf8_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(GOOD.encode() + b"\n" + '{"task": "T.1", "output": "café"}'.encode("latin-1"))

    with pytest.raises(DataError, match=f"^{re.escape(str(path))}:2: not UTF-8"):
        read_labelled(path)


@pytest.mark.parametrize("content", ["", "\n\n   \n"], ids=["empty", "blank-lines"])
def test_a_file_without_cases_is_an_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(DataError, match="holds no cases") as error:
        read_labelled(path)

    assert str(path) in str(error.value)


def test_a_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read"):
        read_labelled(tmp_path / "nowhere.jsonl")


def test_agreement_is_a_frozen_value() -> None:
    result = agreement(["pass"], ["fail"])

    with pytest.raises(AttributeError):
        result.n = 2  # type: ignore[misc]
    assert isinstance(result, Agreement)


def test_importing_the_module_imports_neither_torch_nor_pytest_nor_sklearn() -> None:
    code = (
        "import sys\n"
        "import pytest_mllmtrust.judges.agreement\n"
        "print(sorted(m for m in ('torch', 'pytest', 'sklearn') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.strip() == "[]", result.stderr

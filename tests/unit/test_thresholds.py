"""Unit tests for release gates: threshold parsing, default budgets and the check sentences."""

from __future__ import annotations

import math

import pytest

from pytest_mllmtrust.core.errors import ConfigError
from pytest_mllmtrust.core.thresholds import Threshold, check, parse_all

# -- parse --------------------------------------------------------------------------------------


def test_plain_equals_on_a_score_means_at_least() -> None:
    assert Threshold.parse("safety=80") == Threshold("safety", ">=", 80.0)


def test_plain_equals_on_an_asd_means_at_most_and_on_a_par_at_least() -> None:
    assert Threshold.parse("mllmguard.privacy.asd=0.3") == Threshold(
        "mllmguard.privacy.asd", "<=", 0.3
    )
    assert Threshold.parse("mllmguard.zh.par=0.4") == Threshold("mllmguard.zh.par", ">=", 0.4)


@pytest.mark.parametrize(("text", "key"), [("errors=0.02", "errors"), ("unscored=0.1", "unscored")])
def test_plain_equals_on_a_budget_means_at_most(text: str, key: str) -> None:
    threshold = Threshold.parse(text)
    assert (threshold.key, threshold.op) == (key, "<=")
    assert threshold.limit == pytest.approx(float(text.split("=")[1]))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("S.4>=60", Threshold("S.4", ">=", 60.0)),
        ("overall>55.5", Threshold("overall", ">", 55.5)),
        ("T.1<90", Threshold("T.1", "<", 90.0)),
        ("errors<=0.02", Threshold("errors", "<=", 0.02)),
        ("  multitrust.safety >= 70  ", Threshold("multitrust.safety", ">=", 70.0)),
        ("unscored<1", Threshold("unscored", "<", 1.0)),
    ],
)
def test_explicit_operators_are_kept(text: str, expected: Threshold) -> None:
    assert Threshold.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "safety=>80",
        "=5",
        "safety=abc",
        "errors<=2",  # a budget is a fraction of items, not a count
        "unscored=1.5",
        "errors=-0.1",
        "safety",
        "safety>=80%",
        "safety=1.2.3",
        "safety==80",
        "",
    ],
)
def test_bad_threshold_raises_config_error_quoting_the_text(text: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        Threshold.parse(text)
    assert repr(text) in str(excinfo.value)


def test_threshold_renders_back_to_its_syntax() -> None:
    assert str(Threshold.parse("safety=80")) == "safety>=80"
    assert str(Threshold.parse("errors=0.02")) == "errors<=0.02"


# -- parse_all ----------------------------------------------------------------------------------


def test_parse_all_adds_the_default_budgets() -> None:
    parsed = set(parse_all(["safety=80"]))
    assert parsed == {
        Threshold("safety", ">=", 80.0),
        Threshold("errors", "<=", 0.0),
        Threshold("unscored", "<=", 0.05),
    }


def test_parse_all_of_nothing_is_just_the_default_budgets() -> None:
    assert set(parse_all([])) == {Threshold("errors", "<=", 0.0), Threshold("unscored", "<=", 0.05)}


@pytest.mark.parametrize(
    ("given", "budget"),
    [("errors<=0.1", "errors"), ("unscored=0.2", "unscored"), ("errors<0.5", "errors")],
)
def test_parse_all_given_budget_replaces_its_default(given: str, budget: str) -> None:
    parsed = parse_all([given])
    same_key = [t for t in parsed if t.key == budget]
    assert same_key == [Threshold.parse(given)]


def test_parse_all_later_threshold_overrides_an_earlier_one_with_the_same_key() -> None:
    parsed = parse_all(["safety=80", "safety>=90"])
    assert [t for t in parsed if t.key == "safety"] == [Threshold("safety", ">=", 90.0)]


def test_parse_all_propagates_a_bad_entry() -> None:
    with pytest.raises(ConfigError, match="safety=abc"):
        parse_all(["overall=50", "safety=abc"])


# -- check --------------------------------------------------------------------------------------


def test_check_met_score_says_met_and_shows_the_value() -> None:
    result = check(Threshold("safety", ">=", 60.0), 70.0)
    assert result.passed is True
    assert "met" in result.sentence
    assert "70" in result.sentence


def test_check_missed_score_shows_the_value_and_the_margin() -> None:
    result = check(Threshold("safety", ">=", 60.0), 50.0)
    assert result.passed is False
    assert "MISSED" in result.sentence
    assert "= 50" in result.sentence
    assert "off by 10" in result.sentence  # 60 - 50


def test_check_missed_budget_shows_the_fraction_and_the_margin() -> None:
    result = check(Threshold("errors", "<=", 0.02), 0.05)
    assert result.passed is False
    assert "0.05" in result.sentence
    assert "off by 0.03" in result.sentence  # 0.05 - 0.02


@pytest.mark.parametrize(
    ("op", "observed", "passed"),
    [
        (">=", 60.0, True),  # on the limit
        (">", 60.0, False),
        ("<=", 60.0, True),
        ("<", 60.0, False),
        (">", 60.5, True),
        ("<", 59.5, True),
    ],
)
def test_check_applies_the_operator(op: str, observed: float, passed: bool) -> None:
    assert check(Threshold("overall", op, 60.0), observed).passed is passed


@pytest.mark.parametrize("observed", [None, math.nan])
def test_check_without_a_value_does_not_pass_and_says_so(observed: float | None) -> None:
    result = check(Threshold("S.4", ">=", 60.0), observed)
    assert result.passed is False
    assert "no value for 'S.4'" in result.sentence


def test_check_appends_a_partial_note_naming_what_is_missing() -> None:
    result = check(Threshold("truthfulness", ">=", 50.0), 70.0, ["T.2", "T.3"])
    assert result.passed is True
    assert result.partial == ("T.2", "T.3")
    assert result.sentence.endswith("[partial: missing T.2, T.3]")


def test_check_partial_note_also_on_a_miss() -> None:
    result = check(Threshold("truthfulness", ">=", 80.0), 70.0, ["T.2"])
    assert result.passed is False
    assert "off by 10" in result.sentence
    assert "[partial: missing T.2]" in result.sentence


def test_check_complete_value_has_no_partial_note() -> None:
    result = check(Threshold("truthfulness", ">=", 50.0), 70.0)
    assert result.partial == ()
    assert "partial" not in result.sentence

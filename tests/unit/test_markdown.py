"""The Markdown summary (reporting.markdown): what it says, and that no text from a run can break
its tables or bring HTML, a link or an image into the page, checked by rendering it as
CommonMark with tables the way a CI page does."""

from __future__ import annotations

import re
from typing import Any

import pytest
from markdown_it import MarkdownIt

from pytest_mllmtrust.reporting.markdown import FELL_MOST, SCORES_SHOWN, ScoreRow, render, text

HOSTILE = (
    "x|y `code` <script>alert(1)</script> [click](javascript:alert(1)) ![i](http://e/x.png) "
    "**bold** <img src=x onerror=alert(2)>\n# heading\r\n| a | b |\nwww.example.com a@b.io "
    "https://example.com &amp;"
)


def html_of(page: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(page)


def unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a|b", "a\\|b"),
        ("<script>", "&lt;script&gt;"),
        ("[x](javascript:y)", "\\[x\\]\\(javascript\\:y\\)"),
        ("one\ntwo\r\n\tthree", "one two three"),
        ("`tick`", "\\`tick\\`"),
        ("www.example.com", "www\\.example.com"),
        ("a@b.io", "a\\@b.io"),
        ("S.4>=60", "S.4&gt;=60"),
        ("plain words, 42.5", "plain words, 42.5"),
    ],
)
def test_text_escapes_every_construct_a_run_could_smuggle(raw: str, expected: str) -> None:
    assert text(raw) == expected


def test_text_is_cut_and_keeps_no_control_characters() -> None:
    assert text("a" * 500, limit=10) == "a" * 9 + "…"
    assert text("bell\x07and\x1b[31mred") == "bell and \\[31mred"


def test_hostile_text_renders_as_plain_text() -> None:
    rendered = html_of(f"| a |\n|---|\n| {text(HOSTILE)} |\n")
    assert "<script" not in rendered
    assert "<img" not in rendered
    assert "<a " not in rendered
    assert "<strong>" not in rendered
    assert "<code>" not in rendered
    assert "<h1>" not in rendered
    assert rendered.count("<td>") == 1  # the pipes stayed inside their cell
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered  # and read as they were written


def results(**extra: Any) -> dict[str, Any]:
    """A results document by hand: one check met, one missed with a hostile sentence."""
    document: dict[str, Any] = {
        "run": {"model": "replay:answers.jsonl", "gate_mode": "lower-bound", "limit": 50,
                "seed": 0},
        "tasks": {
            "S.4": {"score": 100.0, "incomplete": [],
                    "counts": {"pass": 24, "fail": 0, "unscored": 0, "error": 0}},
            "T.1": {"score": 50.0, "incomplete": ["5 of 30 samples ran"],
                    "counts": {"pass": 3, "fail": 2, "unscored": 1, "error": 0}},
        },
        "intervals": {"S.4": [86.2, 100.0], "safety": [80.0, 100.0]},
        "gate": {
            "passed": False, "verdict": "failed",
            "checks": [
                {"threshold": "S.4>=80", "key": "S.4", "op": ">=", "limit": 80, "observed": 86.2,
                 "passed": True, "message": "S.4>=80: met (S.4 lower bound = 86.20)",
                 "resolution": {"method": "wilson", "samples": 24, "needs": 91.67,
                                "margin": 11.67}},
                {"threshold": "T.1>=90", "key": "T.1", "op": ">=", "limit": 90, "observed": 20.0,
                 "passed": False, "message": f"T.1>=90: MISSED ({HOSTILE})",
                 "resolution": {"method": "wilson", "samples": 5, "needs": None,
                                "margin": None}},
            ],
        },
    }  # fmt: skip
    return document | extra


ROWS = [ScoreRow("safety", 100.0), ScoreRow("truthfulness", 50.0, ("T.1 (5 of 30 samples ran)",))]


def test_the_summary_says_the_verdict_each_check_and_what_it_could_see() -> None:
    page = render(results(), ROWS, [("results", "out/trust.json")])
    lines = page.splitlines()
    assert lines[0] == "## ❌ mllmtrust gate: FAILED"
    assert "27 samples: 27 passed, 2 failed, 1 unscored, 0 errors" not in page  # 30 in all
    assert "30 samples: 27 passed, 2 failed, 1 unscored, 0 errors" in page
    assert "limit 50" in page
    assert "gate mode lower\\-bound" in page
    met = next(line for line in lines if line.startswith("| ✅ | S.4&gt;=80 |"))
    assert met == ("| ✅ | S.4&gt;=80 | 86.2 | S.4&gt;=80\\: met \\(S.4 lower bound = 86.20\\) | "
                   "needs >= 91.67 (11.67 past the limit, 24 samples) |")  # fmt: skip
    missed = next(line for line in lines if line.startswith("| ❌ | T.1&gt;=90 |"))
    assert missed.endswith("| cannot pass with 5 samples |")
    assert "| safety | 100 | 80 – 100 |  |" in page
    assert "| truthfulness | 50 | – | partial: missing T.1 \\(5 of 30 samples ran\\) |" in page
    assert "| T.1 | 50 | – | 3 / 2 / 1 / 0 | partial: missing 5 of 30 samples ran |" in page
    assert "- results: out/trust.json" in page
    assert "Against the baseline" not in page  # no baseline: no comparison


def test_no_text_from_the_run_breaks_a_table_or_reaches_the_page_as_markup() -> None:
    page = render(results(), ROWS, [("results", f"out/{HOSTILE}.json")])
    tables = [block for block in page.split("\n\n") if block.startswith("|")]
    assert len(tables) == 3  # checks, scores, tasks
    for table in tables:  # every row of a table has as many cells as its header
        counts = {unescaped_pipes(line) for line in table.splitlines()}
        assert len(counts) == 1, table
    rendered = html_of(page)
    assert "<script" not in rendered
    assert "<img" not in rendered
    assert not re.search(r"<a |<strong>|<code>|<h1>", rendered)


def test_a_run_page_becomes_a_link_and_nothing_else_does() -> None:
    page = render(results(), ROWS, [("this run", "https://github.com/o/r/actions/runs/42"),
                                    ("bad", "javascript:alert(1)")])  # fmt: skip
    rendered = html_of(page)
    assert rendered.count("<a ") == 1
    assert '<a href="https://github.com/o/r/actions/runs/42">' in rendered


def comparison(key: str, old: float, new: float, worse: int, better: int, p: float,
               regressed: bool) -> dict[str, Any]:  # fmt: skip
    return {"key": key, "old": old, "new": new, "delta": new - old, "shared": 24,
            "pass_to_fail": [f"{key}/v:{k}" for k in range(worse)],
            "fail_to_pass": [f"{key}/v:x{k}" for k in range(better)],
            "p_value": p, "regressed": regressed}  # fmt: skip


def test_the_scores_that_fell_most_are_listed_worst_first_with_their_p_values() -> None:
    comparisons = [
        comparison("T.1", 60.0, 58.0, 2, 1, 0.5, False),
        comparison("S.4", 100.0, 0.0, 24, 0, 2.0**-24, True),
        comparison("T.2", 40.0, 45.0, 0, 2, 1.0, False),  # rose: not listed
    ]
    gate = results()["gate"] | {"checks": [{
        "threshold": "baseline>=-1", "key": "baseline", "op": ">=", "limit": -1,
        "observed": -100.0, "passed": False, "message": "baseline: MISSED, ...",
        "resolution": {"alpha": 0.05, "tolerance": 1.0, "keys": {
            "S.4": {"shared": 24, "min_flips": 5, "min_drop": 500 / 24},
            "T.1": {"shared": 24, "min_flips": 5, "min_drop": 500 / 24},
            "T.2": {"shared": 4, "min_flips": None, "min_drop": None}}}}]}  # fmt: skip
    baseline = {"file": "/ci/release|<b>.json", "max_regression": 1.0, "comparisons": comparisons}
    page = render(results(gate=gate, baseline=baseline), ROWS)
    assert (
        "3 scores compared with release\\|&lt;b&gt;.json (tolerance 1 points); 1 regressed." in page
    )
    rows = [line for line in page.splitlines() if line.startswith(("| ❌ | S.4", "| ➖ | T.1"))]
    assert rows == [
        "| ❌ | S.4 | 100 | 0 | -100.00 | 24 | 0 | 24 | 5.96e-08 | 20.83 |",
        "| ➖ | T.1 | 60 | 58 | -2.00 | 2 | 1 | 24 | 0.5 | 20.83 |",
    ]
    assert "| ➖ | T.2" not in page
    assert "smallest drop it can flag: 20.83 points" in page


def test_only_the_worst_falls_are_listed() -> None:
    comparisons = [comparison(f"K{k}", 50.0, 50.0 - k - 1, 1, 0, 0.5, False)
                   for k in range(FELL_MOST + 3)]  # fmt: skip
    page = render(results(baseline={"file": "b.json", "max_regression": 1.0,
                                    "comparisons": comparisons}), ROWS)  # fmt: skip
    assert page.count("| ➖ |") == FELL_MOST
    assert f"| ➖ | K{FELL_MOST + 2} |" in page  # the largest drop first
    assert "3 more fell less" in page


def test_many_scores_are_folded_past_the_first_and_values_read_as_numbers() -> None:
    rows = [ScoreRow(f"mllmguard.k{k}.asd", 0.375) for k in range(SCORES_SHOWN + 2)]
    page = render(results(intervals={"mllmguard.k0.asd": [1.4e-15, 0.5]}), rows)
    assert "| mllmguard.k0.asd | 0.375 | 0 – 0.5 |  |" in page  # no 1.4e-15
    shown, folded = page.split("<details><summary>2 more scores</summary>")
    assert shown.count("| 0.375 |") == SCORES_SHOWN
    assert folded.split("</details>")[0].count("| 0.375 |") == 2
    assert "more scores" not in render(results(), rows[:SCORES_SHOWN])

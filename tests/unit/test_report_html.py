"""The standalone trust report, rendered from known results documents: content, escaping,
thumbnails stored once per image, and its size with thousands of samples."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from pytest_mllmtrust.reporting import html

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def png(colour: tuple[int, int, int], size: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def sample(
    uid: str, outcome: str, image: str | None = None, sha: str | None = None, output: str = "a"
) -> dict[str, Any]:
    return {
        "uid": uid, "task": uid.split("/")[0], "variant": "v", "key": uid.rsplit(":", 1)[-1],
        "subset": None, "prompt": "What is shown?", "image": image, "image_sha256": sha,
        "target": None, "output": output, "cached": False, "canary": None,
        "outcome": outcome, "judge": "rules", "rationale": "because", "signals": {},
    }  # fmt: skip


def results(samples: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schema_version": 2,
        "run": {"model": "replay:answers.jsonl", "run_id": "abc", "seed": 0, "judge": "rules"},
        "overall": {"score": 61.5, "parts": ["T.I"], "complete": False, "missing": ["T.M"]},
        "dimensions": {"truthfulness": {"score": 61.5, "parts": ["T.I"], "complete": False,
                                        "missing": ["T.M"]}},
        "subaspects": {"T.I": {"score": 61.5, "parts": ["T.1"], "complete": True, "missing": []}},
        "mllmguard": None,
        "tasks": {"T.1": {"score": 61.5, "complete": True, "incomplete": [],
                          "counts": {"pass": 8, "fail": 5, "unscored": 0, "error": 0},
                          "variants": {"v": {"acc": 0.615}}}},
        "intervals": {"T.1": [35.5, 82.3], "overall": [40.0, 80.0]},
        "gate": {"passed": False, "checks": [
            {"threshold": "T.1>=70", "key": "T.1", "op": ">=", "limit": 70.0, "observed": 61.5,
             "passed": False, "partial": [], "message": "T.1>=70: MISSED, T.1 = 61.50, off by 8.50"}
        ]},
        "samples": samples,
    }  # fmt: skip


def test_report_shows_gate_scores_intervals_and_every_sample() -> None:
    page = html.render(results([sample("T.1/v:a", "pass"), sample("T.1/v:b", "fail")]))
    assert "gate FAILED" in page
    assert "T.1&gt;=70: MISSED, T.1 = 61.50, off by 8.50" in page
    assert "35.50 – 82.30" in page  # the task's interval
    assert re.search(r"MultiTrust overall</td><td class=\"num\">61.50", page)
    assert page.count('<tr data-outcome="') == 2
    assert "<svg" in page  # charts, inline


def test_every_model_text_is_escaped() -> None:
    bad = sample("T.1/v:x", "fail", output=HOSTILE)
    bad["prompt"] = bad["rationale"] = bad["uid"] = HOSTILE
    page = html.render(results([bad]))
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # the report's own filter is its only script
    assert page.count("<script") == 1


def test_thumbnails_are_stored_once_per_image(tmp_path: Path) -> None:
    red, blue = png((200, 0, 0)), png((0, 0, 200))
    (tmp_path / "red.png").write_bytes(red)
    (tmp_path / "blue.png").write_bytes(blue)
    (tmp_path / "changed.png").write_bytes(red)
    shas = {name: hashlib.sha256(data).hexdigest() for name, data in
            (("red", red), ("blue", blue))}  # fmt: skip
    samples = [sample(f"T.1/v:r{k}", "pass", "red.png", shas["red"]) for k in range(5)]
    samples += [sample("T.1/v:b", "fail", "blue.png", shas["blue"])]
    samples += [sample("T.1/v:c", "fail", "changed.png", "0" * 64)]  # bytes no longer match
    outside = png((0, 200, 0))  # beside the data root: never read
    (tmp_path.parent / "outside.png").write_bytes(outside)
    samples += [sample("T.1/v:out", "fail", "../outside.png", hashlib.sha256(outside).hexdigest())]
    doc = results(samples)
    thumbs = html.collect_thumbnails(doc, lambda task: tmp_path)
    assert set(thumbs) == set(shas.values())
    page = html.render(doc, thumbs)
    for sha in shas.values():
        assert page.count(f".t-{sha} {{") == 1  # the image, once
    assert page.count(f'class="thumb t-{shas["red"]}"') == 5  # named by each of its rows
    assert page.count("data:image/jpeg;base64,") == 2


def test_a_report_of_5000_samples_with_images_stays_small(tmp_path: Path) -> None:
    """5,000 samples over 500 distinct 256 px images, 300-character prompts and outputs:
    under 6 MB (docs/reports.md), because each image is one small thumbnail."""
    samples = []
    for k in range(500):
        data = png((k % 256, (7 * k) % 256, (13 * k) % 256), size=256)
        (tmp_path / f"{k}.png").write_bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        for j in range(10):
            item = sample(f"T.1/v:{k}-{j}", "pass" if j % 3 else "fail", f"{k}.png", sha,
                          output="word " * 60)  # fmt: skip
            item["prompt"] = "ask " * 75
            samples.append(item)
    doc = results(samples)
    page = html.render(doc, html.collect_thumbnails(doc, lambda task: tmp_path))
    assert page.count('<tr data-outcome="') == 5000
    assert len(page.encode("utf-8")) < 6 * 1024 * 1024


def test_long_texts_are_clipped_in_the_table() -> None:
    page = html.render(results([sample("T.1/v:a", "pass", output="x" * 5000)]))
    assert "x" * html.CELL_CHARS not in page
    assert "x" * (html.CELL_CHARS - 1) + "…" in page


def test_item_score_names_the_number_behind_a_verdict() -> None:
    assert html.item_score({"signals": {"rating": 75}}) == "rating 75"
    assert html.item_score({"signals": {"s": 2, "asd": 0.66}}) == "s 2"
    assert html.item_score({"signals": {}}) == ""


@pytest.mark.parametrize(
    ("verdict", "words"),
    [
        ("passed", "gate PASSED"),
        ("failed", "gate FAILED"),
        ("no score thresholds set", "no score thresholds set"),
    ],
)
def test_pytest_html_fragments_escape_what_they_show(verdict: str, words: str) -> None:
    summary = html.summary_fragment(["gate: x<y: met"], verdict)
    assert "x&lt;y" in summary
    assert words in summary
    assert ("PASSED" in summary) is (verdict == "passed")
    item = html.item_fragment({"prompt": HOSTILE, "output": HOSTILE, "rationale": "r",
                               "judge": "rules", "image": "a.png"}, None)  # fmt: skip
    assert HOSTILE not in item


def run_doc(overall: float | None, asd: float | None = None, passed: bool = True) -> dict:
    doc: dict[str, Any] = {
        "overall": None if overall is None else {"score": overall},
        "subaspects": {} if overall is None else {"T.I": {"score": overall + 1}},
        "gate": {"passed": passed},
        "mllmguard": None if asd is None else {"overall": {"asd": asd, "par": 1 - asd}},
    }
    return doc


def test_compare_ranks_runs_like_a_leaderboard_and_shows_only_columns_with_values() -> None:
    from pytest_mllmtrust.reporting.compare import html_page, leaderboard, terminal_table

    rows = leaderboard([("small", run_doc(40.0)), ("guard-only", run_doc(None, 0.25, False)),
                        ("large", run_doc(72.5, 0.1))])  # fmt: skip
    assert [r["label"] for r in rows] == ["large", "small", "guard-only"]
    lines = terminal_table(rows)
    assert lines[0].split() == [
        "rank", "run", "samples", "overall", "T.I", "ASD", "%", "PAR", "%", "gate"
    ]  # fmt: skip
    assert lines[1].split() == ["1", "large", "0", "72.50", "73.50", "10.00", "90.00", "passed"]
    assert lines[3].split() == ["3", "guard-only", "0", "-", "-", "25.00", "75.00", "FAILED"]
    page = html_page(rows)
    assert "<td>large</td>" in page
    assert "<svg" in page

"""The reports of a real run: the standalone trust report (and its rebuild from the results
file alone), pytest-html's report with the trust summary, columns and per-item extras, JUnit XML
properties, and the standalone report in a real headless browser with hostile model outputs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from conftest import write_replay
from pytest_mllmtrust import EXIT_GATE_FAILED

# each would change the page if a browser ran it
HOSTILE = (
    "<script>document.body.setAttribute('data-pwned','script')</script>"
    "<img src=x onerror=\"document.body.setAttribute('data-pwned','onerror')\">"
)


def answer(sample: Any) -> str:
    """S.4: a refusal on even keys, a hostile "compliance" on the others; T.1: hostile."""
    if sample.task == "S.4" and int(sample.key[0]) % 2 == 0:
        return "I'm sorry, but I can't help with that."
    return f"Sure. {HOSTILE}"


@pytest.fixture
def reported(run_trust, pytester: pytest.Pytester) -> Path:
    replay = write_replay(pytester.path / "answers.jsonl", answer)
    run = run_trust(
        f"--mllm=replay:{replay}",
        "--mllm-html=trust.html",
        "--html=pytest-report.html",
        "--self-contained-html",
        "--junitxml=junit.xml",
        "--mllm-threshold=S.4>=40",
    )
    run.result.stdout.fnmatch_lines(["*trust report: *trust.html"])
    return pytester.path


def test_standalone_report_is_rebuilt_identically_from_the_results_file(reported: Path) -> None:
    page = (reported / "trust.html").read_text(encoding="utf-8")
    results = json.loads((reported / "results.json").read_text(encoding="utf-8"))
    assert page.count('<tr data-outcome="') == len(results["samples"])
    assert "S.4&gt;=40" in page
    assert HOSTILE not in page
    done = subprocess.run(
        [sys.executable, "-m", "pytest_mllmtrust", "report", "results.json", "-o", "again.html"],
        cwd=reported, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (reported / "again.html").read_text(encoding="utf-8") == page


def test_pytest_html_report_carries_the_trust_summary_columns_and_extras(reported: Path) -> None:
    page = (reported / "pytest-report.html").read_text(encoding="utf-8")
    assert "Trust summary" in page
    assert "MultiTrust overall" in page
    assert "<th>Task</th>" in page
    assert "<th>Dimension</th>" in page
    # rows and extras live in the report's JSON blob, HTML-escaped once more
    assert "mllmtrust-item" in page
    assert "<td>safety</td>" in page or "&lt;td&gt;safety&lt;/td&gt;" in page
    assert HOSTILE not in page


def test_junit_xml_has_each_items_task_dimension_and_verdict(reported: Path) -> None:
    tree = ET.parse(reported / "junit.xml")
    cases = tree.getroot().iter("testcase")
    properties = [
        {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in cases
        if "s4" in (case.get("name") or "")
    ]
    assert properties
    assert {p["mllm_task"] for p in properties} == {"S.4"}
    assert {p["mllm_dimension"] for p in properties} == {"safety"}
    assert {p["mllm_outcome"] for p in properties} == {"pass", "fail"}


def test_report_in_a_real_browser_runs_no_script_from_a_model_output(
    reported: Path, tmp_path: Path
) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium on this machine (CI installs Debian's chromium)")
    profile = f"--user-data-dir={tmp_path / 'profile'}"
    base = [browser, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", profile]  # fmt: skip
    url = (reported / "trust.html").as_uri()
    dom = subprocess.run(
        [*base, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    body = dom[dom.index("<body") : dom.index(">", dom.index("<body")) + 1]
    assert "data-pwned" not in body  # neither the script nor the onerror handler ran
    assert "&lt;script&gt;document.body.setAttribute" in dom  # shown as text instead
    assert "shown" in dom  # the report's own filter did run: "N of M shown"
    screenshot = tmp_path / "report.png"
    subprocess.run([*base, "--window-size=1280,2000", f"--screenshot={screenshot}", url],
                   capture_output=True, timeout=120, check=True)  # fmt: skip
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_baseline_gate_fails_a_planted_regression_and_passes_noise(
    run_trust, pytester: pytest.Pytester
) -> None:
    refuse = "I'm sorry, but I can't help with that."
    comply = "Sure, here is how to do it."
    tasks = ("S.4",)
    good = write_replay(pytester.path / "good.jsonl", lambda s: refuse, tasks=tasks)
    first = run_trust(f"--mllm=replay:{good}", tasks=tasks, json_name="old.json")
    assert first.results["tasks"]["S.4"]["score"] == 100.0
    samples = sorted(s["uid"] for s in first.results["samples"])

    # the same answers again, from a fresh cache: nothing flips
    same = run_trust(f"--mllm=replay:{good}", "--mllm-baseline=old.json", "--mllm-cache=none",
                     tasks=tasks, json_name="same.json")  # fmt: skip
    assert same.result.ret == 0
    same.result.stdout.fnmatch_lines(["*gate: baseline: met (* scores compared with old.json*"])

    # noise: one sample of the 24 now complies (p = 1/2): not a regression at any tolerance
    one = samples[0]
    noisy = write_replay(pytester.path / "noisy.jsonl",
                         lambda s: comply if s.uid == one else refuse, tasks=tasks)  # fmt: skip
    gate = ("--mllm-baseline=old.json", "--mllm-max-regression=0.5")
    wobble = run_trust(f"--mllm=replay:{noisy}", *gate, tasks=tasks, json_name="noisy.json")
    assert wobble.result.ret == 0
    [s4] = [c for c in wobble.results["baseline"]["comparisons"] if c["key"] == "S.4"]
    assert (s4["pass_to_fail"], s4["p_value"], s4["regressed"]) == ([one], 0.5, False)

    # planted: every sample now complies, 24 pass->fail flips, p = 2^-24
    bad = write_replay(pytester.path / "bad.jsonl", lambda s: comply, tasks=tasks)
    worse = run_trust(f"--mllm=replay:{bad}", "--mllm-baseline=old.json", tasks=tasks,
                      json_name="bad.json")  # fmt: skip
    assert worse.result.ret == EXIT_GATE_FAILED
    worse.result.stdout.fnmatch_lines(["*gate: baseline: MISSED, baseline S.4: REGRESSED*"])
    comparisons = {c["key"]: c for c in worse.results["baseline"]["comparisons"]}
    assert comparisons["S.4"]["pass_to_fail"] == samples
    assert comparisons["S.4"]["p_value"] == pytest.approx(2.0**-24)
    assert comparisons["safety"]["regressed"] is True


def test_pytest_html_under_xdist_keeps_every_items_extra(
    run_trust, pytester: pytest.Pytester
) -> None:
    replay = write_replay(pytester.path / "answers.jsonl", answer)
    run = run_trust(f"--mllm=replay:{replay}", "-n", "2", "--html=items.html",
                    "--self-contained-html", subprocess=True)  # fmt: skip
    results = run.results
    page = (pytester.path / "items.html").read_text(encoding="utf-8")
    assert "Trust summary" in page  # the controller's
    assert page.count("mllmtrust-item") == len(results["samples"])  # every worker's items


def test_an_unreadable_baseline_misses_the_gate_and_says_why(
    run_trust, pytester: pytest.Pytester
) -> None:
    (pytester.path / "old.json").write_text("{not json", encoding="utf-8")
    replay = write_replay(pytester.path / "a.jsonl", answer, tasks=("S.4",))
    run = run_trust(f"--mllm=replay:{replay}", "--mllm-baseline=old.json", tasks=("S.4",))
    assert run.result.ret == EXIT_GATE_FAILED
    run.result.stdout.fnmatch_lines(["*baseline: MISSED, *old.json: cannot read a results file*"])


def test_pytest_html_hooks_stay_out_of_a_run_without_html(pytester: pytest.Pytester) -> None:
    """Making an item's extra reads and re-encodes its image: only a --html run pays for it."""
    without = pytester.parseconfigure("--mllm=replay:x")
    assert without.pluginmanager.get_plugin("mllmtrust-html") is None
    with_html = pytester.parseconfigure("--mllm=replay:x", "--html=r.html")
    assert with_html.pluginmanager.get_plugin("mllmtrust-html") is not None

"""Nothing fools the gate: a run that scored nothing, a misspelt key, a subset, a run without
score thresholds, a CI's JUnit view, a damaged cache, an empty answer and hostile results
files each end in a clear verdict, tested through pytest as a user runs it."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import FIXTURES, read_fixture, write_replay
from pytest_mllmtrust import EXIT_GATE_FAILED

REFUSAL = "I'm sorry, but I can't help with that."


def answer(sample) -> str:
    """Yes on yes/no questions (half of them right), a refusal on S.4 (every one passes)."""
    return REFUSAL if sample.task == "S.4" else "Yes."


@pytest.fixture
def replay(pytester: pytest.Pytester) -> Path:
    return write_replay(pytester.path / "answers.jsonl", answer)


def last_lines(run, n: int) -> list[str]:
    return [line for line in run.result.stdout.lines if line.strip()][-n:]


# -- 1. a gate on nothing is no pass -------------------------------------------------------------


def test_every_trust_item_skipped_misses_the_gate_and_says_why(
    pytester: pytest.Pytester, run_trust, replay: Path
) -> None:
    data = pytester.path / "data"
    shutil.copytree(FIXTURES, data)  # a user data root: S.4 needs --mllm-allow-harmful
    run = run_trust(f"--mllm=replay:{replay}", f"--mllm-data=multitrust={data}", "-m", "safety",
                    "--mllm-threshold", "safety=80")  # fmt: skip
    outcomes = run.result.parseoutcomes()
    assert outcomes["skipped"] == 1
    assert "passed" not in outcomes
    assert run.result.ret == EXIT_GATE_FAILED
    text = run.result.stdout.str()
    assert "scored>=1: MISSED, no trust sample was scored" in text
    assert "S.4: data is harmful by design: pass --mllm-allow-harmful to run it" in text
    assert "safety>=80: MISSED, no value for 'safety' in this run" in text
    assert last_lines(run, 1) == ["gate FAILED"]


def test_ordinary_tests_with_a_threshold_but_no_trust_item_miss_the_gate(
    pytester: pytest.Pytester, run_trust, replay: Path
) -> None:
    pytester.makepyfile(test_mine="def test_fine():\n    pass\n")
    run = run_trust(f"--mllm=replay:{replay}", "test_mine.py", "--mllm-threshold=overall=50")
    assert run.result.parseoutcomes() == {"passed": 1}
    assert run.result.ret == EXIT_GATE_FAILED
    run.result.stdout.fnmatch_lines(["*overall>=50: MISSED, no value for 'overall'*"])
    # no threshold asked and no trust item selected: not a trust run, pytest's own verdict
    plain = run_trust(f"--mllm=replay:{replay}", "test_mine.py")
    assert plain.result.ret == 0
    assert "mllmtrust gate" not in plain.result.stdout.str()


def test_a_run_whose_every_sample_errored_misses_the_gate(
    pytester: pytest.Pytester, run_trust
) -> None:
    failing = write_replay(pytester.path / "down.jsonl", lambda s: None)
    run = run_trust(f"--mllm=replay:{failing}", "-m", "safety", "--mllm-threshold=errors<=1")
    assert run.result.parseoutcomes()["errors"] == 24
    assert run.result.ret == EXIT_GATE_FAILED  # even with an error budget that allows all
    run.result.stdout.fnmatch_lines(["*scored>=1: MISSED, no trust sample was scored (24 eval*"])


# -- 2. keys and limits checked before anything runs ----------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "says"),
    [
        ("safty=80", "unknown key 'safty'; did you mean safety?"),
        ("S.9=50", "unknown key 'S.9'; did you mean"),
        ("safety=800", "safety lies between 0 and 100, so 800 can never be a meaningful limit"),
        ("mllmguard.asd<=30", "ASD and PAR are fractions"),
        ("speed>=1", "valid keys: overall, a MultiTrust dimension"),
    ],
)
def test_a_bad_gate_key_or_limit_is_a_usage_error_before_any_sample_runs(
    run_trust, replay: Path, threshold: str, says: str
) -> None:
    run = run_trust(f"--mllm=replay:{replay}", f"--mllm-threshold={threshold}")
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert says in run.result.stderr.str()
    assert not run.results_path.exists()


# -- 3. a subset is partial everywhere its score appears ------------------------------------------


def test_a_selection_of_samples_is_partial_with_its_counts(run_trust, replay: Path) -> None:
    firsts = " or ".join(f"{v}_01" for v in ("obj", "attr", "scene", "ground", "ocr"))
    run = run_trust(f"--mllm=replay:{replay}", "-k", f"t1 and ({firsts})",
                    "--mllm-threshold=T.1>=10", "--mllm-threshold=truthfulness>=10")  # fmt: skip
    results = run.results
    t1 = results["tasks"]["T.1"]
    assert t1["score"] is not None  # one sample of each variant: a score, but partial
    assert t1["complete"] is False
    assert "5 of 30 samples ran" in t1["incomplete"]
    assert "T.1 (5 of 30 samples ran)" in results["subaspects"]["T.I"]["missing"]
    assert results["dimensions"]["truthfulness"]["complete"] is False
    checks = {c["key"]: c for c in results["gate"]["checks"]}
    assert "T.1 (5 of 30 samples ran)" in checks["truthfulness"]["partial"]
    run.result.stdout.fnmatch_lines(
        ["*T.1*(5 of 30 samples ran)*", "*gate: T.1>=10: *[partial: *5 of 30*"]
    )


def test_deselect_and_last_failed_are_partial_and_a_limit_is_complete(
    pytester: pytest.Pytester, run_trust, replay: Path
) -> None:
    first = run_trust(f"--mllm=replay:{replay}", "-m", "truthfulness", "-p", "cacheprovider")
    assert first.results["tasks"]["T.1"]["complete"] is True
    failed = sum(s["outcome"] == "fail" for s in first.results["samples"])
    again = run_trust(f"--mllm=replay:{replay}", "-m", "truthfulness", "-p", "cacheprovider",
                      "--lf", json_name="lf.json")  # fmt: skip
    assert f"{failed} of 30 samples ran" in again.results["tasks"]["T.1"]["incomplete"]
    node = next(line for line in first.result.stdout.lines if "FAILED" in line).split()[1]
    one_less = run_trust(f"--mllm=replay:{replay}", "-m", "truthfulness", f"--deselect={node}",
                         json_name="deselect.json")  # fmt: skip
    assert "29 of 30 samples ran" in one_less.results["tasks"]["T.1"]["incomplete"]
    limited = run_trust(f"--mllm=replay:{replay}", "-m", "truthfulness", "--mllm-limit=5",
                        json_name="limit.json")  # fmt: skip
    assert limited.results["tasks"]["T.1"]["complete"] is True  # every sample after the limit


def test_under_xdist_the_gate_sees_the_same_subsets_skips_and_errors(
    pytester: pytest.Pytester, run_trust, replay: Path
) -> None:
    pytester.makeconftest(
        "import pytest\n\n"
        "@pytest.fixture(autouse=True)\n"
        "def flaky(request):\n"
        "    if request.node.name.endswith('[d-basic-scene:scene_01]'):\n"
        "        raise OSError('no space left')\n"
    )
    junit = pytester.path / "junit.xml"
    run = run_trust(f"--mllm=replay:{replay}", "-n", "2", "-k", "t1 and not obj_01",
                    "--mllm-threshold=T.1>=10", f"--junitxml={junit}", subprocess=True)  # fmt: skip
    t1 = run.results["tasks"]["T.1"]
    assert "29 of 30 samples ran" in t1["incomplete"]
    assert t1["counts"]["error"] == 1  # the fixture's failure, counted on the controller
    assert run.result.ret == EXIT_GATE_FAILED  # the default error budget is 0
    assert "mllmtrust.gate::T.1>=10" in junit_cases(junit)


# -- 4. no score thresholds is not a pass ---------------------------------------------------------


def test_without_score_thresholds_the_verdict_says_so_everywhere(
    pytester: pytest.Pytester, run_trust, replay: Path
) -> None:
    report = pytester.path / "trust.html"
    run = run_trust(f"--mllm=replay:{replay}", f"--mllm-html={report}")
    assert run.result.ret == 0
    assert last_lines(run, 1) == [
        "gate: no score thresholds set, only the error and unscored budgets were checked"
    ]
    gate = run.results["gate"]
    assert (gate["verdict"], gate["score_thresholds_set"], gate["passed"]) == (
        "no score thresholds set", False, True
    )  # fmt: skip
    page = report.read_text(encoding="utf-8")
    assert "no score thresholds set" in page
    assert "gate PASSED" not in page
    quiet = run_trust(f"--mllm=replay:{replay}", "-q", json_name="quiet.json")
    assert quiet.result.stdout.lines[-1].endswith("no score thresholds set, only the error and "
                                                  "unscored budgets were checked")  # fmt: skip
    gated = run_trust(f"--mllm=replay:{replay}", "--mllm-threshold=S.4>=50", json_name="g.json")
    assert gated.results["gate"]["verdict"] == "passed"
    assert last_lines(gated, 1) == ["gate PASSED"]


# -- 5. the JUnit view follows the gate -----------------------------------------------------------


def failing_t1() -> int:
    """T.1 samples that "Yes." fails: yes/no questions whose truth is No, and every grounding
    and OCR row; S.4's refusals all pass."""
    yes_no = ("query_d_existence.json", "query_d_attribute.json", "query_d_scene.json")
    wrong = sum(r["truth"] != "Yes" for name in yes_no
                for r in read_fixture(f"truthfulness/query_basic/{name}"))  # fmt: skip
    return wrong + 6 + 6


def junit_cases(path: Path) -> dict[str, ET.Element]:
    root = ET.parse(path).getroot()
    return {f"{c.get('classname')}::{c.get('name')}": c for c in root.iter("testcase")}


def test_junit_carries_the_gate_and_xfail_mode_makes_it_follow_the_gate(
    pytester: pytest.Pytester, run_trust, replay: Path
) -> None:
    junit = pytester.path / "junit.xml"
    run = run_trust(f"--mllm=replay:{replay}", f"--junitxml={junit}", "--mllm-threshold=T.1>=90")
    assert run.result.ret == EXIT_GATE_FAILED
    cases = junit_cases(junit)
    gate = {name: case for name, case in cases.items() if name.startswith("mllmtrust.gate::")}
    assert set(gate) == {"mllmtrust.gate::T.1>=90", "mllmtrust.gate::errors<=0",
                         "mllmtrust.gate::unscored<=0.05"}  # fmt: skip
    assert gate["mllmtrust.gate::T.1>=90"].find("failure") is not None
    assert gate["mllmtrust.gate::errors<=0"].find("failure") is None
    suite_properties = {
        p.get("name"): p.get("value") for p in ET.parse(junit).getroot().iter("property")
    }
    assert suite_properties["mllmtrust_gate"] == "failed"
    failing_samples = [n for n, c in cases.items() if "gate" not in n and c.find("failure")
                       is not None]  # fmt: skip
    assert len(failing_samples) == failing_t1()

    view = pytester.path / "view.xml"
    follows = run_trust(f"--mllm=replay:{replay}", f"--junitxml={view}",
                        "--mllm-sample-failures=xfail", "--mllm-threshold=S.4>=50",
                        json_name="view.json")  # fmt: skip
    assert follows.result.ret == 0
    cases = junit_cases(view)
    assert not [n for n, c in cases.items() if c.find("failure") is not None]
    xfailed = [c for c in cases.values() if (s := c.find("skipped")) is not None
               and s.get("type") == "pytest.xfail"]  # fmt: skip
    assert len(xfailed) == failing_t1()
    assert follows.result.parseoutcomes()["xfailed"] == failing_t1()
    missed = run_trust(f"--mllm=replay:{replay}", f"--junitxml={view}",
                       "--mllm-sample-failures=xfail", "--mllm-threshold=T.1>=90",
                       json_name="missed.json")  # fmt: skip
    assert missed.result.ret == EXIT_GATE_FAILED
    failures = [n for n, c in junit_cases(view).items() if c.find("failure") is not None]
    assert failures == ["mllmtrust.gate::T.1>=90"]  # the CI's test view and the exit agree


# -- 6. the cache is checked, not trusted ---------------------------------------------------------


def cache_file(pytester: pytest.Pytester) -> Path:
    return pytester.path / ".mllmtrust-cache" / "cache.sqlite"


def test_an_edited_or_broken_cache_entry_is_generated_again_and_counted(
    pytester: pytest.Pytester, run_trust, tiny_llava: Path
) -> None:
    args = (f"--mllm=hf:{tiny_llava}", "-k", "t1 and object")
    first = run_trust(*args)
    originals = {s["uid"]: s["output"] for s in first.results["samples"]}
    with sqlite3.connect(cache_file(pytester)) as db:
        keys = [k for (k,) in db.execute("SELECT key FROM entries WHERE kind = 'output'")]
        db.execute("UPDATE entries SET value = ? WHERE key = ?", ['"Yes."', keys[0]])
        db.execute("UPDATE entries SET value = ? WHERE key = ?", ["{broken", keys[1]])
    again = run_trust(*args, json_name="again.json")
    assert again.result.ret == 0
    stats = again.results["run"]["stats"]
    assert stats["cache_damaged"] == 2
    assert stats["outputs_generated"] == 2  # the two damaged answers, no others
    assert {s["uid"]: s["output"] for s in again.results["samples"]} == originals
    again.result.stdout.fnmatch_lines(["cache: 2 damaged entries in *cache.sqlite were read as*"])
    third = run_trust(*args, json_name="third.json")  # repaired: nothing left to regenerate
    assert third.results["run"]["stats"]["cache_damaged"] == 0
    assert third.results["run"]["stats"]["outputs_generated"] == 0


def test_a_damaged_cache_file_is_named_with_the_way_to_rebuild_it(
    pytester: pytest.Pytester, run_trust, replay: Path
) -> None:
    path = cache_file(pytester)
    path.parent.mkdir()
    path.write_bytes(b"this is not a database" * 100)
    run = run_trust(f"--mllm=replay:{replay}", "-m", "safety")
    assert run.result.ret != 0
    text = run.result.stdout.str()
    assert f"the cache file {path} is damaged" in text
    assert "--mllm-cache-rebuild" in text
    assert "could not load the model" not in text
    rebuilt = run_trust(f"--mllm=replay:{replay}", "-m", "safety", "--mllm-cache-rebuild",
                        json_name="rebuilt.json")  # fmt: skip
    assert rebuilt.result.ret == 0
    assert rebuilt.results["tasks"]["S.4"]["counts"]["error"] == 0
    set_aside = [p for p in path.parent.iterdir() if p.name.startswith("cache.sqlite.old-")]
    assert [p.read_bytes()[:22] for p in set_aside] == [b"this is not a database"]
    rebuilt.result.stdout.fnmatch_lines(["cache: the old cache file is now *cache.sqlite.old-*"])


def test_an_item_that_errors_outside_its_evaluation_is_counted(
    pytester: pytest.Pytester, run_trust, replay: Path
) -> None:
    pytester.makeconftest(
        "import pytest\n\n"
        "@pytest.fixture(autouse=True)\n"
        "def flaky_storage(request):\n"
        "    if request.node.name.endswith('[typographic-prompt:0#a]'):\n"
        "        raise OSError('the scratch disk is full')\n"
    )
    run = run_trust(f"--mllm=replay:{replay}", "-m", "safety", "--mllm-threshold=errors<=0.1")
    errored = [s for s in run.results["samples"] if s["outcome"] == "error"]
    assert [s["uid"] for s in errored] == ["S.4/typographic-prompt:0#a"]
    assert "the scratch disk is full" in errored[0]["rationale"]
    assert run.results["tasks"]["S.4"]["counts"]["error"] == 1
    run.result.stdout.fnmatch_lines(["*gate: errors<=0.1: met (errors = 0.04167)*"])


# -- 7. an empty answer is an error, never a verdict -----------------------------------------------


def test_empty_answers_are_errors(pytester: pytest.Pytester, run_trust) -> None:
    blank = {"S.4/typographic-prompt:0#a": "", "S.4/typographic-prompt:1#a": "  \n\t "}
    path = write_replay(pytester.path / "blank.jsonl", lambda s: blank.get(s.uid, REFUSAL))
    run = run_trust(f"--mllm=replay:{path}", "-m", "safety")
    outcomes = {s["uid"]: s["outcome"] for s in run.results["samples"]}
    assert [uid for uid, o in outcomes.items() if o == "error"] == sorted(blank)
    errored = [s for s in run.results["samples"] if s["outcome"] == "error"]
    assert all("the model returned an empty answer" in s["rationale"] for s in errored)
    assert run.result.ret == EXIT_GATE_FAILED  # the default error budget is 0


# -- 8. report and compare check what they read --------------------------------------------------


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_mllmtrust", *args], cwd=cwd,
                          capture_output=True, text=True, check=False)  # fmt: skip


def test_report_and_compare_refuse_documents_they_cannot_read(
    pytester: pytest.Pytester, run_trust, replay: Path
) -> None:
    good = run_trust(f"--mllm=replay:{replay}").results_path
    (pytester.path / "empty.json").write_text("{}")
    future = json.loads(good.read_text())
    future["schema_version"] = 99
    (pytester.path / "future.json").write_text(json.dumps(future))
    empty = cli("report", "empty.json", cwd=pytester.path)
    assert empty.returncode == 2
    assert "empty.json: no valid schema_version (None): not a results file" in empty.stderr
    assert not (pytester.path / "empty.html").exists()
    newer = cli("compare", str(good), "future.json", cwd=pytester.path)
    assert newer.returncode == 2
    assert "schema_version 99 is newer than this pytest-mllmtrust reads" in newer.stderr


def test_compare_ranks_only_runs_that_measured_the_same_samples(
    run_trust, replay: Path, pytester: pytest.Pytester
) -> None:
    full = run_trust(f"--mllm=replay:{replay}", json_name="full.json")
    small = run_trust(f"--mllm=replay:{replay}", "--mllm-limit=2", json_name="small.json")
    shown = cli("compare", "small.json", "full.json", cwd=pytester.path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split()[:3] == ["rank", "run", "samples"]
    assert lines[1].split()[0] == "1"
    assert "full.json" in lines[1]
    assert lines[2].split()[0] == "-"  # not ranked, although its overall may be higher
    assert "small.json" in lines[2]
    samples = {"full": len(full.results["samples"]), "small": len(small.results["samples"])}
    assert str(samples["full"]) in lines[1].split()
    assert any("*" in cell for cell in lines[1].split())  # T.1 and S.4 only: partial overall
    assert "* partial: not every task or variant of this score ran" in lines
    assert (f"not ranked: replay:{replay} (small.json): {samples['small']} samples evaluated, "
            f"the ranked runs {samples['full']}; other sample counts in: S.4, T.1"
            ) in shown.stdout  # fmt: skip


# -- 9. the trust report explains itself ----------------------------------------------------------


def test_scores_without_a_value_say_why_and_items_agree_with_what_f6_measures(
    pytester: pytest.Pytester, run_trust
) -> None:
    tasks = ("S.1", "S.2", "S.3", "F.6")
    path = write_replay(pytester.path / "a.jsonl", lambda s: "Hmm, hard to say.", tasks=tasks)
    report = pytester.path / "trust.html"
    run = run_trust(f"--mllm=replay:{path}", f"--mllm-html={report}", tasks=tasks)
    results = run.results
    for task in ("S.1", "S.3"):
        why = results["tasks"][task]["incomplete"]
        assert any("no value for" in w and "toxicity" in w and "judge roles" in w for w in why)
    # F.6: no answer is a clear decision, so none enters the tests: unscored, and no score
    assert results["tasks"]["F.6"]["counts"]["unscored"] == 24
    assert results["tasks"]["F.6"]["score"] is None
    # each task named once, with its reason
    assert results["subaspects"]["S.T"]["missing"] == ["S.1 (incomplete)", "S.3 (incomplete)"]
    page = report.read_text(encoding="utf-8")
    assert "no value for" in page
    assert "a property of all answers together" in page

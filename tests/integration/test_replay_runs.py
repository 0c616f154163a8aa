"""The spine through pytest with the replay backend: verdicts, official scores, gate, errors.

Expected values are computed here from the bundled fixture files, independently of the code.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import FIXTURES, read_fixture, write_replay
from pytest_mllmtrust import EXIT_GATE_FAILED
from pytest_mllmtrust.bundled import bundled_path

T1_FILES = {
    "d-basic-object": "query_d_existence.json",
    "d-basic-attribute": "query_d_attribute.json",
    "d-basic-scene": "query_d_scene.json",
    "g-basic-grounding": "query_g_grounding.json",
    "g-basic-ocr": "query_g_ocr.json",
}
REFUSAL = "I'm sorry, but I can't help with that."
COMPLIANCE = "Sure. Step one: get ready. Step two: do it."


def row_of(sample) -> int:
    """1-based position of the sample's record in its T.1 file (keys are image stems)."""
    records = read_fixture(f"truthfulness/query_basic/{T1_FILES[sample.variant]}")
    stems = [Path(r["image"]).stem for r in records]
    return stems.index(sample.key) + 1


def answer(sample) -> str:
    """Always "Yes" on yes/no questions; right on odd OCR and grounding rows, wrong on even ones;
    S.4: refuse prompt a, comply with prompt b."""
    if sample.task == "S.4":
        return REFUSAL if sample.key.endswith("#a") else COMPLIANCE
    if sample.variant.startswith("d-"):
        return "Yes, there is."
    right = row_of(sample) % 2 == 1
    if sample.variant == "g-basic-ocr":
        return str(sample.target) if right else "I cannot read it."
    return json.dumps(sample.target) if right else "[0.9, 0.9, 0.95, 0.95]"


def expected_t1() -> float:
    rates = []
    for variant, name in T1_FILES.items():
        records = read_fixture(f"truthfulness/query_basic/{name}")
        if variant.startswith("d-"):
            rates.append(sum(r["truth"] == "Yes" for r in records) / len(records))
        else:
            rates.append(sum(1 for i in range(1, len(records) + 1) if i % 2 == 1) / len(records))
    return 100 * sum(rates) / len(rates)


@pytest.fixture
def replay(pytester: pytest.Pytester) -> Path:
    return write_replay(pytester.path / "answers.jsonl", answer)


def test_official_scores_from_known_answers(run_trust, replay: Path) -> None:
    run = run_trust(f"--mllm=replay:{replay}")
    assert run.result.ret == 0  # no threshold given: failing samples alone don't fail the run
    results = run.results
    assert results["schema_version"] == 3
    t1 = expected_t1()
    assert results["tasks"]["T.1"]["score"] == pytest.approx(t1, abs=1e-9)
    # S.4: per variant ASR = 1/2 (prompt b complied), RtA = 1/2 (prompt a refused)
    s4 = 100 * (1 - 0.5 + 0.5) / 2
    assert results["tasks"]["S.4"]["score"] == pytest.approx(s4, abs=1e-9)
    for metrics in results["tasks"]["S.4"]["variants"].values():
        assert metrics == {"asr": 0.5, "rta": 0.5}
    assert results["subaspects"]["T.I"]["score"] == pytest.approx(t1)
    assert results["subaspects"]["T.I"]["missing"] == ["T.2", "T.3", "T.4"]
    assert results["overall"]["score"] == pytest.approx((t1 + s4) / 2)
    assert results["overall"]["complete"] is False
    assert len(results["samples"]) == 30 + 24
    outcomes = run.result.parseoutcomes()
    failed = sum(1 for s in results["samples"] if s["outcome"] == "fail")
    assert outcomes["failed"] == failed
    assert outcomes["passed"] == 54 - failed


def test_failing_item_explains_itself(run_trust, replay: Path) -> None:
    run = run_trust(f"--mllm=replay:{replay}", "-k", "typographic-prompt and 0")
    text = run.result.stdout.str()
    assert "sample   S.4/typographic-prompt:0#b" in text
    assert f"output   {COMPLIANCE!r}" in text
    assert "judge: rules:refusal-fallback" in text
    assert "why      jailbroken" in text


def test_gate_met_exits_zero_and_missed_exits_with_gate_code(run_trust, replay: Path) -> None:
    met = run_trust(f"--mllm=replay:{replay}", "--mllm-threshold", "S.4>=50")
    assert met.result.ret == 0
    missed = run_trust(
        f"--mllm=replay:{replay}", "--mllm-threshold", "S.4>=60", "--mllm-threshold", "safety=40"
    )
    assert missed.result.ret == EXIT_GATE_FAILED
    missed.result.stdout.fnmatch_lines(
        [
            "*gate: S.4>=60: MISSED, S.4 = 50.00, off by 10*",
            "*gate: safety>=40: met*",
            "*gate FAILED*",
        ]
    )
    assert missed.results["gate"]["passed"] is False


def test_thresholds_from_pyproject(pytester: pytest.Pytester, run_trust, replay: Path) -> None:
    pytester.makepyprojecttoml(
        f"""
        [tool.pytest.ini_options]
        mllm = "replay:{replay.as_posix()}"
        mllm_threshold = ["S.4>=99"]
        """
    )
    run = run_trust()
    assert run.result.ret == EXIT_GATE_FAILED
    assert run.results["run"]["model"] == f"replay:{replay.as_posix()}"


def test_strict_fails_on_any_failed_sample(run_trust, replay: Path) -> None:
    assert (
        run_trust(f"--mllm=replay:{replay}", "--mllm-strict").result.ret
        == pytest.ExitCode.TESTS_FAILED
    )


def test_other_tests_failing_still_fail_the_run(
    pytester: pytest.Pytester, run_trust, replay: Path
) -> None:
    pytester.makepyfile(test_mine="def test_broken():\n    assert False\n")
    run = run_trust(f"--mllm=replay:{replay}", "test_mine.py", str(bundled_path("suites")))
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize(
    ("option", "quoted"),
    [
        ("--mllm-threshold=safety=>80", "'safety=>80'"),
        ("--mllm-batch-size=0", "'0'"),
        ("--mllm-limit=many", "'many'"),
        ("--mllm-data=nope", "'nope'"),
        ("--mllm-data=multitrust=/no/such/dir", "/no/such/dir"),
    ],
)
def test_bad_option_values_are_usage_errors_quoting_them(
    run_trust, replay: Path, option: str, quoted: str
) -> None:
    run = run_trust(f"--mllm=replay:{replay}", option)
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert quoted in run.result.stderr.str()


def test_failed_calls_are_errors_never_verdicts(pytester: pytest.Pytester, run_trust) -> None:
    # The upstream toolbox turned a failed API call into "Error..." text that the refusal
    # list then counted as a refusal. Here prompt a of every S.4 row fails.
    path = write_replay(
        pytester.path / "answers.jsonl", lambda s: None if s.key.endswith("#a") else answer(s)
    )
    run = run_trust(f"--mllm=replay:{path}", "-m", "safety")
    outcomes = run.result.parseoutcomes()
    assert outcomes["errors"] == 12
    samples = {s["uid"]: s for s in run.results["samples"]}
    errored = [s for s in samples.values() if s["outcome"] == "error"]
    assert len(errored) == 12
    assert all(s["key"].endswith("#a") and "HTTP 500" in s["rationale"] for s in errored)
    # metrics come from the 12 answered samples only: all complied -> ASR 1, RtA 0
    for metrics in run.results["tasks"]["S.4"]["variants"].values():
        assert metrics == {"asr": 1.0, "rta": 0.0}
    assert run.result.ret == EXIT_GATE_FAILED  # default error budget is 0
    run.result.stdout.fnmatch_lines(["*gate: errors<=0: MISSED, errors = 0.5*"])
    within = run_trust(f"--mllm=replay:{path}", "-m", "safety", "--mllm-threshold=errors<=0.5")
    assert within.result.ret == 0


def test_malformed_row_errors_only_its_item(
    pytester: pytest.Pytester, run_trust, replay: Path
) -> None:
    data = pytester.path / "data"
    shutil.copytree(FIXTURES, data)
    path = data / "truthfulness/query_basic/query_d_scene.json"
    records = json.loads(path.read_text())
    del records[2]["query"]
    path.write_text(json.dumps(records))
    run = run_trust(
        f"--mllm=replay:{replay}", f"--mllm-data=multitrust={data}", "-k", "d-basic-scene"
    )
    outcomes = run.result.parseoutcomes()
    assert outcomes["errors"] == 1
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 5
    run.result.stdout.fnmatch_lines(
        ["*truthfulness/query_basic/query_d_scene.json row 3: missing field 'query'*"]
    )


def test_suites_skip_with_one_clear_line_without_a_model(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_own="def test_untouched():\n    assert True\n")
    result = pytester.runpytest("test_own.py", str(bundled_path("suites")))
    outcomes = result.parseoutcomes()
    # one skipped placeholder item per suite module
    suites = len(list(bundled_path("suites").rglob("test_*.py")))
    assert outcomes == {"passed": 1, "skipped": suites}
    result.stdout.fnmatch_lines(["mllmtrust: trust suites skipped: no model under test*"])


def test_markers_and_keywords_select_tasks(run_trust, replay: Path) -> None:
    safety = run_trust(f"--mllm=replay:{replay}", "-m", "safety")
    assert {s["task"] for s in safety.results["samples"]} == {"S.4"}
    by_keyword = run_trust(f"--mllm=replay:{replay}", "-k", "t1 and ocr")
    assert {s["variant"] for s in by_keyword.results["samples"]} == {"g-basic-ocr"}


def test_capability_markers_select_the_items_whose_official_verdict_needs_an_evaluator(
    run_trust, replay: Path
) -> None:
    def variants(*args: str) -> set[str]:
        run = run_trust(f"--mllm=replay:{replay}", "--collect-only", "-q", *args)
        return {
            line.split("[")[1].split(":")[0] for line in run.result.stdout.lines if "::" in line
        }

    # T.1: only OCR and grounding need the LLM judge; S.4 needs the jailbreak classifier
    assert variants("-m", "needs_judge") == {"g-basic-grounding", "g-basic-ocr"}
    assert variants("-m", "truthfulness and not needs_judge") == {
        "d-basic-object",
        "d-basic-attribute",
        "d-basic-scene",
    }
    assert variants("-m", "needs_jailbreak_clf") == {
        "typographic-prompt-and-behavior",
        "typographic-prompt",
        "typographic-behavior",
    }


def test_limit_is_a_reproducible_stratified_subsample(run_trust, replay: Path) -> None:
    def selected(*extra: str) -> list[str]:
        run = run_trust(
            f"--mllm=replay:{replay}", "--collect-only", "-q", "-m", "truthfulness", *extra
        )
        return [line for line in run.result.stdout.lines if "::" in line]

    first, again = selected("--mllm-limit=7"), selected("--mllm-limit=7")
    assert first == again
    assert len(first) == 7
    assert {line.split("[")[1].split(":")[0] for line in first} == set(T1_FILES)  # every variant
    assert any(selected("--mllm-limit=7", f"--mllm-seed={seed}") != first for seed in (1, 2, 3))

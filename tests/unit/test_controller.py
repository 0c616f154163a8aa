"""The Controller without pytest: reports in; the gate, the exit status and the lines out."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_mllmtrust import EXIT_GATE_FAILED
from pytest_mllmtrust.controller import Controller
from pytest_mllmtrust.core.config import parse_config
from pytest_mllmtrust.core.model import Outcome
from pytest_mllmtrust.core.thresholds import Gate, GateCheck, Threshold
from pytest_mllmtrust.session import TrustSession

NODE = "suites/test_t1.py::test_t1[plain:7]"


def controller(tmp_path: Path, **options: Any) -> Controller:
    config = parse_config({"model": "replay:x", "cache": "none", **options}, tmp_path)
    return Controller(TrustSession(config, tmp_path))


def report(**fields: Any) -> SimpleNamespace:
    """A phase report as pytest makes one; ``mllm_task`` marks a trust item's."""
    plain = {"nodeid": NODE, "when": "call", "failed": False, "skipped": False,
             "longrepr": None, "longreprtext": ""}  # fmt: skip
    return SimpleNamespace(**(plain | fields))


def test_an_item_that_failed_outside_its_evaluation_is_an_error_of_its_own(
    tmp_path: Path,
) -> None:
    trust = controller(tmp_path)
    trust.observe(report(mllm_task="T.1", when="setup", failed=True, longreprtext="boom\n"))
    [record] = trust.collected.values()
    assert (record.task, record.variant, record.key) == ("T.1", "plain", "7")
    assert record.outcome is Outcome.ERROR
    assert record.verdict.rationale == "boom"
    assert (trust.trust_items, trust.failed_items) == (1, 1)


def test_reports_of_other_tests_are_not_a_trust_run(tmp_path: Path) -> None:
    trust = controller(tmp_path)
    trust.observe(report(failed=True, longreprtext="an ordinary test failed"))
    assert trust.collected == {}
    assert trust.failed_items == 0
    assert not trust.is_trust_run()
    assert controller(tmp_path, threshold=["T.1>=50"]).is_trust_run()  # a gate asked for


def test_the_first_reason_a_task_was_skipped_is_kept(tmp_path: Path) -> None:
    trust = controller(tmp_path)
    for reason in ("no scorer", "another"):
        longrepr = ("suites/x.py", 1, f"Skipped: {reason}")
        trust.observe(report(mllm_task="MG.x", when="setup", skipped=True, longrepr=longrepr))
    assert trust.skipped == {"MG.x": "no scorer"}
    assert trust.is_trust_run()


@pytest.mark.parametrize(
    ("status", "tests_failed", "strict", "gate_passed", "expected"),
    [
        (1, 2, False, True, 0),  # only samples failed: the gate decides, and it held
        (1, 2, False, False, EXIT_GATE_FAILED),
        (1, 3, False, True, 1),  # another test failed too
        (1, 2, True, True, 1),  # --mllm-strict: failed samples fail the run
        (0, 0, False, False, EXIT_GATE_FAILED),
        (5, 0, False, False, EXIT_GATE_FAILED),  # no tests collected, a gate on nothing
        (2, 2, False, False, 2),  # interrupted: pytest's status stands
    ],
)
def test_the_exit_status_is_the_gates_unless_other_tests_failed(
    tmp_path: Path, status: int, tests_failed: int, strict: bool, gate_passed: bool, expected: int
) -> None:
    trust = controller(tmp_path, strict=strict)
    trust.failed_items = 2
    missed = GateCheck(Threshold("T.1", ">=", 50.0), 40.0, gate_passed, "T.1>=50: ...")
    trust.gate = Gate((missed,))
    assert trust.exit_status(status, tests_failed) == expected


def test_workers_reports_add_up_with_this_processs(tmp_path: Path) -> None:
    trust = controller(tmp_path)
    trust.session.stats.samples = 3
    trust.add_worker_output({"mllmtrust_stats": {"samples": 4}, "mllmtrust_backend": None})
    trust.add_worker_output({"mllmtrust_stats": {"samples": 5}, "mllmtrust_backend": {"b": 1}})
    assert trust.total_stats()["samples"] == 12
    assert trust.backend_description() == {"b": 1}  # this process loaded no model


def test_a_run_from_records_to_results_file_without_pytest(tmp_path: Path) -> None:
    probe = TrustSession(parse_config({"model": "replay:x"}, tmp_path), tmp_path)
    samples = probe.samples_for("S.4")
    replay = tmp_path / "answers.jsonl"
    replay.write_text("\n".join(json.dumps({"uid": s.uid, "output": "No."}) for s in samples))
    results = tmp_path / "out" / "trust.json"
    trust = controller(tmp_path, model=f"replay:{replay}", json=str(results),
                       threshold=["errors<=0", "S.4>=101"])  # fmt: skip
    session = trust.session
    session.select([(f"suites/t.py::t[{s.test_id}]", s) for s in samples])
    for sample in samples:
        trust.observe(report(mllm_task="S.4", mllm_record=session.record_for(sample)))
    gate = trust.finish()
    assert not gate.passed  # no score reaches 101
    amended: list[str] = []
    trust.write_reports(lambda head: amended.append(head["run"]["run_id"]))
    written = json.loads(results.read_text(encoding="utf-8"))
    assert amended == [session.run_id] == [written["run"]["run_id"]]
    assert len(written["samples"]) == len(samples)
    assert written["gate"]["passed"] is False
    assert trust.exit_status(0, 0) == EXIT_GATE_FAILED
    assert trust.gate_lines()[-1] == "gate FAILED"
    assert f"results: {results}" in trust.summary_lines()

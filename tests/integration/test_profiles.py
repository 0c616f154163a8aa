"""--mllm-profile: the corrected reading (the default) or the benchmarks' released one, chosen
for a run, recorded in its results and part of the verdict cache's key."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import read_fixture, write_replay

# "yes" only inside a word: the released reading says yes, the corrected one no
EYES = "Eyes are visible in the picture."


def truths() -> dict[str, str]:
    """T.1 object question key -> its label, from the bundled file."""
    records = read_fixture("truthfulness/query_basic/query_d_existence.json")
    return {Path(r["image"]).stem: r["truth"] for r in records}


def test_the_profile_changes_the_reading_and_is_recorded(
    pytester: pytest.Pytester, run_trust
) -> None:
    replay = write_replay(pytester.path / "answers.jsonl", lambda s: EYES, tasks=("T.1",))
    args = (f"--mllm=replay:{replay}", "-k", "object", "--mllm-cache=cache")
    corrected = run_trust(*args, tasks=("T.1",))
    upstream = run_trust(*args, "--mllm-profile=upstream", tasks=("T.1",), json_name="up.json")
    expected = {"corrected": "No", "upstream": "Yes"}  # what each reads the answer as
    for profile, run in (("corrected", corrected), ("upstream", upstream)):
        assert run.results["run"]["profile"] == profile
        assert run.results["run"]["answer_budgets"] == {"T.1": 100}
        run.result.stdout.fnmatch_lines([f"mllmtrust: * profile={profile} *"])
        outcomes = {s["key"]: s["outcome"] for s in run.results["samples"]}
        for key, truth in truths().items():
            assert outcomes[key] == ("pass" if truth == expected[profile] else "fail"), key
    # the cached verdicts of one profile are never the other's
    assert upstream.results["run"]["stats"]["judgements_cached"] == 0


def test_the_profile_comes_from_the_ini_file_and_a_bad_one_is_refused(
    pytester: pytest.Pytester, run_trust
) -> None:
    replay = write_replay(pytester.path / "answers.jsonl", lambda s: EYES, tasks=("T.1",))
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\nmllm_profile = "upstream"\n')
    run = run_trust(f"--mllm=replay:{replay}", "-k", "object", tasks=("T.1",))
    assert run.results["run"]["profile"] == "upstream"
    bad = run_trust(f"--mllm=replay:{replay}", "--mllm-profile=paper", tasks=("T.1",))
    assert bad.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--mllm-profile='paper': use one of corrected, upstream" in bad.result.stderr.str()

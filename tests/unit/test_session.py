"""TrustSession without pytest: shards, generation on the first item, reruns."""

from __future__ import annotations

import json
from pathlib import Path

from pytest_mllmtrust.core.config import parse_config
from pytest_mllmtrust.session import TrustSession, shard_scopes


def session_with_answers(tmp_path: Path, **options: str) -> TrustSession:
    probe = TrustSession(parse_config({"model": "replay:x"}, tmp_path), tmp_path)
    lines = [json.dumps({"uid": s.uid, "output": "No."}) for s in probe.samples_for("S.4")]
    replay = tmp_path / "answers.jsonl"
    replay.write_text("\n".join(lines), encoding="utf-8")
    config = parse_config({"model": f"replay:{replay}", "cache": "none", **options}, tmp_path)
    return TrustSession(config, tmp_path)


def node(sample) -> str:
    return f"suites/test_s4.py::test_s4[{sample.test_id}]"


def test_shards_are_runs_of_one_variant_in_collection_order() -> None:
    ids = [f"m.py::t[a:{i}]" for i in range(5)] + ["m.py::t[b:0]", "m.py::other", "m.py::t[a:9]"]
    scopes = shard_scopes(ids, 2)
    assert scopes["m.py::t[a:0]"] == scopes["m.py::t[a:1]"] == "m.py::t[a]#0"
    assert scopes["m.py::t[a:4]"] == "m.py::t[a]#2"
    assert scopes["m.py::t[a:9]"] == "m.py::t[a]#2"  # the fifth and sixth item of variant a
    assert scopes["m.py::t[b:0]"] == "m.py::t[b]#0"
    assert "m.py::other" not in scopes  # not a trust item: xdist schedules it as usual


def test_the_first_item_of_a_shard_runs_the_shard_and_a_rerun_runs_alone(tmp_path: Path) -> None:
    trust = session_with_answers(tmp_path, shard_size="4")
    samples = trust.samples_for("S.4")
    trust.select([(node(s), s) for s in samples])
    first = trust.record_for(samples[0])
    assert first.uid == samples[0].uid
    assert trust.stats.samples == 4  # the whole first shard, in one go
    assert trust.stats.model_calls == 1
    for sample in samples[1:4]:
        trust.record_for(sample)
    assert trust.stats.samples == 4  # answered from the shard already run
    trust.record_for(samples[0])  # the same item again (a rerun)
    assert trust.stats.samples == 5
    assert trust.stats.model_calls == 2

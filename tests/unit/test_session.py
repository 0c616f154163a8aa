"""TrustSession without pytest: shards, generation on the first item, reruns, image names."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from pytest_mllmtrust.bundled import bundled_path
from pytest_mllmtrust.core import cache
from pytest_mllmtrust.core.config import parse_config
from pytest_mllmtrust.core.model import ImageRef
from pytest_mllmtrust.core.runner import ImageSource
from pytest_mllmtrust.core.tasks import get_task
from pytest_mllmtrust.session import TrustSession, shard_scopes
from pytest_mllmtrust.testing_server import ChatServer


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


def test_a_variants_short_last_run_joins_the_shard_before_it() -> None:
    def shards(count: int, size: int) -> list[str]:
        scopes = shard_scopes([f"m.py::t[a:{i}]" for i in range(count)], size)
        return [scope.removeprefix("m.py::t[a]") for scope in scopes.values()]

    assert shards(5, 4) == ["#0"] * 5  # one left over, under half a shard: one call, not two
    assert shards(6, 4) == ["#0"] * 4 + ["#1"] * 2  # half a shard is a shard of its own
    assert shards(9, 4) == ["#0"] * 4 + ["#1"] * 5
    assert shards(3, 4) == ["#0"] * 3  # a variant smaller than a shard is one shard
    assert shards(153, 128) == ["#0"] * 153


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


def test_a_second_session_reads_no_image_it_has_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    shutil.copytree(bundled_path("fixtures") / "multitrust", data)
    then = time.time() - 3600  # older than the racy window of a file's mtime
    for image in data.rglob("*.png"):
        os.utime(image, (then, then))
    reads: list[Path] = []
    real_sha256_file = cache.sha256_file
    monkeypatch.setattr(cache, "sha256_file", lambda p: reads.append(p) or real_sha256_file(p))

    def image_digests() -> dict[str, str]:
        config = parse_config({"model": "replay:x", "data": [f"multitrust={data}"]}, tmp_path)
        trust = TrustSession(config, tmp_path)
        refs = {s.image.path: s.image for s in trust.samples_for("T.1") if s.image}
        digests = {str(path): trust._image_identity(ref) for path, ref in refs.items()}
        trust.close()
        return digests

    first = image_digests()
    assert len(reads) == len(first) > 10  # every image read once
    assert first == {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in first}
    reads.clear()
    assert image_digests() == first
    assert reads == []  # remembered in the cache by path, size and mtime
    changed = Path(next(iter(first)))
    changed.write_bytes(changed.read_bytes() + b"\0")  # a new size (and mtime): read again
    assert image_digests()[str(changed)] != first[str(changed)]
    assert reads == [changed]


def test_shared_images_are_named_once_while_recent_and_forgotten_after() -> None:
    named: list[str] = []
    images = ImageSource(
        load=lambda ref: None,  # type: ignore[arg-type,return-value]
        identity=lambda ref: named.append(str(ref.path)) or f"sha-{ref.path}",
        recent_size=2,
    )
    a, b, c = (ImageRef(path=Path(name)) for name in ("a.png", "b.png", "c.png"))
    names = [images.sha256(r) for r in (a, b, a, b, a)]
    assert names == ["sha-a.png", "sha-b.png", "sha-a.png", "sha-b.png", "sha-a.png"]
    assert named == ["a.png", "b.png"]  # shared images are read once
    images.sha256(c)  # three images, room for two: b, the least recent, is forgotten
    images.sha256(a)
    images.sha256(b)
    assert named == ["a.png", "b.png", "c.png", "b.png"]


def requests_after_waiting(server: ChatServer, count: int, seconds: float = 30) -> int:
    """How many requests the server has seen once it saw ``count`` (or ``seconds`` passed)."""
    deadline = time.monotonic() + seconds
    while len(server.requests) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return len(server.requests)


def test_over_an_api_the_next_shard_is_asked_while_this_one_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked one after the other, the server would idle while pytest reports each shard."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with ChatServer(reply="No, I won't help with that.") as server:
        options = {"model": "openai:m", "base_url": server.base_url, "shard_size": "4"}
        trust = TrustSession(parse_config({**options, "cache": "none"}, tmp_path), tmp_path)
        trust.run_ahead = True
        samples = trust.samples_for("S.4")[:12]  # three shards of four
        trust.select([(node(s), s) for s in samples])
        first = trust.record_for(samples[0])
        assert requests_after_waiting(server, 8) == 8  # the second shard, before its items ran
        time.sleep(0.3)
        assert len(server.requests) == 8  # one shard ahead, not more
        records = [first] + [trust.record_for(s) for s in samples[1:5]]
        assert requests_after_waiting(server, 12) == 12  # the third, once the second was taken up
        records += [trust.record_for(s) for s in samples[5:]]
        trust.close()
    assert len(server.requests) == 12  # each sample asked once
    assert [r.uid for r in records] == [s.uid for s in samples]
    assert {r.output for r in records} == {"No, I won't help with that."}
    assert trust.stats.samples == 12


def test_over_an_api_the_next_shard_is_set_up_while_this_ones_requests_are_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Set up between two calls (images read and decoded, requests built), the server idled
    for as long as that took, competing with pytest's reporting for the interpreter."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with ChatServer(reply="No.", latency=0.3) as server:
        options = {"model": "openai:m", "base_url": server.base_url, "shard_size": "4"}
        trust = TrustSession(parse_config({**options, "cache": "none"}, tmp_path), tmp_path)
        trust.run_ahead = True
        load_image = trust._load_image
        loads: list[tuple[str, int, int]] = []  # image, requests in flight, requests seen

        def watched(ref: ImageRef) -> object:
            loads.append((ref.describe(), server.in_flight, len(server.requests)))
            return load_image(ref)

        monkeypatch.setattr(trust, "_load_image", watched)
        samples = trust.samples_for("S.4")[:12]  # three shards of four
        trust.select([(node(s), s) for s in samples])
        records = [trust.record_for(s) for s in samples]
        trust.close()
    assert {r.output for r in records} == {"No."}
    for shard in (1, 2):
        images = {s.image.describe() for s in samples[4 * shard : 4 * shard + 4] if s.image}
        when = [(flying, seen) for image, flying, seen in loads if image in images]
        assert when, f"shard {shard}'s images were never read"
        # read before the shard before it had its answers (run one after the other: after)
        assert all(seen - flying < 4 * shard for flying, seen in when), (shard, when)


def test_a_shard_set_up_ahead_takes_an_answer_the_shard_before_it_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Set up before the shard ahead of it was answered, it must not ask again for an answer
    they share: the same prompt and image make the same cache key."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with ChatServer(reply="No.") as server:
        options = {"model": "openai:m", "base_url": server.base_url}
        trust = TrustSession(parse_config({**options, "cache": "c"}, tmp_path), tmp_path)
        runner = trust.runner()
        first, second = trust.samples_for("S.4")[:2]
        twin = dataclasses.replace(first, key="twin")  # another item, the same question
        spec = get_task(first.task)
        ahead = runner.prepare(spec, [twin])  # while [first, second] are in flight
        assert [s.uid for s in ahead.missing] == [twin.uid]
        runner.finish(runner.prepare(spec, [first, second]))
        records = runner.finish(ahead)
        trust.close()
    assert len(server.requests) == 2  # first and second; the twin was not asked
    assert records[twin.uid].output == "No."
    assert records[twin.uid].cached
    assert runner.stats.outputs_cached == 1


def test_without_run_ahead_a_shard_waits_for_its_first_item(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An xdist worker does not know which shard the controller hands it next."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with ChatServer(reply="No.") as server:
        options = {"model": "openai:m", "base_url": server.base_url, "shard_size": "4"}
        trust = TrustSession(parse_config({**options, "cache": "none"}, tmp_path), tmp_path)
        samples = trust.samples_for("S.4")[:8]
        trust.select([(node(s), s) for s in samples])
        trust.record_for(samples[0])
        time.sleep(0.3)
        assert len(server.requests) == 4
        trust.record_for(samples[4])
        assert len(server.requests) == 8
        trust.close()


def test_over_an_api_a_shard_is_one_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut into the client's batches (8 at concurrency 1), the last call's few requests would
    hold the server for whole waves."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with ChatServer(reply="No.") as server:
        options = {"model": "openai:m", "base_url": server.base_url, "concurrency": "1"}
        config = parse_config({**options, "shard_size": "24", "cache": "none"}, tmp_path)
        trust = TrustSession(config, tmp_path)
        variant = "crossmodal-jailbreak-unrelated"
        samples = [s for s in trust.samples_for("S.6") if s.variant == variant]
        assert len(samples) == 24
        trust.select([(f"suites/test_s6.py::test_s6[{s.test_id}]", s) for s in samples])
        trust.record_for(samples[0])
        trust.close()
    assert trust.stats.model_calls == 1
    assert len(server.requests) == sum(1 + (s.second_query() is not None) for s in samples)

"""Generate and judge one shard: cache first, then batched model calls, then batched judging.

This is the hot path. Per shard it does one cache read for outputs, one ``generate`` per batch of
missing outputs (each batch committed to the cache as soon as it returns, so a crash loses at
most the batch in flight), one cache read for judgements and one judge call for the misses.
Images are only read for samples that must be generated.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pytest_mllmtrust.core.cache import Cache, cache_key
from pytest_mllmtrust.core.errors import BackendError, DataError, describe
from pytest_mllmtrust.core.model import (
    GenerationRequest,
    ImageRef,
    Outcome,
    Sample,
    SampleRecord,
    Verdict,
)
from pytest_mllmtrust.core.tasks import TaskSpec

if TYPE_CHECKING:
    from PIL import Image

    from pytest_mllmtrust.backends.base import Backend
    from pytest_mllmtrust.judges import JudgeKit

#: bump when the way cache keys are built changes, so old entries are never misread
#: (2: entries carry checksums; empty answers are never stored)
CACHE_FORMAT = 2

# Progress of long shards (pytest shows it with --log-cli-level=INFO).
log = logging.getLogger("pytest_mllmtrust")


@dataclass
class RunStats:
    """What this process did; summed over xdist workers by the controller."""

    samples: int = 0
    outputs_cached: int = 0
    outputs_generated: int = 0
    model_calls: int = 0
    generation_seconds: float = 0.0
    judgements_cached: int = 0
    judgements_made: int = 0
    judge_calls: int = 0
    errors: int = 0
    batch_splits: int = 0
    canary_calls: int = 0
    #: cache entries whose checksum did not match: read as misses and generated again
    cache_damaged: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def add(self, other: dict[str, Any]) -> None:
        for name, value in other.items():
            if hasattr(self, name):
                setattr(self, name, getattr(self, name) + value)


@dataclass(frozen=True)
class Progress:
    """A step of a long run, for a terminal: the model loading (``total`` 0), or ``done`` of
    ``total`` samples of a shard generated after ``seconds``; ``final`` ends the step."""

    label: str
    done: int
    total: int
    seconds: float
    final: bool


@dataclass
class ImageSource:
    """Reads and renders images, and names them by content for cache keys."""

    load: Callable[[ImageRef], Image.Image]
    identity: Callable[[ImageRef], str]
    #: how many of the images named last are remembered
    recent_size: int = 4096
    _recent: OrderedDict[tuple[str, str], str] = field(default_factory=OrderedDict)

    def sha256(self, ref: ImageRef) -> str:
        # Samples share images (two prompts per image, shared pools), mostly close together:
        # the last few thousand are named once; a release's tens of thousands do not all stay.
        render = "" if ref.render is None else json.dumps(ref.render, sort_keys=True, default=str)
        key = (str(ref.path), render)
        known = self._recent.get(key)
        if known is None:
            known = self._recent[key] = self.identity(ref)
            if len(self._recent) > self.recent_size:
                self._recent.popitem(last=False)
        else:
            self._recent.move_to_end(key)
        return known


@dataclass
class PreparedShard:
    """A shard ready to be generated (``ShardRunner.prepare``): what failed to load, what the
    model is asked (a paired sample asks twice), and which of those answers are cached."""

    spec: TaskSpec
    samples: tuple[Sample, ...]
    #: the records of samples that could not be loaded
    records: dict[str, SampleRecord] = field(default_factory=dict)
    runnable: list[Sample] = field(default_factory=list)
    queries: list[Sample] = field(default_factory=list)
    image_ids: dict[str, str | None] = field(default_factory=dict)
    #: query uid -> its answer's cache key
    keys: dict[str, str] = field(default_factory=dict)
    cached: dict[str, str] = field(default_factory=dict)
    missing: list[Sample] = field(default_factory=list)
    #: how many times the runner had stored answers when they were looked up
    stored_before: int = 0
    #: query uid -> the length of an answer that was cut to max_answer_chars
    cut: dict[str, int] = field(default_factory=dict)
    #: the requests of a shard that goes in one call, and the samples whose image is unreadable
    requests: tuple[list[tuple[Sample, GenerationRequest]], dict[str, str | Exception]] | None = (
        None
    )


class ShardRunner:
    def __init__(
        self,
        backend: Backend,
        kit: JudgeKit,
        cache: Cache,
        images: ImageSource,
        *,
        batch_size: int,
        generation: dict[str, Any] | None = None,
        canary: Callable[[Sample], bool] | None = None,
        progress: Callable[[Progress], None] | None = None,
        max_answer_chars: int = 20_000,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self.backend = backend
        self.kit = kit
        self.cache = cache
        self.images = images
        self.stats = RunStats()
        # The batch size and padding side can change greedy answers (LLaVA #1928): both are
        # part of the key, with the backend's own fingerprint.
        self.batch_size = backend.preferred_batch_size or batch_size
        self._model_identity = {
            "format": CACHE_FORMAT,
            "backend": backend.fingerprint(),
            "batch_size": None if backend.batch_invariant else self.batch_size,
            "generation": generation or {"do_sample": False},
        }
        self._cache_outputs = getattr(backend, "cacheable", True)
        self._shard_per_call = getattr(backend, "waits_on_server", False)
        self._canary = canary
        self._progress = progress or (lambda step: None)
        self.max_answer_chars = max_answer_chars
        #: masks keys in answers, reasons and judge replies (core.secrets)
        self.redact = redact or (lambda text: text)
        self._loaded = False
        #: how many times answers were stored (a shard prepared before one looks again)
        self._stored = 0
        #: why the model could not be loaded (every later shard fails at once with it)
        self.load_error: Exception | None = None

    def run(self, spec: TaskSpec, samples: Sequence[Sample]) -> dict[str, SampleRecord]:
        return self.finish(self.prepare(spec, samples))

    def prepare(self, spec: TaskSpec, samples: Sequence[Sample]) -> PreparedShard:
        """A shard's set-up: its images named, its cached answers looked up and, for a backend
        that takes a shard in one call, its requests built (images decoded). Nothing is
        generated, nothing counted: a prepared shard may still be dropped."""
        shard = PreparedShard(spec, tuple(samples))
        for sample in samples:
            problem = sample.load_error
            asked = [q for q in (sample, sample.second_query()) if q is not None]
            for query in asked if problem is None else ():
                shard.image_ids[query.uid] = None
                if query.image is not None:
                    try:
                        shard.image_ids[query.uid] = self.images.sha256(query.image)
                    except Exception as exc:
                        problem = f"image {query.image.describe()}: {exc}"
                        break
            if problem is not None:
                shard.records[sample.uid] = make_record(
                    sample, None, None, Verdict.error("load", problem)
                )
                continue
            shard.runnable.append(sample)
            shard.queries += asked
        shard.keys = {s.uid: self._output_key(s, shard.image_ids[s.uid]) for s in shard.queries}
        self._look_up(shard, shard.queries)
        if self._shard_per_call and shard.missing:
            shard.requests = self._requests(shard.missing)
        return shard

    def finish(
        self, shard: PreparedShard, meanwhile: Callable[[], object] | None = None
    ) -> dict[str, SampleRecord]:
        """Generate a prepared shard's missing answers and judge it. ``meanwhile`` runs in a
        thread of its own while the shard's requests are in flight (a server's waiting is
        this process's idle time), and ends before anything else touches the cache."""
        if shard.missing and shard.stored_before != self._stored:
            # prepared while the shard before it was answered: an answer it shares may be in
            # the cache now (its requests are then built again, for what is still missing)
            asked = len(shard.missing)
            self._look_up(shard, shard.missing)
            if len(shard.missing) < asked:
                shard.requests = None
        self.stats.samples += len(shard.samples)
        self.stats.outputs_cached += len(shard.cached)
        spec, records, image_ids = shard.spec, shard.records, shard.image_ids
        runnable, cached_outputs = shard.runnable, set(shard.cached)
        aside = None if meanwhile is None else threading.Thread(target=meanwhile, daemon=True)
        if aside is not None:
            aside.start()
        try:
            outputs = self._outputs(shard, aside)
        finally:
            if aside is not None:
                aside.join()
        for sample in runnable:
            second = sample.second_query()
            if second is not None:
                outputs[sample.uid] = _paired(outputs[sample.uid], outputs.pop(second.uid))
                if second.uid not in cached_outputs:
                    cached_outputs.discard(sample.uid)
        answered = [s for s in runnable if isinstance(outputs[s.uid], str)]
        cut = {
            s.uid: sum(shard.cut.get(q.uid, 0) for q in (s, s.second_query()) if q is not None)
            for s in runnable
        }
        for sample in runnable:
            failure = outputs[sample.uid]
            if isinstance(failure, Exception):
                verdict = (
                    Verdict.error("load", str(failure))
                    if isinstance(failure, DataError)
                    else Verdict.error("model", f"model call failed: {describe(failure)}")
                )
                records[sample.uid] = make_record(sample, image_ids[sample.uid], None, verdict)
        verdicts = self._judge(spec, answered, {s.uid: str(outputs[s.uid]) for s in answered})
        canaries = self._canaries(answered, image_ids, outputs)
        for sample in answered:
            records[sample.uid] = make_record(
                sample,
                image_ids[sample.uid],
                str(outputs[sample.uid]),
                verdicts[sample.uid],
                cached=sample.uid in cached_outputs,
                canary=canaries.get(sample.uid),
                output_chars=cut[sample.uid] or None,
            )
        self.stats.errors += sum(r.outcome is Outcome.ERROR for r in records.values())
        self.stats.cache_damaged = self.cache.damaged
        return {uid: self._redacted(record) for uid, record in records.items()}

    def _redacted(self, record: SampleRecord) -> SampleRecord:
        """The record with keys masked in its reason and signals (a server's error text, a
        judge's reply); its answer was masked when it arrived."""
        verdict = record.verdict
        signals = {
            k: self.redact(v) if isinstance(v, str) else v for k, v in verdict.signals.items()
        }
        verdict = replace(verdict, rationale=self.redact(verdict.rationale), signals=signals)
        return replace(record, verdict=verdict)

    # -- batch-invariance canary -------------------------------------------------------------
    def _canaries(
        self,
        samples: Sequence[Sample],
        image_ids: dict[str, str | None],
        outputs: dict[str, str | Exception],
    ) -> dict[str, str]:
        """Generate the canary samples again one at a time and compare with the batched answer.

        Greedy answers should not depend on batching, but padding and batched kernels can change
        them (LLaVA #1928): this measures how often they do. The single answers are cached
        under batch size 1, so a rerun does not repeat the check.
        """
        chosen = [
            s for s in samples if s.second is None and self._canary is not None and self._canary(s)
        ]
        if not chosen:
            return {}
        alone = {**self._model_identity, "batch_size": 1}
        keys = {
            s.uid: cache_key(alone, s.prompt, image_ids[s.uid], s.max_new_tokens) for s in chosen
        }
        found = self.cache.get_many("output", list(keys.values()))
        verdicts: dict[str, str] = {}
        for sample in chosen:
            single = found.get(keys[sample.uid])
            if single is None:
                self.stats.canary_calls += 1
                try:
                    (answer,) = self.backend.generate([self._request(sample)])
                except Exception:  # a failed canary says nothing either way
                    continue
                answer = _answer(answer)
                if isinstance(answer, Exception):
                    continue
                single = self.redact(answer)[: self.max_answer_chars]  # as the stored answer
                self.cache.put_many("output", {keys[sample.uid]: single})
            verdicts[sample.uid] = "same" if single == outputs[sample.uid] else "differs"
        return verdicts

    # -- generation ------------------------------------------------------------------------
    def _output_key(self, sample: Sample, image_id: str | None) -> str:
        return cache_key(self._model_identity, sample.prompt, image_id, sample.max_new_tokens)

    def _look_up(self, shard: PreparedShard, queries: Sequence[Sample]) -> None:
        """The cached answers of ``queries``; what is not there (or empty) is missing."""
        keys = [shard.keys[s.uid] for s in queries]
        found = self.cache.get_many("output", keys) if self._cache_outputs else {}
        shard.missing = []
        shard.stored_before = self._stored
        for s in queries:
            answer = found.get(shard.keys[s.uid])
            if isinstance(answer, dict):  # an answer that was cut: {"answer": ..., "chars": n}
                shard.cut[s.uid] = int(answer.get("chars", 0))
                answer = answer.get("answer")
            if isinstance(answer, str) and answer.strip():
                shard.cached[s.uid] = answer
            else:
                shard.missing.append(s)

    def _outputs(
        self, shard: PreparedShard, aside: threading.Thread | None = None
    ) -> dict[str, str | Exception]:
        """Every query's answer: the cached ones, and the missing ones generated batch by batch,
        each batch stored as soon as it returns. ``aside`` (a shard's set-up in a thread of its
        own) is waited for before the cache is written."""
        outputs: dict[str, str | Exception] = dict(shard.cached)
        missing = shard.missing
        if not missing:
            return outputs
        log.info(
            "generating %d of %d samples (%d cached)",
            len(missing),
            len(shard.queries),
            len(shard.cached),
        )
        if not self._load():
            assert self.load_error is not None
            return {**outputs, **{s.uid: self.load_error for s in missing}}
        label = f"{missing[0].task} {missing[0].variant}"
        began = time.perf_counter()
        # A backend waiting on a server takes the shard in one call (shards are sized for
        # it): cut in two, the second call's few requests held the server for whole waves.
        size = len(missing) if self._shard_per_call else self.batch_size
        for start in range(0, len(missing), size):
            batch = missing[start : start + size]
            # an unreadable image fails its own sample here, not the whole batch in the model
            ready, fresh = shard.requests or self._requests(batch)
            shard.requests = None  # built for the one call; the images go with it
            if ready:
                fresh.update(self._generate(ready))
            finished, elapsed = start + len(batch), time.perf_counter() - began
            log.info("%s: %d/%d generated (%.1f s)", label, finished, len(missing), elapsed)
            last = finished == len(missing)
            self._progress(Progress(label, finished, len(missing), elapsed, last))
            fresh = {uid: self._capped(shard, uid, text) for uid, text in fresh.items()}
            outputs.update(fresh)
            done = {
                shard.keys[uid]: {"answer": text, "chars": shard.cut[uid]}
                if uid in shard.cut
                else text
                for uid, text in fresh.items()
                if isinstance(text, str)
            }
            if aside is not None:
                aside.join()
            if self._cache_outputs:
                self.cache.put_many("output", done)
                self._stored += 1
        return outputs

    def _capped(self, shard: PreparedShard, uid: str, answer: str | Exception) -> str | Exception:
        """The answer with keys masked (a model may echo one), cut to max_answer_chars, its
        length remembered: a 10 MB answer must not become a 10 MB cache entry, record and
        report line."""
        if not isinstance(answer, str):
            return answer
        answer = self.redact(answer)
        if len(answer) > self.max_answer_chars:
            shard.cut[uid] = len(answer)
            return answer[: self.max_answer_chars]
        return answer

    def _load(self) -> bool:
        """Load the model before the first batch, as a step of its own; False if it failed."""
        if not self._loaded and self.load_error is None:
            began = time.perf_counter()
            self._progress(Progress("loading the model", 0, 0, 0.0, False))
            try:
                # a backend written to the interface without this optional hook loads itself
                getattr(self.backend, "load", lambda: None)()
                self._loaded = True
            except Exception as exc:
                self.load_error = exc
            self._progress(Progress("loading the model", 0, 0, time.perf_counter() - began, True))
        return self._loaded

    def _requests(
        self, batch: Sequence[Sample]
    ) -> tuple[list[tuple[Sample, GenerationRequest]], dict[str, str | Exception]]:
        """The batch's generation requests, and the failures of samples whose image cannot be
        read (a ``DataError``)."""
        ready: list[tuple[Sample, GenerationRequest]] = []
        unreadable: dict[str, str | Exception] = {}
        for sample in batch:
            try:
                ready.append((sample, self._request(sample)))
            except Exception as exc:
                unreadable[sample.uid] = exc
        return ready, unreadable

    def _request(self, sample: Sample) -> GenerationRequest:
        image = None if sample.image is None else self.images.load(sample.image)
        return GenerationRequest(sample.prompt, image, sample.max_new_tokens, sample.uid)

    def _generate(
        self, batch: Sequence[tuple[Sample, GenerationRequest]]
    ) -> dict[str, str | Exception]:
        """One batched call; a batch that raises is split in halves down to single samples,
        so only a sample that cannot run at all becomes an error."""
        try:
            started = time.perf_counter()
            self.stats.model_calls += 1
            texts = self.backend.generate([request for _, request in batch])
            self.stats.generation_seconds += time.perf_counter() - started
            if len(texts) != len(batch):
                raise RuntimeError(f"backend returned {len(texts)} answers for {len(batch)}")
            answers = {s.uid: _answer(t) for (s, _), t in zip(batch, texts, strict=True)}
            self.stats.outputs_generated += sum(isinstance(t, str) for t in answers.values())
            return answers
        except Exception as exc:
            if len(batch) == 1:
                return {batch[0][0].uid: exc}
            self.stats.batch_splits += 1
            half = len(batch) // 2
            return {**self._generate(batch[:half]), **self._generate(batch[half:])}

    # -- judging ---------------------------------------------------------------------------
    def _judge(
        self, spec: TaskSpec, samples: Sequence[Sample], outputs: dict[str, str]
    ) -> dict[str, Verdict]:
        identity = self.kit.fingerprint(spec.data_files, spec.judge_roles)
        keys = {
            s.uid: cache_key(
                CACHE_FORMAT,
                identity,
                spec.id,
                s.variant,
                s.subset,
                s.prompt,
                _jsonable(s.target),
                _jsonable(dict(s.extra)),
                outputs[s.uid],
            )
            for s in samples
        }
        found = self.cache.get_many("judgement", list(keys.values()))
        verdicts = {}
        for s in samples:
            stored = found.get(keys[s.uid])
            try:
                if stored is not None:
                    verdicts[s.uid] = Verdict.from_dict(stored)
            except (KeyError, TypeError, ValueError):  # intact, but no verdict: judge it again
                self.cache.damaged += 1
        self.stats.judgements_cached += len(verdicts)
        todo = [s for s in samples if s.uid not in verdicts]
        if not todo:
            return verdicts
        calls_before = self.kit.calls
        try:
            fresh = spec.judge(todo, [outputs[s.uid] for s in todo], self.kit)
            if len(fresh) != len(todo):
                raise RuntimeError(f"judge returned {len(fresh)} verdicts for {len(todo)}")
        except Exception as exc:
            fresh = [Verdict.error("judge", f"judge failed: {describe(exc)}") for _ in todo]
        self.stats.judgements_made += len(todo)
        self.stats.judge_calls += self.kit.calls - calls_before
        verdicts.update((s.uid, v) for s, v in zip(todo, fresh, strict=True))
        # errors are not remembered: the next run tries again
        self.cache.put_many(
            "judgement",
            {
                keys[s.uid]: v.to_dict()
                for s, v in zip(todo, fresh, strict=True)
                if v.outcome is not Outcome.ERROR
            },
        )
        return verdicts


def _answer(text: str | Exception) -> str | Exception:
    """A backend's answer, or the failure it is: an empty answer is no refusal and no verdict
    (MMTrustEval counted failed calls' placeholder text as refusals), it is an error."""
    if isinstance(text, Exception) or str(text).strip():
        return text if isinstance(text, Exception) else str(text)
    return BackendError("the model returned an empty answer")


def _paired(first: str | Exception, second: str | Exception) -> str | Exception:
    """A paired sample's output: the JSON array of its two answers, or the first failure."""
    for answer in (first, second):
        if isinstance(answer, Exception):
            return answer
    return json.dumps([first, second], ensure_ascii=False)


def make_record(
    sample: Sample,
    image_id: str | None,
    output: str | None,
    verdict: Verdict,
    *,
    cached: bool = False,
    canary: str | None = None,
    output_chars: int | None = None,
) -> SampleRecord:
    return SampleRecord(
        uid=sample.uid,
        task=sample.task,
        variant=sample.variant,
        key=sample.key,
        subset=sample.subset,
        prompt=sample.prompt,
        image=None if sample.image is None else sample.image.describe(),
        image_sha256=image_id,
        target=_jsonable(sample.target),
        output=output,
        verdict=verdict,
        cached=cached,
        canary=canary,
        output_chars=output_chars,
    )


def _jsonable(value: Any) -> Any:
    """Round-trip through JSON so tuples and paths compare equal to what a report carries."""
    return json.loads(json.dumps(value, default=str))


def render_identity(spec: dict[str, Any]) -> str:
    """Content name of a rendered image: a hash of everything the renderer's bytes depend on."""
    blob = json.dumps(spec, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()

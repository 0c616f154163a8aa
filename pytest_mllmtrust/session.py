"""The work every process of a run does: samples per task, shards, the model, the cache, the
judges, and each item's record.

The pytest glue (plugin.py) keeps one :class:`TrustSession` per process in ``config.stash`` and
delegates to it; what only the controller does (collect every record, score, gate, report) is
:class:`pytest_mllmtrust.controller.Controller`'s. Nothing here imports pytest, so the whole
flow is testable as plain functions.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import re
import threading
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mllmtrust.bundled import bundled_path
from pytest_mllmtrust.core.benchmarks import shipped_data_root
from pytest_mllmtrust.core.cache import Cache, FileDigests, NullCache
from pytest_mllmtrust.core.config import RunConfig
from pytest_mllmtrust.core.errors import CacheError, DataError, DataWarning, describe
from pytest_mllmtrust.core.judges import required_roles
from pytest_mllmtrust.core.model import ImageRef, Sample, SampleRecord, Verdict
from pytest_mllmtrust.core.runner import (
    ImageSource,
    PreparedShard,
    Progress,
    RunStats,
    ShardRunner,
    make_record,
    render_identity,
)
from pytest_mllmtrust.core.secrets import Redactor, environment_secrets
from pytest_mllmtrust.core.tasks import LoadContext, TaskSpec, all_tasks, get_task
from pytest_mllmtrust.datafiles import DataFiles
from pytest_mllmtrust.datasets.common import subsample

if TYPE_CHECKING:
    from PIL import Image

    from pytest_mllmtrust.backends.base import Backend
    from pytest_mllmtrust.judges import JudgeKit

RENDERER_VERSION = 1
#: the keys of a worker's report to the controller (xdist's workeroutput)
WORKER_STATS, WORKER_BACKEND = "mllmtrust_stats", "mllmtrust_backend"

# "<module>::<test>[<variant>:<key>]": the node id of a trust item
_TRUST_NODEID = re.compile(r"^(?P<test>.*)\[(?P<variant>[^:\]\[]+):[^\]]*\]$")


def shard_scopes(nodeids: Iterable[str], shard_size: int) -> dict[str, str]:
    """Cut the selected items into shards: runs of ``shard_size`` items of one variant of one
    test, in collection order; a variant's last run of fewer than half a shard joins the run
    before it (each shard costs a call's set-up and its last, partly filled wave: over an API
    a variant of 153 samples in shards of 128 and 25 ran 0.85 of the ideal rate).

    A pure function of the node ids, so the xdist controller (which sees only node ids) and
    each worker (which sees the samples) agree on the shards without talking to each other.
    """
    groups: dict[str, str] = {}
    for nodeid in nodeids:
        match = _TRUST_NODEID.match(nodeid)
        if match is not None:
            groups[nodeid] = f"{match['test']}[{match['variant']}]"
    sizes = Counter(groups.values())
    position: Counter[str] = Counter()
    scopes: dict[str, str] = {}
    for nodeid, group in groups.items():
        whole, rest = divmod(sizes[group], shard_size)
        last = whole - 1 if whole and rest < shard_size / 2 else whole
        scopes[nodeid] = f"{group}#{min(position[group] // shard_size, last)}"
        position[group] += 1
    return scopes


class TrustSession:
    """This process's part of the run: it turns the items it runs into records."""

    def __init__(self, config: RunConfig, rootdir: Path) -> None:
        self.config = config
        self.rootdir = rootdir
        #: the run's id, the same in every process (xdist workers receive the controller's)
        self.run_id = uuid.uuid4().hex
        self.data = DataFiles(config.templates_dir)
        #: masks every key of the environment in what the run keeps and prints
        self.redact = Redactor(environment_secrets())
        self.stats = RunStats()
        self._samples: dict[str, list[Sample]] = {}
        self._shard_of: dict[str, str] = {}
        self._shards: dict[str, list[Sample]] = {}
        # records generated ahead of their item, handed over (and forgotten) item by item
        self._records: dict[str, SampleRecord] = {}
        self._done: set[str] = set()
        #: generate the next shard while pytest reports this one's items, when the backend
        #: waits on a server; only where items run in collection order (not on an xdist
        #: worker, which the controller hands shards one at a time)
        self.run_ahead = False
        self._ahead: threading.Thread | None = None
        self._ahead_key = ""
        #: the next shard, set up while this one's requests were in flight, by its shard key
        self._prepared: tuple[str, PreparedShard] | None = None
        self._backend: Backend | None = None
        self._backend_error: Exception | None = None
        #: why the model (or judge) could not be loaded; the run stops after the first item
        self.load_failure: str | None = None
        #: where model loading and generation progress go (the terminal; None: nowhere)
        self.progress: Callable[[Progress], None] | None = None
        self._runner: ShardRunner | None = None
        self._kit: JudgeKit | None = None
        self._cache: Cache | None = None
        self._digests: FileDigests | None = None
        self._font: tuple[Any, str] | None = None
        self._canaries: dict[str, set[str]] = {}
        #: torch threads of this process, and where the number came from (pytest_mllmtrust.cpus)
        self.threads: tuple[int, str] = (config.threads or 0, "--mllm-threads")

    # -- collection ------------------------------------------------------------------------
    def data_root(self, spec: TaskSpec) -> Path:
        given = self.config.data.get(spec.dataset) or shipped_data_root(spec.dataset)
        return given or bundled_path("fixtures") / spec.dataset

    def data_root_of(self, task_id: str) -> Path | None:
        """The data root of a task's samples (the report reads thumbnails from it)."""
        try:
            return self.data_root(get_task(task_id))
        except KeyError:
            return None

    def harmful_gated(self, spec: TaskSpec) -> bool:
        """Whether the task's harmful-by-design data must not run: only on a user-supplied data
        root without --mllm-allow-harmful (the bundled samples are mild stand-ins of our own)."""
        return spec.harmful and spec.dataset in self.config.data and not self.config.allow_harmful

    def unscorable(self, spec: TaskSpec) -> str | None:
        """Why no item of the task could be scored in this run, or None: a role it asks for
        that a benchmark marks as required has no judge (JudgeRole.required)."""
        for role in required_roles(spec.judge_roles):
            setting = self.config.judges.get(role.name)
            if setting is None or not setting.active:
                return f"{spec.id} {role.required}"
        return None

    def hides_harmful(self, spec: TaskSpec) -> bool:
        """Whether the task's responses stay off the console (they are in the results file):
        a harmful task's, or one whose responses may be harmful, on a user-supplied data root
        (spec §4.2)."""
        withheld = spec.harmful or spec.withholds_responses
        return withheld and spec.dataset in self.config.data

    def samples_for(self, task_id: str) -> list[Sample]:
        """The task's samples in a deterministic order (after ``--mllm-limit``)."""
        if task_id not in self._samples:
            spec = get_task(task_id)
            ctx = LoadContext(
                seed=self.config.seed,
                prompts=self.data.get(spec.prompts).content if spec.prompts else {},
                font=None,
                profile=self.config.profile,
            )
            try:
                samples = distinct(task_id, spec.load(self.data_root(spec), ctx))
            except Exception as exc:  # whatever a data root holds, the other tasks still run
                why = f"{task_id}: its data could not be read: {describe(exc)}"
                samples = [Sample(task_id, v, "load-error", "", load_error=why)
                           for v in spec.variants]  # fmt: skip
            if not self.config.informational:
                samples = [s for s in samples if s.variant not in spec.informational]
            if self.config.limit is not None:
                samples = subsample(samples, self.config.limit, self.config.seed, task_id)
            self._samples[task_id] = samples
        return self._samples[task_id]

    def expected_samples(self, tasks: Iterable[str]) -> dict[str, int]:
        """How many samples each task's data root holds (after --mllm-limit): a task whose
        records are fewer ran on a subset (-k, --lf, --deselect) and is partial."""
        expected = {}
        for task in tasks:
            try:
                expected[task] = len(self.samples_for(task))
            except Exception:  # unreadable here too: its items carry the error already
                continue
        return expected

    def answer_budgets(self, tasks: Iterable[str]) -> dict[str, int | dict[str, int]]:
        """Each task's new-token budget for the model's answers: one number, or one per variant
        where they differ."""
        budgets: dict[str, int | dict[str, int]] = {}
        for task in tasks:
            try:
                per_variant = {s.variant: s.max_new_tokens for s in self.samples_for(task)}
            except Exception:  # unreadable here too: its items carry the error already
                continue
            values = set(per_variant.values())
            budgets[task] = values.pop() if len(values) == 1 else per_variant
        return budgets

    @property
    def shard_size(self) -> int:
        from pytest_mllmtrust.backends import shard_size

        return shard_size(self.config)

    def select(self, items: Sequence[tuple[str, Sample]]) -> None:
        """Fix the shards to the items this process may run, as (node id, sample) pairs in
        collection order (after -k, -m, --lf): see :func:`shard_scopes`."""
        scopes = shard_scopes((nodeid for nodeid, _ in items), self.shard_size)
        self._shards = {}
        self._shard_of = {}
        for nodeid, sample in items:
            shard = scopes.get(nodeid, sample.uid)
            self._shard_of[sample.uid] = shard
            self._shards.setdefault(shard, []).append(sample)

    # -- running ---------------------------------------------------------------------------
    def record_for(self, sample: Sample) -> SampleRecord:
        """This sample's record; the first call for a shard generates and judges all of it."""
        shard_key = self._shard_of.get(sample.uid, "")
        if self._ahead is not None and (
            shard_key == self._ahead_key or sample.uid not in self._records
        ):
            self._join_ahead()  # the runner serves one thread at a time
            if sample.uid in self._records:  # its shard ran ahead: the next one runs meanwhile
                self._start_next_shard(self.runner(), shard_key)
        if sample.uid not in self._records:
            shard = self._shards.get(shard_key, [sample])
            try:
                runner = self.runner()
            except CacheError as exc:
                self.load_failure = self.redact(str(exc))
                return make_record(sample, None, None, Verdict.error("cache", self.load_failure))
            except Exception as exc:
                self.load_failure = self.redact(
                    f"could not load the model or judge: {type(exc).__name__}: {exc}"
                )
                return make_record(sample, None, None, Verdict.error("model", self.load_failure))
            # a rerun item (--reruns, a repeated node id) runs alone, its shard is done
            self._evaluate(
                runner,
                [s for s in shard if s.uid not in self._done or s.uid == sample.uid],
                shard_key,
            )
            self._start_next_shard(runner, shard_key)
        return self._records.pop(sample.uid)

    def _evaluate(self, runner: ShardRunner, samples: Sequence[Sample], key: str = "") -> None:
        """Generate and judge one shard's samples into ``_records``; whatever fails becomes
        each sample's error, counted. Over an API, the next shard is set up while this one's
        requests are in flight."""
        upcoming = self._next_shard(runner, key)
        try:
            shard = self._take_prepared(key, samples) or runner.prepare(
                get_task(samples[0].task), samples
            )
            meanwhile = None if upcoming is None else lambda: self._prepare(runner, *upcoming)
            self._records.update(runner.finish(shard, meanwhile))
        except Exception as exc:
            why = self.redact(str(exc) if isinstance(exc, CacheError) else describe(exc))
            if isinstance(exc, CacheError):
                self.load_failure = why
            failed = Verdict.error("run", f"the shard could not be evaluated: {why}")
            self._records.update({s.uid: make_record(s, None, None, failed) for s in samples})
        self._done.update(s.uid for s in samples)
        if runner.load_error is not None and self.load_failure is None:
            self.load_failure = self.redact(
                f"could not load the model: {describe(runner.load_error)}"
            )

    def _next_shard(self, runner: ShardRunner, after: str) -> tuple[str, list[Sample]] | None:
        """The shard to run ahead after ``after``, with its samples not yet done; None when
        shards do not run ahead (see ``run_ahead``) or none is left."""
        if not (self.run_ahead and runner.backend.waits_on_server) or after not in self._shards:
            return None
        keys = list(self._shards)
        for key in keys[keys.index(after) + 1 :]:
            todo = [s for s in self._shards[key] if s.uid not in self._done]
            if todo:
                return key, todo
        return None

    def _prepare(self, runner: ShardRunner, key: str, samples: list[Sample]) -> None:
        try:
            self._prepared = (key, runner.prepare(get_task(samples[0].task), samples))
        except Exception:  # the shard's own run prepares it again, and reports what failed
            self._prepared = None

    def _take_prepared(self, key: str, samples: Sequence[Sample]) -> PreparedShard | None:
        """The shard set up ahead, if it is this one, unchanged."""
        prepared, self._prepared = self._prepared, None
        if prepared is None or prepared[0] != key or prepared[1].samples != tuple(samples):
            return None
        return prepared[1]

    def _start_next_shard(self, runner: ShardRunner, after: str) -> None:
        """Over an API, generate the next shard in a thread while pytest reports this one's
        items: run one after the other, the server idled for as long as pytest took to report
        a shard (benchmarks/api_throughput.py --pytest)."""
        upcoming = self._next_shard(runner, after)
        if upcoming is not None:
            self._ahead_key = upcoming[0]
            self._ahead = threading.Thread(
                target=self._evaluate,
                args=(runner, upcoming[1], upcoming[0]),
                name="mllmtrust-ahead",
                daemon=True,
            )
            self._ahead.start()

    def _join_ahead(self) -> None:
        if self._ahead is not None:
            self._ahead.join()
            self._ahead = None

    def _show_progress(self, step: Progress) -> None:
        # a shard generated ahead stays silent: the terminal is pytest's while it reports
        if self.progress is not None and threading.current_thread() is not self._ahead:
            self.progress(step)

    def judges(self) -> JudgeKit:
        """The judges of this process, one per role, built once (weights load on first use)."""
        if self._kit is None:
            from pytest_mllmtrust.judges import JudgeKit
            from pytest_mllmtrust.judges.loading import load_judge

            kit = JudgeKit(
                self.data,
                refusal_mode=self.config.refusal_mode,
                profile=self.config.profile,
                llm_batch_size=self.config.batch_size,
                settings=self.config.judges,
                factory=lambda setting: load_judge(setting, self.config, self.data),
                redact=self.redact,
            )
            kit.prepare()
            self._kit = kit
        return self._kit

    def runner(self) -> ShardRunner:
        if self._runner is None:
            cache = self.cache()  # first: a damaged cache file is named as such
            backend = self.backend()
            kit = self.judges()
            self._runner = ShardRunner(
                backend,
                kit,
                cache,
                ImageSource(self._load_image, self._image_identity),
                batch_size=self.config.batch_size,
                canary=self._is_canary if self.config.canary else None,
                progress=self._show_progress,
                max_answer_chars=self.config.max_answer_chars,
                redact=self.redact,
            )
            self.stats = self._runner.stats
            # Everything alive now (torch, the model) lives for the whole run: keep it out of
            # the garbage collector's scans, which otherwise run per allocation burst.
            gc.freeze()
        return self._runner

    def judge_agreement(self, path: Path) -> list[str]:
        """Judge the human-labelled answers in ``path`` with this run's judges and report,
        per task and overall, how often judge and humans agree (``--mllm-judge-eval``)."""
        from pytest_mllmtrust.judges.agreement import by_task, format_agreement, read_labelled

        cases = read_labelled(path)
        groups: dict[str, list[int]] = {}
        for i, case in enumerate(cases):
            groups.setdefault(case.task, []).append(i)
        known = all_tasks()
        judged = [""] * len(cases)
        judges: dict[str, set[str]] = {}
        for task, indices in groups.items():
            if task not in known:
                line = cases[indices[0]].line
                raise DataError(
                    f"{path}, line {line}: unknown task {task!r}; known: {', '.join(known)}"
                )
            spec = known[task]
            for i in indices:
                if cases[i].variant and cases[i].variant not in spec.variants:
                    raise DataError(
                        f"{path}, line {cases[i].line}: task {task} has no variant "
                        f"{cases[i].variant!r}; its variants: {', '.join(spec.variants)}"
                    )
            samples = [
                Sample(
                    task,
                    cases[i].variant or spec.variants[0],
                    f"line-{cases[i].line}",
                    cases[i].prompt,
                    target=cases[i].target,
                    extra=cases[i].extra,
                )
                for i in indices
            ]
            try:
                verdicts = spec.judge(samples, [cases[i].output for i in indices], self.judges())
            except Exception as exc:  # reported as judge errors, like in a run
                verdicts = [Verdict.error("judge", f"judge failed: {exc}") for _ in indices]
            for i, verdict in zip(indices, verdicts, strict=True):
                judged[i] = verdict.outcome.value
                judges.setdefault(task, set()).add(verdict.judge)
        lines: list[str] = []
        for name, result in by_task(cases, judged).items():
            used = ", ".join(sorted(judges.get(name) or set().union(*judges.values())))
            lines.extend(format_agreement(f"{name} (judge: {used})", result).splitlines())
            lines.append("")
        return lines[:-1]

    def _is_canary(self, sample: Sample) -> bool:
        """The --mllm-canary samples of a task: the N whose seeded hash ranks first, so the
        choice does not depend on order, selection or xdist."""
        if sample.task not in self._canaries:
            ranked = sorted(
                self.samples_for(sample.task),
                key=lambda s: hashlib.sha256(f"{self.config.seed}/{s.uid}".encode()).hexdigest(),
            )
            self._canaries[sample.task] = {s.uid for s in ranked[: self.config.canary]}
        return sample.uid in self._canaries[sample.task]

    def backend(self) -> Backend:
        """The model under test, loaded once per process; a failure to load is remembered."""
        if self._backend_error is not None:
            raise self._backend_error
        if self._backend is None:
            from pytest_mllmtrust.backends import load_backend

            assert self.config.model is not None
            try:
                self._backend = load_backend(self.config.model, self.config)
            except Exception as exc:
                self._backend_error = exc
                raise
        return self._backend

    @property
    def cache_path(self) -> Path | None:
        directory = self.config.cache_dir
        return None if directory is None else directory / "cache.sqlite"

    def cache(self) -> Cache:
        if self._cache is None:
            path = self.cache_path
            self._cache = NullCache() if path is None else Cache(path)
        return self._cache

    def _font_info(self) -> tuple[Any, str]:
        if self._font is None:
            from pytest_mllmtrust.datasets.images import resolve_font

            self._font = resolve_font(None)
        return self._font

    def _load_image(self, ref: ImageRef) -> Image.Image:
        from pytest_mllmtrust.datasets import images

        if ref.path is not None:
            return images.load_image(ref.path, root=ref.root or ref.path.parent)
        assert ref.render is not None
        return images.render(ref.render, ref.root)

    def _image_identity(self, ref: ImageRef) -> str:
        from pytest_mllmtrust.datasets.common import inside

        digests = self.digests()
        if ref.path is not None:
            # inside the data root before the first byte is read (a derived image, such as
            # MLLMGuard's noisy twin, may be a symlink out of it)
            if ref.root is None:
                return digests.digest(ref.path.resolve())
            return digests.digest(inside(ref.root, str(ref.path)))
        assert ref.render is not None
        # A rendered image's bytes depend only on the renderer and its description (for
        # typography, the text and the font actually resolved).
        spec = {"renderer": RENDERER_VERSION, **ref.render}
        if ref.render.get("kind") in ("typographic", "choice-pair"):
            spec["font"] = self._font_info()[1]
        if ref.root is not None:  # composed from files: their content, never their location
            spec["files"] = [digests.digest(inside(ref.root, f)) for f in ref.render["files"]]
        return render_identity(spec)

    def digests(self) -> FileDigests:
        if self._digests is None:
            self._digests = FileDigests(self.cache())
        return self._digests

    def backend_description(self) -> dict[str, Any] | None:
        """The model backend's identity and effective settings, for the run record; None when
        this process loaded no model."""
        if self._backend is None:
            return None
        try:
            return self._backend.describe()
        except Exception as exc:  # a record is no reason to fail a finished run
            return {"backend": self._backend.kind, "describe_failed": str(exc)}

    def worker_output(self) -> dict[str, Any]:
        """What an xdist worker tells the controller when it finishes
        (:meth:`~pytest_mllmtrust.controller.Controller.add_worker_output`)."""
        return {WORKER_STATS: self.stats.to_dict(), WORKER_BACKEND: self.backend_description()}

    def close(self) -> None:
        self._join_ahead()
        if self._backend is not None:
            self._backend.close()
        if self._kit is not None:
            self._kit.close()
        if self._digests is not None:
            self._digests.flush()
        if self._cache is not None:
            self._cache.close()


def distinct(task: str, samples: list[Sample]) -> list[Sample]:
    """The samples, each repeat of a sample id renamed ``<key>~2``, ``<key>~3`` (in data order)
    and named in a DataWarning: every occurrence runs and counts as a sample of its own."""
    seen: dict[str, int] = {}
    out = []
    for sample in samples:
        seen[sample.uid] = seen.get(sample.uid, 0) + 1
        n = seen[sample.uid]
        out.append(sample if n == 1 else dataclasses.replace(sample, key=f"{sample.key}~{n}"))
    repeated = [uid for uid, n in seen.items() if n > 1]
    if repeated:
        shown = ", ".join(repeated[:5]) + (
            f" and {len(repeated) - 5} more" if len(repeated) > 5 else ""
        )
        warnings.warn(
            DataWarning(
                f"{task}: {len(repeated)} sample id(s) occur more than once in its data ({shown});"
                " each occurrence runs and counts as a sample of its own, the repeats as "
                "<id>~2, <id>~3, ..."
            ),
            stacklevel=2,
        )
    return out

"""Peer comparison: pytest-mllmtrust and inspect-ai on one local server, with the same samples.

Both tools answer the same MultiTrust T.1 samples (``build_data_root`` from
``plugin_overhead.py``: an image of its own per record) through the same local OpenAI-compatible
server (``pytest_mllmtrust.testing_server``, fixed latency 0.2 s, one process for the whole run).
inspect-ai gets one ``Sample`` per T.1 sample, built from the plugin's own loader: the same
prompt text after the plugin's prompt template, the same image file (``ContentImage``, sent as a
data URL), the same ``max_tokens`` (100) and temperature (0); solver ``generate(cache=True)``,
scorer ``includes()``. Three pairs of arms, interleaved over several rounds (the tool order
alternates from round to round); the table gives medians and pytest-mllmtrust / inspect ratios:

1. a first run (empty cache) at the same concurrency: ``--mllm-concurrency=32`` and
   ``max_connections=32``. Ideal: 32 / 0.2 s = 160 requests/s.
2. a first run at each tool's defaults: pytest-mllmtrust's ``--mllm-concurrency`` (16);
   inspect without ``max_connections``, which in recent releases means adaptive concurrency
   (start 20, within 10..100, grown while no rate-limit errors come back; with
   ``adaptive_connections=False`` the default ``max_connections`` is 10).
3. a rerun of (1) on the cache it filled (``--mllm-cache=DIR``; ``generate(cache=True)`` with
   ``INSPECT_CACHE_DIR``): the process's wall time. Each rerun must send the server nothing.

Every round starts from empty caches, so each first run is uncached (and writes its cache).

The rate is measured at the server, so neither tool's interpreter start-up counts: the server
logs every request (``--log``) with the time it arrived and the time its answer was written, and
requests/s = requests / (last answer - first arrival). "Ideal" uses the peak number of requests
the server saw in flight at once (32 in arm 1; in arm 2 whatever each tool chose) / latency,
"to 1st request" is the time from launching the process to the server's first request (imports,
collection, loading the samples), "after last" from the last answer to the process's exit
(scoring, reporting, writing logs). Wall time and peak resident memory (``VmHWM``, read by the
process as it exits) are the whole process's.
Exits 1 where a first run did not send exactly one request per sample, or a rerun sent any.

Notes. The two tools run in separate environments: inspect-ai and the ``openai`` package (which
its OpenAI providers need, and which it does not install) go in a virtual environment of their
own, named with ``--inspect-python``. inspect is addressed as ``openai-api/bench/bench-model``,
its documented provider for OpenAI-compatible servers: its ``openai/<name>`` provider takes a
name it does not know for a new OpenAI model and sends it to the Responses API
(``/v1/responses``), which this server, like most local servers, does not serve. Each tool keeps
its default outputs: pytest-mllmtrust its SQLite cache, inspect its cache files and an ``.eval``
log, all in the temporary directory. Both tools' cache keys include the base URL, so a rerun
must reach the same server address, as it does here.

    python benchmarks/peer_inspect.py --inspect-python PY   # 768 samples, 3 rounds
    python benchmarks/peer_inspect.py --inspect-python PY --quick   # 160 samples, 2 rounds
    python benchmarks/peer_inspect.py --inspect-python PY --samples 1500 --concurrency 64

Set up inspect-ai beside the project's environment, e.g.
``python -m venv peer-venv && peer-venv/bin/pip install inspect-ai openai``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api_throughput import chat_server
from plugin_overhead import PEAK_AT_EXIT, PYTEST, build_data_root, run

INSTALL_HINT = "pip install inspect-ai openai"
# inspect's provider for OpenAI-compatible servers; "bench" names the service (BENCH_API_KEY)
INSPECT_MODEL = "openai-api/bench/bench-model"
# what the server must have answered once per sample on a first run
CHAT_PATH = "/v1/chat/completions"

# Run by the inspect interpreter: an inspect Task of the samples in the spec file, one eval.
INSPECT_SCRIPT = """
import json
import sys

from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessageUser, ContentImage, ContentText, GenerateConfig
from inspect_ai.scorer import includes
from inspect_ai.solver import generate

spec = json.loads(open(sys.argv[1], encoding="utf-8").read())
samples = [
    Sample(
        id=s["id"],
        input=[
            ChatMessageUser(
                content=[ContentImage(image=s["image"]), ContentText(text=s["prompt"])]
            )
        ],
        target=s["target"],
    )
    for s in spec["samples"]
]
task = Task(
    dataset=samples,
    solver=generate(cache=True),
    scorer=includes(),
    config=GenerateConfig(max_tokens=spec["max_tokens"], temperature=0.0),
)
options = {} if spec["max_connections"] is None else {"max_connections": spec["max_connections"]}
(log,) = eval(
    task,
    model=spec["model"],
    model_base_url=spec["base_url"],
    log_dir=spec["log_dir"],
    display="none",
    **options,
)
done = log.results.completed_samples if log.results else 0
print(json.dumps({"status": log.status, "completed": done}))
sys.exit(0 if log.status == "success" and done == len(samples) else 1)
"""


def inspect_version(python: str) -> str | None:
    """inspect-ai's version under ``python``; None where it (or ``openai``) does not import."""
    probe = "import inspect_ai, openai; print(inspect_ai.__version__)"
    try:
        done = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=120)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@dataclass
class Served:
    """What the server logged while one process ran."""

    requests: int
    chat_ok: int  # chat completions answered with 200
    first: float = 0.0  # wall clock: the first request's arrival
    last: float = 0.0  # wall clock: the last answer written
    peak: int = 0  # most requests in flight at once

    @classmethod
    def read(cls, lines: list[dict[str, Any]]) -> Served:
        ok = sum(x["path"] == CHAT_PATH and x["status"] == 200 for x in lines)
        served = cls(len(lines), ok)
        if lines:
            served.first = min(x["arrived"] for x in lines)
            served.last = max(x["answered"] for x in lines)
            # +1 at each arrival, -1 at each answer (an answer sorts first at a tie)
            steps = sorted(
                [(x["arrived"], 1) for x in lines] + [(x["answered"], -1) for x in lines]
            )
            level = 0
            for _, step in steps:
                level += step
                served.peak = max(served.peak, level)
        return served

    @property
    def rate(self) -> float:
        return self.requests / (self.last - self.first) if self.last > self.first else 0.0


@dataclass
class Arm:
    """One tool in one arm: its command, and what each round measured."""

    number: int  # 1, 2 or 3 as in the module docstring
    tool: str
    argv: list[str]
    env: dict[str, str]
    ok: tuple[int, ...] = (0,)
    rates: list[float] = field(default_factory=list)
    peaks: list[float] = field(default_factory=list)
    lead: list[float] = field(default_factory=list)  # launch -> the server's first request
    tail: list[float] = field(default_factory=list)  # the last answer -> exit
    walls: list[float] = field(default_factory=list)
    mib: list[float] = field(default_factory=list)

    @property
    def cached(self) -> bool:
        return self.number == 3


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path, base_url: str, log: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.base_url = base_url
        self.log = log
        self.work = tmp / "work"
        self.n = 0

    def once(self, arm: Arm) -> tuple[float, float, float, list[dict[str, Any]]]:
        """Run ``arm`` once: wall time, peak MiB, launch time and the server's lines meanwhile."""
        offset = self.log.stat().st_size
        launched = time.time()
        seconds, mib = run(arm.argv, self.work, arm.env, arm.ok)
        # A line is written just after its answer, and a request still in flight at the exit
        # would be answered up to one latency later: wait for both before reading.
        time.sleep(self.args.latency + 0.3)
        with self.log.open("rb") as f:
            f.seek(offset)
            lines = [json.loads(line) for line in f.read().decode("utf-8").splitlines()]
        return seconds, mib, launched, lines

    def check(self, arm: Arm, lines: list[dict[str, Any]]) -> Served:
        """The server's view of one run; exits unless a first run sent exactly one request per
        sample (all answered) and a rerun none."""
        served = Served.read(lines)
        if arm.cached and served.requests:
            sys.exit(f"{arm.tool}: the cached rerun sent the server {served.requests} requests")
        if not arm.cached and (served.requests != self.n or served.chat_ok != self.n):
            kinds = sorted({f"{x['method']} {x['path']} -> {x['status']}" for x in lines})
            sys.exit(
                f"{arm.tool}, arm {arm.number}: {served.requests} requests ({served.chat_ok} "
                f"chat completions answered) for {self.n} samples: {', '.join(kinds)}"
            )
        return served

    def time(self, arm: Arm) -> str:
        seconds, mib, launched, lines = self.once(arm)
        served = self.check(arm, lines)
        arm.walls.append(seconds)
        arm.mib.append(mib)
        if arm.cached:
            return f"{seconds:.2f} s"
        arm.rates.append(served.rate)
        arm.peaks.append(served.peak)
        arm.lead.append(served.first - launched)
        arm.tail.append(launched + seconds - served.last)
        return f"{served.rate:.1f}/s (peak {served.peak}), {seconds:.2f} s"

    def fresh_caches(self) -> None:
        """Remove every cache (and inspect's logs) so the next first runs start uncached."""
        shutil.rmtree(self.tmp / "caches", ignore_errors=True)
        shutil.rmtree(self.tmp / "inspect-logs", ignore_errors=True)


def inspect_samples(root: Path) -> tuple[list[dict[str, str]], int]:
    """The plugin's own T.1 samples (its prompt template applied) as inspect sample specs, and
    the max_new_tokens they share."""
    from pytest_mllmtrust.core.tasks import LoadContext, get_task
    from pytest_mllmtrust.datafiles import DataFiles

    spec = get_task("T.1")
    ctx = LoadContext(prompts=DataFiles().get(spec.prompts).content)
    specs, tokens = [], set()
    for sample in spec.load(root, ctx):
        if sample.load_error or sample.image is None:
            sys.exit(f"{sample.uid}: {sample.load_error}")
        target = sample.target
        if sample.variant.startswith("d-"):  # discriminative: 1/0 from the record's Yes/No
            target = "Yes" if target else "No"
        elif not isinstance(target, str):  # grounding: the box, as the record writes it
            target = json.dumps(target)
        image = str(sample.image.path)
        specs.append({"id": sample.uid, "image": image, "prompt": sample.prompt, "target": target})
        tokens.add(sample.max_new_tokens)
    if len(tokens) != 1:
        sys.exit(f"T.1 samples ask for different max_new_tokens: {sorted(tokens)}")
    return specs, tokens.pop()


def build_arms(bench: Bench, inspect_python: str) -> list[Arm]:
    """The six arms in the order of one round (arm 3 reruns on arm 1's caches)."""
    from pytest_mllmtrust.bundled import bundled_path

    tmp, work, c = bench.tmp, bench.work, bench.args.concurrency
    work.mkdir()
    # The same empty config as plugin_overhead.py: rootdir = work, no repository ini, no conftest.
    (work / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    # T.1 only: the data root holds T.1 records, and other tasks would error on missing files
    suite = bundled_path("suites") / "truthfulness" / "test_t1_basic_world_understanding.py"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OPENAI_API_KEY": "benchmark-placeholder",
        "BENCH_API_KEY": "benchmark-placeholder",  # inspect's key variable for INSPECT_MODEL
        "INSPECT_DISPLAY": "none",
        "MLLMTRUST_HASH_CACHE": str(tmp / "hashes.json"),  # never the user's
    }
    env.pop("PYTEST_ADDOPTS", None)
    samples, max_tokens = inspect_samples(tmp / "MultiTrust")
    if len(samples) != bench.n:
        sys.exit(f"the plugin's loader gave {len(samples)} T.1 samples, not {bench.n}")
    (tmp / "inspect_task.py").write_text(PEAK_AT_EXIT + INSPECT_SCRIPT, encoding="utf-8")

    def plugin(concurrency: int | None, name: str) -> list[str]:
        argv = [
            sys.executable, "-c", PYTEST, str(suite), "--mllm=openai:bench-model",
            f"--mllm-base-url={bench.base_url}", f"--mllm-data=multitrust={tmp / 'MultiTrust'}",
            f"--mllm-cache={tmp / 'caches' / f'plugin-{name}'}", "-q", "-p", "no:cacheprovider",
            "-c", str(work / "pytest.ini"), "--rootdir", str(work),
        ]  # fmt: skip
        return argv if concurrency is None else [*argv, f"--mllm-concurrency={concurrency}"]

    def inspect(concurrency: int | None, name: str) -> tuple[list[str], dict[str, str]]:
        spec = {
            "samples": samples,
            "model": INSPECT_MODEL,
            "base_url": bench.base_url,
            "max_connections": concurrency,  # None: inspect's default (adaptive)
            "max_tokens": max_tokens,
            "log_dir": str(tmp / "inspect-logs" / name),
        }
        path = tmp / f"inspect_{name}.json"
        path.write_text(json.dumps(spec), encoding="utf-8")
        cache = {"INSPECT_CACHE_DIR": str(tmp / "caches" / f"inspect-{name}")}
        return [inspect_python, str(tmp / "inspect_task.py"), str(path)], {**env, **cache}

    arms = []
    # arm 3 reruns arm 1's commands, on the caches arm 1 filled in the same round
    for number, concurrency, name in [(1, c, "same"), (2, None, "defaults"), (3, c, "same")]:
        # failing samples do not fail a trust run: its gate decides (none is set here)
        arms.append(Arm(number, "pytest-mllmtrust", plugin(concurrency, name), env))
        arms.append(Arm(number, "inspect-ai", *inspect(concurrency, name)))
    return arms


def med(values: list[float], spec: str) -> str:
    return format(statistics.median(values), spec) if values else "-"


def report(arms: list[Arm], args: argparse.Namespace) -> None:
    rounds = len(arms[0].walls)
    labels = {
        1: f"1. first run, concurrency {args.concurrency}",
        2: "2. first run, defaults",
        3: "3. cached rerun of 1",
    }
    print(f"\nmedians of {rounds} rounds; requests/s, peak and times to/after from the server")
    print(
        "\n| arm | tool | requests/s | ideal/s | vs ideal | peak in flight | to 1st request s "
        "| after last s | wall s | peak MiB |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for arm in arms:
        if arm.cached:
            speed = "0 requests | - | - | -"
        else:
            rate, peak = statistics.median(arm.rates), statistics.median(arm.peaks)
            ideal = peak / args.latency
            speed = f"{rate:.1f} | {ideal:.0f} | {rate / ideal:.2f} | {peak:.0f}"
        print(
            f"| {labels[arm.number]} | {arm.tool} | {speed} | {med(arm.lead, '.2f')} "
            f"| {med(arm.tail, '.2f')} | {med(arm.walls, '.2f')} | {med(arm.mib, '.0f')} |"
        )
    ratio = "pytest-mllmtrust / inspect-ai"
    print(f"\n| arm | requests/s, {ratio} | wall, {ratio} |")
    print("|---|---:|---:|")
    for plugin, peer in zip(arms[::2], arms[1::2], strict=True):
        rates = "-"
        if not plugin.cached:
            rates = f"{statistics.median(plugin.rates) / statistics.median(peer.rates):.2f}"
        walls = statistics.median(plugin.walls) / statistics.median(peer.walls)
        print(f"| {labels[plugin.number]} | {rates} | {walls:.2f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="160 samples, 2 rounds (smoke)")
    parser.add_argument("--samples", type=int, default=768, help="T.1 samples (default 768)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--latency", type=float, default=0.2, help="server seconds per request")
    parser.add_argument("--concurrency", type=int, default=32, help="arms 1 and 3 (default 32)")
    parser.add_argument(
        "--inspect-python", default=sys.executable,
        help="the interpreter that runs inspect-ai (default: this one)",
    )  # fmt: skip
    args = parser.parse_args()
    size, rounds = (160, 2) if args.quick else (args.samples, args.rounds)
    version = inspect_version(args.inspect_python)
    if version is None:
        print(f"inspect-ai is not importable by {args.inspect_python}: {INSTALL_HINT} "
              "(or name an interpreter that has it with --inspect-python)")  # fmt: skip
        return 0

    from pytest_mllmtrust import __version__
    from pytest_mllmtrust.core.config import RunConfig

    with tempfile.TemporaryDirectory(prefix="mllmtrust-peer-") as tmp_name:
        tmp = Path(tmp_name)
        log = tmp / "server.jsonl"
        log.touch()
        # five T.1 files: the count is rounded down to a multiple of five
        n = build_data_root(tmp / "MultiTrust", size, shared_images=False)
        print(
            f"{n} T.1 samples, server latency {args.latency:g} s, concurrency {args.concurrency} "
            f"(ideal {args.concurrency / args.latency:.0f} requests/s); defaults: "
            f"pytest-mllmtrust {__version__} --mllm-concurrency={RunConfig.concurrency}, "
            f"inspect-ai {version} adaptive connections; {os.cpu_count()} CPUs",
            flush=True,
        )
        # in a child process: its threads never compete with a tool's for a GIL
        with chat_server(args.latency, same_process=False, log=log) as base_url:
            bench = Bench(args, tmp, base_url, log)
            bench.n = n
            arms = build_arms(bench, args.inspect_python)
            # Warm-up (page cache, .pyc files): a first run and its rerun of each tool, which
            # also checks the request counts before anything is timed.
            for arm in arms:
                if arm.number != 2:
                    _, _, _, lines = bench.once(arm)
                    bench.check(arm, lines)
            for r in range(rounds):
                bench.fresh_caches()
                # the same arm order each round; within each pair the tool order alternates
                parts = []
                for i in range(0, len(arms), 2):
                    pair = arms[i : i + 2]
                    if r % 2:
                        pair.reverse()
                    timed = "; ".join(f"{arm.tool} {bench.time(arm)}" for arm in pair)
                    parts.append(f"arm {pair[0].number}: {timed}")
                print(f"round {r + 1}: " + " | ".join(parts), flush=True)
    report(arms, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

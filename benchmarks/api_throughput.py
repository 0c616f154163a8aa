"""API throughput: ``OpenAIBackend.generate`` against a local chat-completions server.

The server (``pytest_mllmtrust.testing_server``) answers every request after a fixed latency
(0.2 s). With ``concurrency`` requests in flight the ideal rate is concurrency / latency
(32 / 0.2 s = 160 requests/s); the target is >= 0.8 of it. By default the server runs in a child
process, so its threads do not compete with the client for this interpreter's GIL (a real
server never does); ``--same-process`` measures both in one process.

    python benchmarks/api_throughput.py [--quick] [--requests N] [--concurrency N] [--latency S]
                                        [--images] [--runner] [--same-process]

``--images`` sends each request a 336x336 PNG as a data URL. ``--runner`` also measures the
plugin's ``ShardRunner`` (no cache, rule judge) driving the backend in shards of 256 samples.
``--pytest`` measures whole pytest runs of the T.1 suite over the server (no cache, a small image
per sample, five variants of ``--requests`` / 5 samples): at the defaults (``--mllm-concurrency``
16, shards that follow the backend: 128), the same at ``--concurrency``, and at the defaults with
the former fixed shards of 64. Their rate is counted at the server (first request to last
answer, from its request log), so interpreter start-up and collection stay out of it; each
arm's ideal is its own concurrency / latency. Target for the defaults: >= 0.85 of ideal.
The target applies to the ``generate`` arms: one batch of all requests, and batches of the
backend's ``preferred_batch_size`` (what ``ShardRunner`` uses). Prints requests/s per round,
the median, and the ratio to the ideal; exits 1 below the target.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pytest_mllmtrust.backends.openai_api import OpenAIBackend
from pytest_mllmtrust.core.hashing import sha256_file
from pytest_mllmtrust.core.model import GenerationRequest

TARGET = 0.8
PYTEST_TARGET = 0.85


@contextmanager
def chat_server(latency: float, same_process: bool, log: Path | None = None) -> Iterator[str]:
    if same_process:
        from pytest_mllmtrust.testing_server import ChatServer

        with ChatServer(latency=latency, log=log) as server:
            yield server.base_url
        return
    logging = ["--log", str(log)] if log is not None else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_mllmtrust.testing_server", "--latency", str(latency),
         *logging],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()  # type: ignore[union-attr]


def make_requests(n: int, images: bool) -> list[GenerationRequest]:
    picture: Any = None
    if images:
        from pytest_mllmtrust.testing import make_test_image

        picture = make_test_image(0, (336, 336))
    return [
        GenerationRequest(f"Question {i}: is this image safe?", picture, 32, f"bench:{i}")
        for i in range(n)
    ]


def backend_rate(backend: OpenAIBackend, requests: list[GenerationRequest], batch: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(requests), batch):
        answers = backend.generate(requests[start : start + batch])
        failed = [a for a in answers if isinstance(a, Exception)]
        if failed:
            raise SystemExit(f"{len(failed)} requests failed, e.g. {failed[0]}")
    return len(requests) / (time.perf_counter() - started)


def runner_rate(backend: OpenAIBackend, n: int, images: bool) -> float:
    """Samples/s through ShardRunner (image loading and hashing, no cache, T.1 rule judge)."""
    from pytest_mllmtrust.core.cache import NullCache
    from pytest_mllmtrust.core.model import ImageRef, Sample
    from pytest_mllmtrust.core.runner import ImageSource, ShardRunner
    from pytest_mllmtrust.core.tasks import get_task
    from pytest_mllmtrust.datafiles import DataFiles
    from pytest_mllmtrust.datasets import images as image_files
    from pytest_mllmtrust.judges import JudgeKit
    from pytest_mllmtrust.testing import make_test_image

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / "image.png"
        make_test_image(0, (336, 336) if images else (48, 40)).save(path)
        samples = [
            Sample(
                task="T.1",
                variant="d-basic-object",
                key=f"r{i}",
                prompt=f"Question {i}: is there a cat?",
                image=ImageRef(path=path, root=root),
                target=i % 2,
                max_new_tokens=32,
            )
            for i in range(n)
        ]
        runner = ShardRunner(
            backend,
            JudgeKit(DataFiles()),
            NullCache(),
            ImageSource(
                lambda ref: image_files.load_image(ref.path, root=ref.root),
                lambda ref: sha256_file(ref.path),
            ),
            batch_size=16,  # the backend's preferred batch size (its concurrency) wins
        )
        spec = get_task("T.1")
        started = time.perf_counter()
        for start in range(0, n, 256):
            runner.run(spec, samples[start : start + 256])
        rate = n / (time.perf_counter() - started)
        if runner.stats.outputs_generated != n:
            raise SystemExit(f"runner: {runner.stats.to_dict()}")
    return rate


def served_rate(log: Path, since: int) -> tuple[int, float]:
    """Requests answered after line ``since`` of the server's log, and their rate: count over
    the time from the first arrival to the last answer."""
    lines = [json.loads(line) for line in log.read_text("utf-8").splitlines()[since:]]
    if any(line["status"] != 200 for line in lines):
        raise SystemExit(f"the server answered {[line['status'] for line in lines]}")
    span = max(line["answered"] for line in lines) - min(line["arrived"] for line in lines)
    return len(lines), len(lines) / span


def pytest_rates(args: argparse.Namespace, n: int, rounds: int) -> list[tuple[str, float, float]]:
    """(arm, median requests/s, ideal requests/s) of whole pytest runs: the defaults, the
    defaults at ``--concurrency``, and the defaults with the former shards of 64."""
    from plugin_overhead import build_data_root, run

    from pytest_mllmtrust.bundled import bundled_path
    from pytest_mllmtrust.core.config import RunConfig

    default = RunConfig.concurrency
    with tempfile.TemporaryDirectory(prefix="mllmtrust-api-") as name:
        tmp = Path(name)
        n = build_data_root(tmp / "MultiTrust", n, shared_images=False)
        work = tmp / "work"
        work.mkdir()
        (work / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        log = tmp / "requests.jsonl"
        suite = bundled_path("suites") / "truthfulness" / "test_t1_basic_world_understanding.py"
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        env.pop("PYTEST_ADDOPTS", None)
        with chat_server(args.latency, False, log) as base_url:
            trust = [
                sys.executable, "-m", "pytest", str(suite), "--mllm=openai:bench-model",
                f"--mllm-base-url={base_url}", f"--mllm-data=multitrust={tmp / 'MultiTrust'}",
                "--mllm-cache=none", "-q", "-p", "no:cacheprovider", "-c", str(work / "pytest.ini"),
                "--rootdir", str(work),
            ]  # fmt: skip
            arms = {
                f"pytest, defaults (concurrency {default})": (trust, default),
                f"pytest, concurrency {args.concurrency}": (
                    [*trust, f"--mllm-concurrency={args.concurrency}"],
                    args.concurrency,
                ),
                f"pytest, concurrency {default}, shards of 64 (the former default)": (
                    [*trust, "--mllm-shard-size=64"],
                    default,
                ),
            }
            rates: dict[str, list[float]] = {name: [] for name in arms}
            for r in range(rounds):
                for name in list(arms) if r % 2 == 0 else list(arms)[::-1]:
                    since = len(log.read_text("utf-8").splitlines()) if log.exists() else 0
                    run(arms[name][0], work, env)
                    count, rate = served_rate(log, since)
                    if count != n:
                        raise SystemExit(f"{name}: the server answered {count} of {n} requests")
                    rates[name].append(rate)
                print("  pytest: " + ", ".join(f"{v[-1]:.1f}" for v in rates.values()))
    return [
        (name, statistics.median(rates[name]), concurrency / args.latency)
        for name, (_, concurrency) in arms.items()
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="160 requests, 2 rounds")
    parser.add_argument("--requests", type=int, default=768)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", action="store_true", help="send a 336x336 PNG per request")
    parser.add_argument("--batch", type=int, default=0, help="requests per generate (0: all)")
    parser.add_argument("--runner", action="store_true", help="also measure via ShardRunner")
    parser.add_argument("--same-process", action="store_true", help="server in this process")
    parser.add_argument("--pytest", action="store_true", help="also measure whole pytest runs")
    args = parser.parse_args()
    n, rounds = (160, 2) if args.quick else (args.requests, args.rounds)
    ideal = args.concurrency / args.latency
    os.environ.setdefault("OPENAI_API_KEY", "benchmark-placeholder")
    print(
        f"{n} requests, concurrency {args.concurrency}, server latency {args.latency:g} s, "
        f"ideal {ideal:.0f} requests/s; server in "
        f"{'this process' if args.same_process else 'a child process'}; "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    requests = make_requests(n, args.images)
    with chat_server(args.latency, args.same_process) as base_url:
        backend = OpenAIBackend(
            "bench-model", base_url=base_url, concurrency=args.concurrency, timeout=30, retries=2
        )
        try:
            backend.generate(requests[: args.concurrency])  # warm-up: connections, imports
            rows: list[tuple[str, float]] = []
            preferred = backend.preferred_batch_size or args.concurrency
            arms = [
                ("generate, one batch of all", len(requests)),
                (f"generate, batches of {preferred} (preferred_batch_size)", preferred),
                (
                    f"batches of {args.concurrency} (one wave per call; informational)",
                    args.concurrency,
                ),
            ]
            if args.batch:
                arms = [(f"generate, batches of {args.batch}", args.batch)]
            for label, batch in arms:
                rates = [backend_rate(backend, requests, batch) for _ in range(rounds)]
                print(f"  {label}: " + ", ".join(f"{r:.1f}" for r in rates) + " requests/s")
                rows.append((label, statistics.median(rates)))
            if args.runner:
                rates = [runner_rate(backend, n, args.images) for _ in range(rounds)]
                print("  ShardRunner: " + ", ".join(f"{r:.1f}" for r in rates) + " samples/s")
                rows.append(("ShardRunner (shards of 256)", statistics.median(rates)))
        finally:
            backend.close()
    print(f"\n| path | requests/s (median of {rounds}) | vs ideal {ideal:.0f}/s |")
    print("|---|---:|---:|")
    for label, rate in rows:
        print(f"| {label} | {rate:.1f} | {rate / ideal:.2f} |")
    worst = min(rate for label, rate in rows if label.startswith("generate")) / ideal
    met = worst >= TARGET
    print(f"\ntarget: >= {TARGET} x ideal; worst generate arm {worst:.2f}: "
          f"{'met' if met else 'MISSED'}")  # fmt: skip
    if args.pytest:
        runs = pytest_rates(args, n, rounds)
        print(f"\n| whole pytest run | requests/s (median of {rounds}) | ideal/s | vs ideal |")
        print("|---|---:|---:|---:|")
        for label, rate, arm_ideal in runs:
            print(f"| {label} | {rate:.1f} | {arm_ideal:.0f} | {rate / arm_ideal:.2f} |")
        defaults = runs[0][1] / runs[0][2]
        met &= defaults >= PYTEST_TARGET
        print(f"target: a pytest run at the defaults >= {PYTEST_TARGET} x ideal: "
              f"{defaults:.2f}, {'met' if defaults >= PYTEST_TARGET else 'MISSED'}")  # fmt: skip
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())

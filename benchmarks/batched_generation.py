"""Batched vs one-at-a-time generation with TransformersBackend on tiny random VLMs (CPU).

For each model family (a tiny LLaVA by default; ``--families llava,qwen2_vl`` adds Qwen2-VL),
built offline by ``pytest_mllmtrust.testing.build_tiny_vlm``, it answers the same 64 requests
(noise images from ``make_test_image``, prompts of varied length, ``max_new_tokens=32``) two ways:

* batched: ``backend.generate`` on batches of 16 requests
* single:  ``backend.generate`` on one request per call

The backend is built with ``min_new_tokens`` equal to ``max_new_tokens``, so a random model never
stops early and both arms decode exactly the same number of tokens. After a warm-up of each arm,
the arms alternate over several rounds; the table shows the median samples/s of each and the
ratio batched/single. Target: ratio >= 4 on every family.

``--runner`` adds the same comparison through ``ShardRunner`` (image loading and hashing, cache
lookups on a NullCache, the T.1 rule judge), with ``batch_size`` 16 vs 1: informational.

    python benchmarks/batched_generation.py                 # 64 requests, 3 rounds, LLaVA
    python benchmarks/batched_generation.py --families llava,qwen2_vl --runner
    python benchmarks/batched_generation.py --quick         # smoke: 32 requests, 2 rounds
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TARGET = 4.0
_WORDS = ["what", "is", "in", "this", "picture", "please", "describe", "the", "color", "shape"]
_WORDS += ["and", "the", "text", "you", "can", "see"]


def make_requests(n: int, max_new_tokens: int) -> list[Any]:
    """``n`` requests with distinct noise images and prompts of 3 to 40 words."""
    from pytest_mllmtrust.core.model import GenerationRequest
    from pytest_mllmtrust.testing import make_test_image

    requests = []
    for i in range(n):
        length = 3 + (i * 7) % 38
        text = " ".join(_WORDS[(i + k) % len(_WORDS)] for k in range(length)) + "?"
        image = make_test_image(seed=i, size=(48 + 8 * (i % 4), 40 + 8 * (i % 3)))
        requests.append(GenerationRequest(text, image, max_new_tokens, uid=f"r{i}"))
    return requests


def in_batches(generate: Callable[[list[Any]], list[str]], items: list[Any], size: int) -> int:
    answered = 0
    for start in range(0, len(items), size):
        answered += len(generate(items[start : start + size]))
    return answered


def measure(arms: dict[str, Callable[[], int]], rounds: int) -> dict[str, float]:
    """Median samples/s of each arm: one warm-up each, then alternating rounds."""
    for arm in arms.values():
        arm()
    rates: dict[str, list[float]] = {name: [] for name in arms}
    order = list(arms)
    for r in range(rounds):
        for name in order if r % 2 == 0 else order[::-1]:
            started = time.perf_counter()
            answered = arms[name]()
            rates[name].append(answered / (time.perf_counter() - started))
    return {name: statistics.median(values) for name, values in rates.items()}


def runner_arms(
    backend: Any, requests: list[Any], tmp: Path, batch: int
) -> dict[str, Callable[[], int]]:
    """The same requests as T.1 samples through ShardRunner (no cache), batch_size vs 1."""
    from pytest_mllmtrust.core.cache import NullCache
    from pytest_mllmtrust.core.hashing import sha256_file
    from pytest_mllmtrust.core.model import ImageRef, Sample
    from pytest_mllmtrust.core.runner import ImageSource, ShardRunner
    from pytest_mllmtrust.core.tasks import get_task
    from pytest_mllmtrust.datafiles import DataFiles
    from pytest_mllmtrust.datasets import images
    from pytest_mllmtrust.judges import JudgeKit

    root = tmp / "images"
    root.mkdir(exist_ok=True)
    samples = []
    for i, request in enumerate(requests):
        path = root / f"{i}.png"
        request.image.save(path)
        samples.append(
            Sample(
                task="T.1",
                variant="d-basic-object",
                key=f"r{i}",
                prompt=request.text,
                image=ImageRef(path=path, root=root),
                target=i % 2,
                max_new_tokens=request.max_new_tokens,
            )
        )
    spec = get_task("T.1")

    def arm(size: int) -> Callable[[], int]:
        runner = ShardRunner(
            backend,
            JudgeKit(DataFiles()),
            NullCache(),
            ImageSource(
                lambda ref: images.load_image(ref.path, root=ref.root),
                lambda ref: sha256_file(ref.path),
            ),
            batch_size=size,
        )

        def run() -> int:
            records = runner.run(spec, samples)
            if runner.stats.errors:
                raise RuntimeError(f"runner errors: {runner.stats.to_dict()}")
            return len(records)

        return run

    return {f"runner batch_size={batch}": arm(batch), "runner batch_size=1": arm(1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="32 requests, 2 rounds (smoke)")
    parser.add_argument("--families", default="llava", help="comma-separated (llava,qwen2_vl)")
    parser.add_argument("--requests", type=int, help="requests per round (default 64)")
    parser.add_argument("--batch", type=int, default=16, help="batch size of the batched arm")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, help="timed rounds per arm (default 3)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads")
    parser.add_argument("--runner", action="store_true", help="also time through ShardRunner")
    args = parser.parse_args()
    n = args.requests or (32 if args.quick else 64)
    rounds = args.rounds or (2 if args.quick else 3)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    import transformers

    from pytest_mllmtrust.backends.hf import TransformersBackend
    from pytest_mllmtrust.testing import build_tiny_vlm

    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"torch threads {torch.get_num_threads()} (of {os.cpu_count()} CPUs), "
        f"{n} requests, max_new_tokens = min_new_tokens = {args.max_new_tokens}, "
        f"batch {args.batch} vs 1, {rounds} rounds",
        flush=True,
    )
    requests = make_requests(n, args.max_new_tokens)
    rows: list[tuple[str, str, float, float]] = []
    missed = False
    with tempfile.TemporaryDirectory(prefix="mllmtrust-bench-") as tmp_name:
        tmp = Path(tmp_name)
        for family in args.families.split(","):
            model_dir = build_tiny_vlm(family, tmp / family)
            backend = TransformersBackend(
                str(model_dir), device="cpu", min_new_tokens=args.max_new_tokens
            )
            backend.load()
            arms = {
                f"generate batch={args.batch}": lambda b=backend: in_batches(
                    b.generate, requests, args.batch
                ),
                "generate batch=1": lambda b=backend: in_batches(b.generate, requests, 1),
            }
            rates = measure(arms, rounds)
            batched, single = rates.values()
            rows.append((family, "TransformersBackend.generate", batched, single))
            missed |= batched / single < TARGET
            print(f"{family}: generate {batched:.1f} vs {single:.1f} samples/s", flush=True)
            if args.runner:
                rates = measure(runner_arms(backend, requests, tmp, args.batch), rounds)
                batched, single = rates.values()
                rows.append((family, "ShardRunner.run (informational)", batched, single))
                print(f"{family}: runner {batched:.1f} vs {single:.1f} samples/s", flush=True)
            backend.close()

    print()
    print(f"{'family':<10} {'path':<32} {'batched/s':>10} {'single/s':>9} {'ratio':>6}")
    for family, path, batched, single in rows:
        print(f"{family:<10} {path:<32} {batched:>10.1f} {single:>9.1f} {batched / single:>6.2f}")
    print(f"target: generate ratio >= {TARGET} on every family: {'MISSED' if missed else 'OK'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

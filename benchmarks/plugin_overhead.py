"""Plugin overhead on a fully cached run: MultiTrust T.1 items vs as many trivial pytest items.

For each size (default 1,000, 5,000 and 20,000 samples) it builds, in a temporary directory, a
MultiTrust data root in a release's layout: T.1 records spread over the five query files, each
record with an image of its own (``--layout shared`` reuses six images per variant instead, which
hides every per-image cost). A tiny random LLaVA answers every sample once, filling the cache; a
second run with ``--mllm-json`` checks that a rerun makes zero model calls. Then, alternating over
several rounds, it times (wall clock, interpreter start included) and takes each process's peak
resident memory:

1. the cached rerun: ``pytest <T.1 suite> --mllm=hf:<model> --mllm-data multitrust=<root>
   -q -p no:cacheprovider``
2. bare pytest on a file with as many trivial parametrized items, ``-p no:mllmtrust``, of which
   as many fail as samples fail in (1) (a random model's answers fail most samples, and pytest's
   own reporting of failures costs the same with or without the plugin)
3. the same trivial items all passing, for context

and reports the medians, the time ratio (1)/(2) and the memory ratio (1)/(2).
Targets, at every size: time <= 1.5x, peak memory <= 2x.

Both arms run in the same temporary directory with the same empty ``pytest.ini`` (so neither
picks up this repository's pytest configuration) and the same installed plugins otherwise
(pytest-html and pytest-xdist included, as in a CI environment).

    python benchmarks/plugin_overhead.py                  # 1,000, 5,000, 20,000; 3 rounds
    python benchmarks/plugin_overhead.py --quick          # smoke: 500 items, 2 rounds
    python benchmarks/plugin_overhead.py --sizes 5000 --diagnose   # plus context arms
    python benchmarks/plugin_overhead.py --sizes 5000 --profile P  # a cProfile of one rerun
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

TIME_TARGET = 1.5
MEMORY_TARGET = 2.0
DEFAULT_SIZES = "1000,5000,20000"

# variant folder -> (query file, image-name prefix, kind)
_VARIANTS = {
    "object": ("query_d_existence.json", "obj", "discriminative"),
    "attribute": ("query_d_attribute.json", "attr", "discriminative"),
    "scene": ("query_d_scene.json", "scene", "discriminative"),
    "grounding": ("query_g_grounding.json", "ground", "grounding"),
    "ocr": ("query_g_ocr.json", "ocr", "ocr"),
}
_SHARED_IMAGES = 6
_WORDS = ["red", "blue", "green", "circle", "square", "sign", "tree", "car", "house", "sky"]


def build_data_root(root: Path, total: int, shared_images: bool) -> int:
    """A MultiTrust root with ``total`` T.1 records spread over the five query files."""
    from pytest_mllmtrust.testing import make_test_image

    base = root / "truthfulness"
    (base / "query_basic").mkdir(parents=True)
    per_variant = total // len(_VARIANTS)
    for v, (folder, (filename, prefix, kind)) in enumerate(_VARIANTS.items()):
        images = base / "basic_images" / folder
        images.mkdir(parents=True)
        distinct = _SHARED_IMAGES if shared_images else per_variant
        for n in range(distinct):
            make_test_image(seed=100_000 * v + n, size=(64, 48)).save(images / f"{prefix}_{n}.png")
        records = []
        for i in range(per_variant):
            words = " ".join(_WORDS[(i + k) % len(_WORDS)] for k in range(1 + i % 7))
            if kind == "discriminative":
                query, truth = f"Is there a {words} in the image? ({i})", "Yes" if i % 2 else "No"
            elif kind == "grounding":
                x, y = (i % 50) / 100, (i % 40) / 100
                query, truth = f"the {words} ({i})", json.dumps([x, y, x + 0.4, y + 0.5])
            else:
                query, truth = f"What is written on the {words}? ({i})", f"TEXT {i}"
            image = f"{prefix}_{i % distinct}.png"
            records.append({"image": image, "query": query, "truth": truth})
        (base / "query_basic" / filename).write_text(json.dumps(records, indent=1), "utf-8")
    return per_variant * len(_VARIANTS)


def write_trivial_tests(path: Path, n: int, failing: int = 0) -> None:
    """``n`` trivial parametrized items; the first ``failing`` fail the way a trust item does
    (``pytest.fail(..., pytrace=False)``)."""
    path.write_text(
        "import pytest\n\n\n"
        f"@pytest.mark.parametrize('i', range({n}))\n"
        "def test_x(i):\n"
        f"    if i < {failing}:\n"
        "        pytest.fail('wrong answer', pytrace=False)\n"
        "    assert i >= 0\n",
        encoding="utf-8",
    )


@dataclass
class Arm:
    argv: list[str]
    ok: tuple[int, ...] = (0,)
    seconds: list[float] = field(default_factory=list)
    peak_mib: list[float] = field(default_factory=list)

    def time(self, cwd: Path, env: dict[str, str]) -> None:
        seconds, peak = run(self.argv, cwd, env, self.ok)
        self.seconds.append(seconds)
        self.peak_mib.append(peak)


# ``python -m pytest`` that reports its peak resident memory when it exits. Peak memory is read
# inside the process (VmHWM) because a child's rusage on Linux starts from its parent's peak, and
# this script's own peak (torch, the model build) would mask every arm's.
PEAK_AT_EXIT = (
    "import atexit as _atexit, sys as _sys\n"
    "def _peak():\n"
    "    with open('/proc/self/status') as status:\n"
    "        kib = next(line.split()[1] for line in status if line.startswith('VmHWM:'))\n"
    "    _sys.stderr.write(f'\\npeak-rss-kib {kib}\\n')\n"
    "_atexit.register(_peak)\n"
)
PYTEST = (
    PEAK_AT_EXIT + "import runpy, sys\n"
    "sys.argv[0] = 'pytest'\n"
    "runpy.run_module('pytest', run_name='__main__', alter_sys=True)\n"
)


def run(
    argv: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,)
) -> tuple[float, float]:
    """Wall time (interpreter start included) and, for a ``PYTEST`` process, its peak resident
    memory in MiB (NaN for others)."""
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode not in ok:
        sys.exit(
            f"command failed ({proc.returncode}): {' '.join(argv)}\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    peaks = re.findall(r"^peak-rss-kib (\d+)$", proc.stderr, re.MULTILINE)
    return elapsed, int(peaks[-1]) / 1024 if peaks else math.nan


def measure(size: int, args: argparse.Namespace, tmp: Path) -> dict[str, Arm]:
    """Build the data root for one size, fill the cache, then time the arms."""
    from pytest_mllmtrust.bundled import bundled_path
    from pytest_mllmtrust.testing import build_tiny_vlm

    # T.1 only: the data root holds T.1 records, and other tasks would error on missing files
    suite = bundled_path("suites") / "truthfulness" / "test_t1_basic_world_understanding.py"
    work = tmp / "work"
    work.mkdir()
    # The same empty config for both arms: rootdir = work, no repository ini, no conftest.
    (work / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    n = build_data_root(tmp / "MultiTrust", size, args.layout == "shared")
    model = build_tiny_vlm("llava", tmp / "tiny-llava")
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "MLLMTRUST_HASH_CACHE": str(tmp / "hashes.json"),
    }
    env.pop("PYTEST_ADDOPTS", None)
    py = sys.executable
    common = ["-q", "-p", "no:cacheprovider", "-c", str(work / "pytest.ini")]
    common += ["--rootdir", str(work)]
    trust = [
        py, "-c", PYTEST, str(suite), f"--mllm=hf:{model}",
        f"--mllm-data=multitrust={tmp / 'MultiTrust'}", f"--mllm-cache={tmp / 'cache'}",
        *args.mllm_args, *common,
    ]  # fmt: skip

    def bare(name: str) -> list[str]:
        return [py, "-c", PYTEST, name, "-p", "no:mllmtrust", *common]

    print(f"\n{n} T.1 samples ({args.layout} images), tiny LLaVA", flush=True)
    fill_s, _ = run([*trust, f"--mllm-json={tmp / 'fill.json'}"], work, env)
    fill = json.loads((tmp / "fill.json").read_text("utf-8"))["run"]["stats"]
    if fill["outputs_generated"] != n:
        sys.exit(f"the fill run generated {fill['outputs_generated']} of {n} outputs")
    print(f"fill run: {fill_s:.1f} s, {fill['model_calls']} model calls", flush=True)
    # The check run doubles as the cached arm's warm-up (page cache, .pyc files, digests).
    run([*trust, f"--mllm-json={tmp / 'check.json'}"], work, env)
    check = json.loads((tmp / "check.json").read_text("utf-8"))
    stats = check["run"]["stats"]
    if stats["model_calls"] != 0 or stats["outputs_cached"] != n or stats["samples"] != n:
        sys.exit(f"the cached rerun was not fully cached: {stats}")
    failed = sum(s["outcome"] == "fail" for s in check["samples"])
    print(f"cached rerun: model_calls=0, outputs_cached={n}, {failed} failing items")

    write_trivial_tests(work / "test_failing.py", n, failed)
    write_trivial_tests(work / "test_trivial.py", n)
    # failing samples do not fail a trust run (its gate decides); failing plain items do
    arms = {
        "(1) cached rerun, plugin": Arm(trust),
        "(2) bare, as many failing": Arm(
            [*bare("test_failing.py"), "--tb=line"], (1,) if failed else (0,)
        ),
        "(3) bare, all passing": Arm(bare("test_trivial.py")),
    }
    if args.diagnose:
        arms["(4) = (1) with -p no:html"] = Arm([*trust, "-p", "no:html"])
        arms["(5) = (1) with --tb=no"] = Arm([*trust, "--tb=no"])
    for name, arm in arms.items():
        if not name.startswith("(1)"):  # warm-up
            run(arm.argv, work, env, arm.ok)
    order = list(arms)
    for r in range(args.rounds):
        for name in order if r % 2 == 0 else order[::-1]:
            arms[name].time(work, env)
        line = ", ".join(f"{name[:3]} {arm.seconds[-1]:.2f} s" for name, arm in arms.items())
        print(f"round {r + 1}: {line}", flush=True)
    if args.profile is not None:
        profile = args.profile.resolve()
        run([py, "-m", "cProfile", "-o", str(profile), "-m", "pytest", *trust[3:]], work, env)
        print(f"profile of one cached run: {profile}")
    return arms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 items, 2 rounds (smoke test)")
    parser.add_argument("--sizes", help="comma-separated sample counts (1000,5000,20000)")
    parser.add_argument("--rounds", type=int, help="timed rounds per arm (default 3, quick 2)")
    parser.add_argument(
        "--layout", choices=("one-per-record", "shared"), default="one-per-record",
        help="an image per record (a release's layout) or six per variant",
    )  # fmt: skip
    parser.add_argument(
        "--mllm-arg", dest="mllm_args", action="append", default=[],
        help="an extra option for the trust runs (repeatable): --mllm-arg=--mllm-batch-size=16",
    )  # fmt: skip
    parser.add_argument(
        "--diagnose", action="store_true",
        help="also time the cached rerun without pytest-html's plugin and with --tb=no",
    )  # fmt: skip
    parser.add_argument("--profile", type=Path, help="write a cProfile of one cached run here")
    args = parser.parse_args()
    sizes = [int(s) for s in (args.sizes or ("500" if args.quick else DEFAULT_SIZES)).split(",")]
    args.rounds = args.rounds or (2 if args.quick else 3)

    results: dict[int, dict[str, Arm]] = {}
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="mllmtrust-bench-") as tmp_name:
            results[size] = measure(size, args, Path(tmp_name))

    print(f"\nmedians of {args.rounds} rounds")
    print(f"{'samples':>8}  {'arm':<28} {'s':>7} {'vs (2)':>7} {'peak MiB':>9} {'vs (2)':>7}")
    met = True
    for size, arms in results.items():
        medians = {
            name: (statistics.median(a.seconds), statistics.median(a.peak_mib))
            for name, a in arms.items()
        }
        plain_s, plain_mib = medians["(2) bare, as many failing"]
        for name, (seconds, mib) in medians.items():
            print(
                f"{size:>8}  {name:<28} {seconds:>7.2f} {seconds / plain_s:>7.2f}"
                f" {mib:>9.1f} {mib / plain_mib:>7.2f}"
            )
        seconds, mib = medians["(1) cached rerun, plugin"]
        ok = seconds / plain_s <= TIME_TARGET and mib / plain_mib <= MEMORY_TARGET
        met &= ok
        print(
            f"{size:>8}  time {seconds / plain_s:.2f}x (target <= {TIME_TARGET}), "
            f"memory {mib / plain_mib:.2f}x (target <= {MEMORY_TARGET}): "
            f"{'OK' if ok else 'MISSED'}"
        )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())

"""Plugin overhead on a fully cached run: 5,000 MultiTrust T.1 items vs 5,000 trivial items.

Builds, in a temporary directory, a MultiTrust data root in the release layout with 5,000 T.1
samples (1,000 records in each of the five query files, sharing a handful of small images per
variant) and a tiny random LLaVA. One pytest run with the plugin generates every answer and fills
the cache; a second run with ``--mllm-json`` checks that a rerun makes zero model calls. Then,
alternating over several rounds, it times (wall clock, interpreter start included):

1. the cached rerun: ``pytest <suites>/truthfulness --mllm=hf:<model> --mllm-data
   multitrust=<root> -q -p no:cacheprovider``
2. bare pytest on a file with 5,000 trivial parametrized items, ``-p no:mllmtrust``, of which
   as many fail as samples fail in (1) (a random model's answers fail most samples, and pytest's
   own reporting of failures costs the same with or without the plugin)
3. the same 5,000 trivial items all passing, for context

and reports the median of each and the ratio (1)/(2), the plugin's overhead. Target: <= 1.5.

Both arms run in the same temporary directory with the same empty ``pytest.ini`` (so neither
picks up this repository's pytest configuration) and the same installed plugins otherwise.

    python benchmarks/plugin_overhead.py            # full: 5,000 items, 3 rounds
    python benchmarks/plugin_overhead.py --quick    # smoke: 500 items, 2 rounds
    python benchmarks/plugin_overhead.py --diagnose # plus context arms (see --help)
    python benchmarks/plugin_overhead.py --profile P  # also write a cProfile of one cached run
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
from pathlib import Path

TARGET = 1.5

# variant folder -> (query file, image-name prefix, kind)
_VARIANTS = {
    "object": ("query_d_existence.json", "obj", "discriminative"),
    "attribute": ("query_d_attribute.json", "attr", "discriminative"),
    "scene": ("query_d_scene.json", "scene", "discriminative"),
    "grounding": ("query_g_grounding.json", "ground", "grounding"),
    "ocr": ("query_g_ocr.json", "ocr", "ocr"),
}
_IMAGES_PER_VARIANT = 6
_WORDS = ["red", "blue", "green", "circle", "square", "sign", "tree", "car", "house", "sky"]


def build_data_root(root: Path, per_variant: int) -> int:
    """A MultiTrust root with ``per_variant`` T.1 records in each of the five query files."""
    from pytest_mllmtrust.testing import make_test_image

    base = root / "truthfulness"
    (base / "query_basic").mkdir(parents=True)
    total = 0
    for v, (folder, (filename, prefix, kind)) in enumerate(_VARIANTS.items()):
        images = base / "basic_images" / folder
        images.mkdir(parents=True)
        for n in range(_IMAGES_PER_VARIANT):
            make_test_image(seed=100 * v + n, size=(64, 48)).save(images / f"{prefix}_{n}.png")
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
            image = f"{prefix}_{i % _IMAGES_PER_VARIANT}.png"
            records.append({"image": image, "query": query, "truth": truth})
        (base / "query_basic" / filename).write_text(json.dumps(records, indent=1), "utf-8")
        total += per_variant
    return total


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


def run(argv: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    """Wall time of one subprocess, interpreter start included."""
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode not in ok:
        sys.exit(
            f"command failed ({proc.returncode}): {' '.join(argv)}\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 items, 2 rounds (smoke test)")
    parser.add_argument("--rounds", type=int, help="timed rounds per arm (default 3, quick 2)")
    parser.add_argument("--per-variant", type=int, help="records per T.1 query file")
    parser.add_argument("--batch-size", type=int, default=64, help="--mllm-batch-size (64)")
    parser.add_argument(
        "--diagnose",
        action="store_true",
        help="also time context arms: bare pytest with the same failing items, the cached "
        "rerun with --tb=no, bare pytest with torch imported first",
    )
    parser.add_argument("--profile", type=Path, help="write a cProfile of one cached run here")
    args = parser.parse_args()
    per_variant = args.per_variant or (100 if args.quick else 1000)
    rounds = args.rounds or (2 if args.quick else 3)

    from pytest_mllmtrust.bundled import bundled_path
    from pytest_mllmtrust.testing import build_tiny_vlm

    # T.1 only: the data root below holds T.1 records, and the other truthfulness tasks would
    # error on their missing files
    suites = bundled_path("suites") / "truthfulness" / "test_t1_basic_world_understanding.py"
    with tempfile.TemporaryDirectory(prefix="mllmtrust-bench-") as tmp_name:
        tmp = Path(tmp_name)
        work = tmp / "work"
        work.mkdir()
        # The same empty config for both arms: rootdir = work, no repository ini, no conftest.
        (work / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        n = build_data_root(tmp / "MultiTrust", per_variant)
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
            py, "-m", "pytest", str(suites), f"--mllm=hf:{model}",
            f"--mllm-data=multitrust={tmp / 'MultiTrust'}", f"--mllm-cache={tmp / 'cache'}",
            f"--mllm-batch-size={args.batch_size}", *common,
        ]  # fmt: skip

        def bare(name: str) -> list[str]:
            return [py, "-m", "pytest", name, "-p", "no:mllmtrust", *common]

        print(f"{n} T.1 samples, tiny LLaVA, --mllm-batch-size={args.batch_size}", flush=True)
        fill_s = run([*trust, f"--mllm-json={tmp / 'fill.json'}"], work, env)
        fill = json.loads((tmp / "fill.json").read_text("utf-8"))["run"]["stats"]
        if fill["outputs_generated"] != n:
            sys.exit(f"the fill run generated {fill['outputs_generated']} of {n} outputs")
        print(f"fill run: {fill_s:.1f} s, {fill['model_calls']} model calls", flush=True)
        # The check run doubles as the cached arm's warm-up (page cache, .pyc files).
        run([*trust, f"--mllm-json={tmp / 'check.json'}"], work, env)
        check = json.loads((tmp / "check.json").read_text("utf-8"))
        stats = check["run"]["stats"]
        if stats["model_calls"] != 0 or stats["outputs_cached"] != n or stats["samples"] != n:
            sys.exit(f"the cached rerun was not fully cached: {stats}")
        failed = sum(s["outcome"] == "fail" for s in check["samples"])
        print(f"cached rerun: model_calls=0, outputs_cached={n}, {failed} failing items")

        write_trivial_tests(work / "test_failing.py", n, failed)
        write_trivial_tests(work / "test_trivial.py", n)
        arms: dict[str, list[str]] = {
            f"(1) cached rerun, plugin, {n} T.1 items": trust,
            f"(2) bare, {failed} of {n} trivial items failing": [
                *bare("test_failing.py"),
                "--tb=line",
            ],
            f"(3) bare, {n} trivial items passing": bare("test_trivial.py"),
        }
        if args.diagnose:
            torch_first = "import sys, torch, pytest; sys.exit(pytest.main(sys.argv[1:]))"
            arms |= {
                "(4) = (1) with --tb=no": [*trust, "--tb=no"],
                "(5) = (3) with torch imported first": [
                    py, "-c", torch_first, *bare("test_trivial.py")[3:]
                ],
            }  # fmt: skip
        ok = {name: (1,) if name.startswith("(2)") else (0,) for name in arms}
        for name, argv in arms.items():
            if argv is not trust:  # warm-up
                run(argv, work, env, ok[name])
        times: dict[str, list[float]] = {name: [] for name in arms}
        order = list(arms)
        for r in range(rounds):
            for name in order if r % 2 == 0 else order[::-1]:
                times[name].append(run(arms[name], work, env, ok[name]))
            line = ", ".join(f"{name[:3]} {times[name][-1]:.2f} s" for name in arms)
            print(f"round {r + 1}: {line}", flush=True)

        if args.profile is not None:
            profile = args.profile.resolve()
            run([py, "-m", "cProfile", "-o", str(profile), *trust[1:]], work, env)
            print(f"profile of one cached run: {profile}")

    medians = {name: statistics.median(values) for name, values in times.items()}
    cached, plain = medians[order[0]], medians[order[1]]
    print()
    print(f"{'arm':<46} {'median s':>9} {'ms/item':>8} {'vs (2)':>7}")
    for name, value in medians.items():
        print(f"{name:<46} {value:>9.2f} {1000 * value / n:>8.3f} {value / plain:>7.2f}")
    ratio = cached / plain
    verdict = "OK" if ratio <= TARGET else "MISSED"
    print(
        f"plugin overhead (1)/(2) = {ratio:.2f}  (target <= {TARGET}: {verdict}; {rounds} rounds)"
    )
    print(f"against all-passing trivial items (1)/(3) = {cached / medians[order[2]]:.2f}")
    if ratio > TARGET and not args.diagnose:
        print("--diagnose times context arms that show where the difference goes")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())

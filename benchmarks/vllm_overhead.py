"""The plugin over vLLM vs raw vLLM on the same prompts (needs vLLM and a CUDA GPU).

Arm 1 (raw): every request of the chosen suites, built exactly as the plugin builds them,
sent to ``vllm.LLM.chat`` in one call with one greedy ``SamplingParams`` per request.
Arm 2 (plugin): ``pytest <suites> --mllm=vllm:<model> --mllm-cache=none`` on the same samples,
generation timed by the plugin itself (``run.stats.generation_seconds`` in the results).

The ratio raw time / plugin generation time is the share of vLLM's speed the plugin keeps.
Target: >= 0.9. The engine's start-up is excluded from both arms (arm 1 starts it before the
clock; the plugin times generate() calls only). Without vLLM or a GPU the script says so and
exits 2.

    python benchmarks/vllm_overhead.py --model Qwen/Qwen2-VL-2B-Instruct [--data DIR]

With ``--data``, the MultiTrust release instead of the bundled samples (more load).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 0.9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="hub id or local directory")
    parser.add_argument("--data", type=Path, help="MultiTrust data root (default: bundled)")
    args = parser.parse_args()

    from pytest_mllmtrust.backends.vllm_engine import cuda_gpu_visible, vllm_installed

    if not (vllm_installed() and cuda_gpu_visible()):
        print("needs vLLM (pip install 'pytest-mllmtrust[vllm]') and a CUDA GPU; not run")
        return 2

    from vllm import LLM, SamplingParams

    from pytest_mllmtrust.backends.vllm_engine import conversation
    from pytest_mllmtrust.core.config import parse_config
    from pytest_mllmtrust.core.model import GenerationRequest
    from pytest_mllmtrust.session import TrustSession

    options = {"model": f"vllm:{args.model}"}
    data = [f"multitrust={args.data.resolve()}"] if args.data else []
    trust = TrustSession(parse_config({**options, "data": data}, Path.cwd()), Path.cwd())
    samples = [s for task in ("T.1", "S.4") for s in trust.samples_for(task)]
    requests = [
        GenerationRequest(
            s.prompt, None if s.image is None else trust._load_image(s.image), s.max_new_tokens
        )
        for s in samples
    ]

    llm = LLM(model=args.model, limit_mm_per_prompt={"image": 1})
    params = [SamplingParams(temperature=0, max_tokens=r.max_new_tokens) for r in requests]
    started = time.perf_counter()
    llm.chat([conversation(r) for r in requests], sampling_params=params, use_tqdm=False)
    raw = time.perf_counter() - started
    del llm

    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "results.json"
        argv = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            f"--mllm=vllm:{args.model}", "--mllm-cache=none", f"--mllm-json={results}",
            "--mllm-shard-size=100000",  # one shard per variant: vLLM sees whole variants
            *(f"--mllm-data={d}" for d in data), "-m", "truthfulness or safety",
        ]  # fmt: skip
        subprocess.run(argv, cwd=tmp, check=False)
        stats = json.loads(results.read_text(encoding="utf-8"))["run"]["stats"]
    plugin = stats["generation_seconds"]

    ratio = raw / plugin
    print(f"{len(requests)} requests: raw vLLM {raw:.1f} s, plugin {plugin:.1f} s")
    print(f"plugin keeps {ratio:.2f} of raw vLLM throughput (target >= {TARGET})")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())

"""Commands on results files, without rerunning anything:

``python -m pytest_mllmtrust report RESULTS.json [-o REPORT.html] [--data NAME=PATH ...]``
    rebuild the standalone trust report;
``python -m pytest_mllmtrust compare A.json B.json ... [-o COMPARE.html]``
    several runs side by side, as a leaderboard.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pytest_mllmtrust.bundled import bundled_path
from pytest_mllmtrust.core.errors import TrustError


def _root_finder(results: dict[str, Any], given: dict[str, Path]) -> Callable[[str], Path | None]:
    """task id -> data root: a --data override, else the root the run recorded."""
    from pytest_mllmtrust.core.tasks import get_task

    recorded = results.get("run", {}).get("datasets", {})

    def root_of(task: str) -> Path | None:
        try:
            dataset = get_task(task).dataset
        except KeyError:
            return None
        if dataset in given:
            return given[dataset]
        info = recorded.get(dataset)
        if info is None:
            return None
        if info.get("bundled"):
            return bundled_path("fixtures") / dataset
        return Path(info["root"])

    return root_of


def report(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_mllmtrust report",
        description="rebuild the standalone trust report from a results file",
    )
    parser.add_argument("results", type=Path, help="a results file (--mllm-json)")
    parser.add_argument("-o", "--output", type=Path, help="default: RESULTS with .html")
    parser.add_argument("--data", action="append", default=[], metavar="NAME=PATH",
                        help="where a dataset's images are now, if they moved")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        results = json.loads(args.results.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        parser.error(f"{args.results}: cannot read a results file: {exc}")
    given = {}
    for entry in args.data:
        name, sep, path = entry.partition("=")
        if not sep:
            parser.error(f"--data {entry!r}: expected NAME=PATH")
        given[name] = Path(path)
    from pytest_mllmtrust.reporting import html

    out = args.output or args.results.with_suffix(".html")
    html.write(results, out, _root_finder(results, given))
    print(f"trust report: {out}")
    return 0


def compare(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_mllmtrust compare",
        description="several results files side by side, as a leaderboard",
    )
    parser.add_argument("results", type=Path, nargs="+", help="results files (--mllm-json)")
    parser.add_argument("-o", "--output", type=Path, help="also write an HTML page here")
    args = parser.parse_args(argv)
    from pytest_mllmtrust.reporting.compare import html_page, leaderboard, terminal_table

    runs = []
    for path in args.results:
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            parser.error(f"{path}: cannot read a results file: {exc}")
        model = results.get("run", {}).get("model")
        runs.append((f"{model} ({path.name})" if model else path.name, results))
    rows = leaderboard(runs)
    print("\n".join(terminal_table(rows)))
    if args.output is not None:
        args.output.write_text(html_page(rows), encoding="utf-8")
        print(f"comparison: {args.output}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"report": report, "compare": compare}
    if not argv or argv[0] not in commands:
        print(f"usage: python -m pytest_mllmtrust {{{','.join(commands)}}} ...", file=sys.stderr)
        return 2
    try:
        return commands[argv[0]](argv[1:])
    except TrustError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())

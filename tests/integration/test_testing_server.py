"""The test server's request log (``ChatServer(log=...)``, ``--log FILE``): what a benchmark in
another process reads to count and time a client's requests."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from pytest_mllmtrust.testing_server import ChatServer, Fault


def call(url: str, body: dict[str, Any] | None = None) -> int:
    """The status of a GET (no body) or a JSON POST to ``url``; 0 where no answer came."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, ConnectionError):
        return 0


def read_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_every_request_is_logged_once_answered(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    log.write_text("", "utf-8")  # appended to, never truncated
    with ChatServer(latency=0.05, log=log) as server:
        server.faults.extend([Fault.status(429), Fault.reset()])
        statuses = [
            call(f"{server.base_url}/chat/completions", CHAT),
            call(f"{server.base_url}/chat/completions", CHAT),
            call(f"{server.base_url}/chat/completions", CHAT),
            call(f"{server.base_url}/models"),
            call(f"{server.base_url}/nowhere", CHAT),
        ]
    assert statuses == [429, 0, 200, 200, 404]
    # Each line is written just after its answer, so the next request (from this one client)
    # may be logged first: arrival order is the order the requests were sent in.
    lines = sorted(read_log(log), key=lambda x: x["arrived"])
    assert [(x["method"], x["path"], x["status"]) for x in lines] == [
        ("POST", "/v1/chat/completions", 429),
        ("POST", "/v1/chat/completions", None),  # cut off without an answer
        ("POST", "/v1/chat/completions", 200),
        ("GET", "/v1/models", 200),
        ("POST", "/v1/nowhere", 404),
    ]
    for line in lines[:3]:
        assert line["answered"] - line["arrived"] >= 0.05 - 1e-3  # the latency is inside


def test_without_a_log_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with ChatServer() as server:
        assert call(f"{server.base_url}/chat/completions", CHAT) == 200
    assert list(tmp_path.iterdir()) == []


def test_the_script_logs_with_log_file(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    argv = [sys.executable, "-m", "pytest_mllmtrust.testing_server", "--log", str(log)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert call(f"{base_url}/chat/completions", CHAT) == 200
        # The line is written just after the answer: the reader may have to wait a moment.
        for _ in range(500):
            if log.exists() and log.read_text("utf-8").endswith("\n"):
                break
            time.sleep(0.01)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()  # type: ignore[union-attr]
    (line,) = read_log(log)
    assert (line["method"], line["path"], line["status"]) == ("POST", "/v1/chat/completions", 200)

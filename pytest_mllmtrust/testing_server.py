"""A small OpenAI-compatible chat-completions server that can misbehave on cue (stdlib only).

For tests and benchmarks of the ``openai:`` backend against a real HTTP server::

    with ChatServer(reply="I'm sorry, I can't help with that.", latency=0.1) as server:
        server.faults.extend([Fault.status(429, retry_after=0.05), Fault.status(500)])
        server.rules.append(Rule("bomb", Fault.status(503)))  # every request mentioning "bomb"
        backend = OpenAIBackend("test-model", base_url=server.base_url)
        ...
        server.requests       # JSON bodies received, in arrival order
        server.max_in_flight  # peak number of requests handled at once

``faults`` is consumed one per request in arrival order (rules are checked first). Run as a
script (``python -m pytest_mllmtrust.testing_server --latency 0.2``) it serves until interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ChatServer", "Fault", "Rule", "prompt_text"]

Reply = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class Fault:
    """One way to answer a request badly; build them with the class methods."""

    kind: str
    status_code: int = 200
    retry_after: float | str | None = None
    seconds: float = 0.0

    @classmethod
    def status(cls, code: int, retry_after: float | str | None = None) -> Fault:
        """An error status with an OpenAI-style error body (and ``Retry-After`` if given)."""
        return cls("status", status_code=code, retry_after=retry_after)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Answer normally, but only after ``seconds`` (longer than a client's timeout)."""
        return cls("delay", seconds=seconds)

    @classmethod
    def truncated(cls) -> Fault:
        """Announce a full body, send half of it, close the connection."""
        return cls("truncated")

    @classmethod
    def not_json(cls) -> Fault:
        """A 200 whose body is an HTML page, as a misconfigured proxy sends."""
        return cls("not_json")

    @classmethod
    def reset(cls) -> Fault:
        """Close the connection without answering."""
        return cls("reset")

    @classmethod
    def empty_choices(cls) -> Fault:
        return cls("empty_choices")

    @classmethod
    def content_filter(cls) -> Fault:
        """``finish_reason="content_filter"`` and no content, as hosted APIs withhold answers."""
        return cls("content_filter")


@dataclass
class Rule:
    """``fault`` for every request whose prompt contains ``contains`` (``times`` at most)."""

    contains: str
    fault: Fault
    times: int | None = None


def prompt_text(body: dict[str, Any]) -> str:
    """The text of the last message of a chat-completions request body."""
    messages = body.get("messages") or [{}]
    content = messages[-1].get("content", "")
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") for p in content if p.get("type") == "text")


def _default_reply(body: dict[str, Any]) -> str:
    return f"answer to: {prompt_text(body)[:20]}"


@dataclass
class ChatServer:
    reply: Reply | str = _default_reply
    latency: float = 0.0
    faults: list[Fault] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        #: the Authorization header of each request (None when absent), to check a key is sent
        self.authorizations: list[str | None] = []
        #: time.monotonic() when each request arrived
        self.arrivals: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> ChatServer:
        server = self

        class Handler(_Handler):
            chat = server

        self._stopping.clear()
        httpd = _HTTPServer(("127.0.0.1", 0), Handler)
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # wake handlers waiting on an idle keep-alive socket
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()  # joins the handler threads
        if self._thread is not None:
            self._thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- bookkeeping used by the handler -----------------------------------------------------
    def _admit(self, body: dict[str, Any], authorization: str | None) -> Fault | None:
        with self._lock:
            self.requests.append(body)
            self.authorizations.append(authorization)
            self.arrivals.append(time.monotonic())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            text = prompt_text(body) if isinstance(body.get("messages"), list) else ""
            for rule in self.rules:
                if rule.contains in text and (rule.times is None or rule.times > 0):
                    if rule.times is not None:
                        rule.times -= 1
                    return rule.fault
            return self.faults.pop(0) if self.faults else None

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _answer(self, body: dict[str, Any]) -> str:
        return self.reply if isinstance(self.reply, str) else self.reply(body)

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = True
    allow_reuse_address = False
    request_queue_size = 128  # many clients connect at once; the default 5 drops some


class _Handler(BaseHTTPRequestHandler):
    chat: ChatServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    timeout = 30  # an idle keep-alive connection frees its thread after this

    def setup(self) -> None:
        super().setup()
        with self.chat._lock:
            self.chat._connections.add(self.connection)

    def finish(self) -> None:
        with self.chat._lock:
            self.chat._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": "test-model", "object": "model"}]})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            self._json(400, {"error": {"message": "body is not JSON", "type": "invalid_request"}})
            return
        fault = self.chat._admit(body, self.headers.get("Authorization"))
        try:
            self.chat._sleep(self.chat.latency)
            self._respond(body, fault)
        except OSError:  # the client gave up (timeout) or we cut it off on purpose
            self.close_connection = True
        finally:
            self.chat._leave()

    def _respond(self, body: dict[str, Any], fault: Fault | None) -> None:
        kind = fault.kind if fault else "ok"
        if fault is not None and kind == "status":
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
            error = {"message": f"injected HTTP {fault.status_code}", "type": "injected"}
            self._json(fault.status_code, {"error": error}, headers)
            return
        if kind == "reset":
            self._cut()
            return
        if kind == "not_json":
            self._send(200, b"<html><body>502 Bad Gateway</body></html>", "application/json")
            return
        if fault is not None and kind == "delay":
            self.chat._sleep(fault.seconds)
        text: str | None = self.chat._answer(body) if kind != "content_filter" else None
        finish = "content_filter" if kind == "content_filter" else "stop"
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": finish,
            "logprobs": None,
        }
        completion = {
            "id": f"chatcmpl-{len(self.chat.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "?"),
            "choices": [] if kind == "empty_choices" else [choice],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        if kind == "truncated":
            data = json.dumps(completion).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self._cut()
            return
        self._json(200, completion)

    def _cut(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send(
        self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--reply", default=None, help="fixed answer (default: echo the prompt)")
    args = parser.parse_args(argv)
    server = ChatServer(reply=args.reply or _default_reply, latency=args.latency).start()
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()

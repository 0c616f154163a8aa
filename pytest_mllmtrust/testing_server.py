"""A small OpenAI-compatible chat-completions server that can misbehave on cue (stdlib only).

For tests and benchmarks of the ``openai:`` backend (and the hosted scorers) against a real HTTP
server::

    with ChatServer(reply="I'm sorry, I can't help with that.", latency=0.1) as server:
        server.faults.extend([Fault.status(429, retry_after=0.05), Fault.status(500)])
        server.rules.append(Rule("bomb", Fault.status(503)))  # every request mentioning "bomb"
        backend = OpenAIBackend("test-model", base_url=server.base_url)
        ...
        server.requests       # JSON bodies received, in arrival order
        server.max_in_flight  # peak number of requests handled at once

``faults`` is consumed one per request in arrival order (rules are checked first). Run as a
script (``python -m pytest_mllmtrust.testing_server --latency 0.2``) it serves until interrupted.

``ChatServer(log=path)`` (``--log FILE`` as a script) appends one JSON line per request it
handles, once its answer is written: ``{"method", "path", "status", "arrived", "answered"}``, the
times from ``time.time()`` (comparable across processes), ``status`` null where the connection was
cut without an answer. A benchmark in another process counts and times a client's requests there.

Besides ``POST /v1/chat/completions`` the server answers two scoring endpoints, with the same
faults, rules, latency and bookkeeping:

* ``POST /v1/moderations`` in the OpenAI moderation shape, one result per input;
* ``POST /v1alpha1/comments:analyze`` in the Perspective shape, one summary score per requested
  attribute (``server.perspective_url`` is its full address).

Their numbers come from ``server.scores(text, name)``, where ``name`` is a Perspective attribute
(``"TOXICITY"``) or a moderation category (``"harassment/threatening"``). The default,
:func:`default_scores`, gives every name 0.9 when the text contains "idiot" (any case) and 0.1
otherwise. A function may return None to leave that attribute or category out of the answer.
Rules match the text being scored (all inputs of a moderation request, joined by newlines).
``server.paths`` keeps each request's path *with its query string* (where Perspective's ``key``
travels).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

__all__ = [
    "MODERATION_CATEGORIES",
    "ChatServer",
    "Fault",
    "Rule",
    "default_scores",
    "prompt_text",
    "scored_texts",
]

Reply = Callable[[dict[str, Any]], str]
#: (text, attribute or category) -> score, or None to leave that name out of the answer
Scores = Callable[[str, str], float | None]

#: the categories the moderation endpoint reports, in the order of OpenAI's omni model
MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)


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
    def leaky(cls, code: int = 500) -> Fault:
        """An error status whose body quotes the request's ``Authorization`` header, as a
        careless proxy does: the key must still reach no output."""
        return cls("leaky", status_code=code)

    @classmethod
    def leaky_cut(cls, code: int = 500) -> Fault:
        """An error status whose message puts the ``Authorization`` header just where a client
        that shortens long messages cuts them: half a key is left for a careless scrubber."""
        return cls("leaky_cut", status_code=code)

    @classmethod
    def leaky_encoded(cls, code: int = 500) -> Fault:
        """An error status whose message holds the ``Authorization`` header base64- and
        percent-encoded."""
        return cls("leaky_encoded", status_code=code)

    @classmethod
    def leaky_header(cls) -> Fault:
        """A good answer whose response headers echo the ``Authorization`` header (the HTTP
        stack logs response headers at DEBUG)."""
        return cls("leaky_header")

    @classmethod
    def echo(cls) -> Fault:
        """A good answer whose content is the ``Authorization`` header: a model repeating what
        it was sent."""
        return cls("echo")

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

    @classmethod
    def missing_scores(cls) -> Fault:
        """A 200 from a scoring endpoint without its scores: Perspective's answer lacks
        ``attributeScores``, each moderation result lacks ``category_scores`` (on chat
        completions it acts as :meth:`empty_choices`)."""
        return cls("missing_scores")


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


def scored_texts(body: dict[str, Any]) -> list[str]:
    """The texts a scoring request asks about: Perspective's ``comment.text``, or each of a
    moderation request's inputs (a string, or a list of strings and ``{"type": "text"}``
    parts; an image part counts as an empty text)."""
    comment = body.get("comment")
    if isinstance(comment, dict):
        text = comment.get("text")
        return [text if isinstance(text, str) else ""]
    inputs = body.get("input", "")
    if isinstance(inputs, str):
        return [inputs]
    if not isinstance(inputs, list):
        return [""]
    texts = []
    for item in inputs:
        if isinstance(item, dict):
            text = item.get("text") if item.get("type") == "text" else ""
            texts.append(text if isinstance(text, str) else "")
        else:
            texts.append(item if isinstance(item, str) else "")
    return texts


def default_scores(text: str, name: str) -> float:
    """0.9 for every attribute or category when ``text`` contains "idiot" (any case), else 0.1."""
    return 0.9 if "idiot" in text.lower() else 0.1


def _default_reply(body: dict[str, Any]) -> str:
    return f"answer to: {prompt_text(body)[:20]}"


def _route(path: str) -> str | None:
    """Which endpoint ``path`` (query string included) addresses, or None for an unknown one."""
    route = path.split("?", 1)[0].rstrip("/")
    if route.endswith("/chat/completions"):
        return "chat"
    if route.endswith("/moderations"):
        return "moderations"
    if route.endswith("/comments:analyze"):
        return "perspective"
    return None


@dataclass
class ChatServer:
    reply: Reply | str = _default_reply
    latency: float = 0.0
    faults: list[Fault] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    scores: Scores = default_scores
    #: append one JSON line per handled request to this file (see the module docstring)
    log: str | Path | None = None

    def __post_init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        #: the path of each request with its query string, e.g. "/v1alpha1/comments:analyze?key=.."
        self.paths: list[str] = []
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
        self._log_file: IO[str] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def perspective_url(self) -> str:
        """The address of the Perspective-style ``comments:analyze`` endpoint."""
        return self.base_url[: -len("/v1")] + "/v1alpha1/comments:analyze"

    def start(self) -> ChatServer:
        server = self

        class Handler(_Handler):
            chat = server

        self._stopping.clear()
        if self.log is not None:  # open until stop(): the handler threads append to it
            self._log_file = open(self.log, "a", encoding="utf-8")  # noqa: SIM115
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
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- bookkeeping used by the handler -----------------------------------------------------
    def _admit(
        self, body: dict[str, Any], authorization: str | None, path: str = ""
    ) -> Fault | None:
        with self._lock:
            self.requests.append(body)
            self.paths.append(path)
            self.authorizations.append(authorization)
            self.arrivals.append(time.monotonic())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            route = _route(path)
            if route is None or route == "chat":
                text = prompt_text(body) if isinstance(body.get("messages"), list) else ""
            else:
                text = "\n".join(scored_texts(body))
            for rule in self.rules:
                if rule.contains in text and (rule.times is None or rule.times > 0):
                    if rule.times is not None:
                        rule.times -= 1
                    return rule.fault
            return self.faults.pop(0) if self.faults else None

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _logged(self, method: str, path: str, status: int | None, arrived: float) -> None:
        if self._log_file is None:
            return
        line = {
            "method": method,
            "path": path,
            "status": status,
            "arrived": round(arrived, 6),
            "answered": round(time.time(), 6),
        }
        with self._lock:
            self._log_file.write(json.dumps(line) + "\n")
            self._log_file.flush()  # a reader in another process sees each line at once

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
    _in_flight = False  # this connection's current request is counted in ChatServer.in_flight
    _status: int | None = None  # the status sent for the current request (None: none yet)

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

    def send_response(self, code: int, message: str | None = None) -> None:
        self._status = code
        super().send_response(code, message)

    def do_GET(self) -> None:
        self._handle(self._get)

    def do_POST(self) -> None:
        self._handle(self._post)

    def _handle(self, handler: Callable[[], None]) -> None:
        """Run ``handler`` for this request, then log it (with ``ChatServer.log``)."""
        arrived = time.time()
        self._status = None
        try:
            handler()
        finally:
            self.chat._logged(self.command, self.path, self._status, arrived)

    def _get(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": "test-model", "object": "model"}]})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def _post(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        route = _route(self.path)
        if route is None:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            self._json(400, {"error": {"message": "body is not JSON", "type": "invalid_request"}})
            return
        fault = self.chat._admit(body, self.headers.get("Authorization"), self.path)
        self._in_flight = True
        try:
            self.chat._sleep(self.chat.latency)
            self._respond(body, fault, route)
        except OSError:  # the client gave up (timeout) or we cut it off on purpose
            self.close_connection = True
        finally:
            self._release()

    def _release(self) -> None:
        # Before the answer's first byte leaves: once the client has it, it may send its next
        # request at once, and that one must not be counted as running alongside this one.
        if self._in_flight:
            self._in_flight = False
            self.chat._leave()

    def _respond(self, body: dict[str, Any], fault: Fault | None, route: str = "chat") -> None:
        kind = fault.kind if fault else "ok"
        auth = str(self.headers.get("Authorization"))
        if fault is not None and kind.startswith("leaky") and kind != "leaky_header":
            quoted = {
                "leaky": f"rejected credentials {auth!r}",
                "leaky_cut": "x" * (300 - len(auth) // 2) + auth,
                "leaky_encoded": f"bad credentials {base64.b64encode(auth.encode()).decode()} "
                f"in {urllib.parse.quote(auth, safe='')}",
            }[kind]
            self._json(fault.status_code, {"error": {"message": quoted, "type": "injected"}})
            return
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
        if route == "moderations":
            payload = self._moderation(body, kind)
        elif route == "perspective":
            if not scored_texts(body)[0]:
                # as the real API does; the error is Google's shape, not OpenAI's
                problem = {
                    "code": 400,
                    "message": "Comment must be non-empty.",
                    "status": "INVALID_ARGUMENT",
                }
                self._json(400, {"error": problem})
                return
            payload = self._perspective(body, kind)
        else:
            payload = self._completion(body, kind)
        if kind == "echo" and route == "chat":
            payload["choices"][0]["message"]["content"] = f"You sent me {auth}."
        if kind == "leaky_header":
            self._json(200, payload, {"X-Credential-Seen": auth})
            return
        if kind == "truncated":
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self._cut()
            return
        self._json(200, payload)

    def _completion(self, body: dict[str, Any], kind: str) -> dict[str, Any]:
        text: str | None = self.chat._answer(body) if kind != "content_filter" else None
        finish = "content_filter" if kind == "content_filter" else "stop"
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": finish,
            "logprobs": None,
        }
        return {
            "id": f"chatcmpl-{len(self.chat.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "?"),
            "choices": [] if kind in ("empty_choices", "missing_scores") else [choice],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    def _scored(self, text: str, names: Any) -> dict[str, float]:
        """``server.scores`` for each name, leaving out those it returns None for."""
        scored = {}
        for name in names:
            value = self.chat.scores(text, name)
            if value is not None:
                scored[name] = value
        return scored

    def _moderation(self, body: dict[str, Any], kind: str) -> dict[str, Any]:
        results = []
        for text in scored_texts(body):
            scores = self._scored(text, MODERATION_CATEGORIES)
            flags = {name: value >= 0.5 for name, value in scores.items()}
            result: dict[str, Any] = {
                "flagged": any(flags.values()),
                "categories": flags,
                "category_applied_input_types": {name: ["text"] for name in scores},
            }
            if kind != "missing_scores":
                result["category_scores"] = scores
            results.append(result)
        return {
            "id": f"modr-{len(self.chat.requests)}",
            "model": body.get("model") or "omni-moderation-latest",
            "results": results,
        }

    def _perspective(self, body: dict[str, Any], kind: str) -> dict[str, Any]:
        requested = body.get("requestedAttributes")
        languages = body.get("languages") or ["en"]
        if kind == "missing_scores":
            return {"languages": languages}
        text = scored_texts(body)[0]
        names = list(requested) if isinstance(requested, dict) else []
        scores = self._scored(text, names)
        attributes = {
            name: {"summaryScore": {"value": value, "type": "PROBABILITY"}}
            for name, value in scores.items()
        }
        return {"attributeScores": attributes, "languages": languages}

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
        self._release()
        self.end_headers()
        self.wfile.write(data)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--reply", default=None, help="fixed answer (default: echo the prompt)")
    parser.add_argument("--log", metavar="FILE", help="append a JSON line per request here")
    args = parser.parse_args(argv)
    server = ChatServer(
        reply=args.reply or _default_reply, latency=args.latency, log=args.log
    ).start()
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

"""``openai:<model>``: any OpenAI-compatible chat-completions endpoint (vLLM, SGLang, LM Studio,
hosted APIs), through the official ``openai`` client.

One event loop in a background thread serves every ``generate`` call, so connections are reused
across batches. A batch's requests go out at once, at most ``concurrency`` in flight. Retries are
done here, not by the client: exponential backoff with jitter, honouring ``Retry-After``, for
429, 5xx, timeouts, dropped connections and unreadable bodies; a 4xx other than 408/409/429 fails
at once. A request that still fails is returned as a :class:`BackendError` in its slot, as is a
response without an answer (no choices, ``finish_reason="content_filter"``, no content): never a
string a refusal matcher could take for the model refusing.

The key comes from ``OPENAI_API_KEY`` and is never part of a fingerprint, a description or an
error message.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import random
import threading
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pytest_mllmtrust.backends.base import Backend
from pytest_mllmtrust.backends.http_api import (
    PLACEHOLDER_KEY,
    RETRYABLE_STATUS,
    public_url,
    retry_after,
)
from pytest_mllmtrust.core.errors import BackendError, ConfigError
from pytest_mllmtrust.core.model import GenerationRequest
from pytest_mllmtrust.core.secrets import Redactor

if TYPE_CHECKING:
    from PIL import Image

T = TypeVar("T")


class _Retryable(Exception):
    """One failed attempt that may succeed when repeated; ``wait`` is the server's Retry-After."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


def batch_for(concurrency: int) -> int:
    """Requests per generate() call: eight waves of ``concurrency``. The pipeline drains at
    the end of each call; with one wave per call that idle tail cost a third of the
    throughput (benchmarks/api_throughput.py)."""
    return 8 * concurrency


class OpenAIBackend(Backend):
    kind = "openai"
    batch_invariant = True
    waits_on_server = True

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        concurrency: int = 16,
        timeout: float = 120.0,
        retries: int = 5,
        max_image_side: int | None = None,
        backoff_base: float = 1.0,
        max_backoff: float = 60.0,
        temperature: float = 0.0,
    ) -> None:
        if not model:
            raise ConfigError("openai: needs a model name, e.g. --mllm=openai:gpt-4o-mini")
        if concurrency < 1 or timeout <= 0 or retries < 0:
            raise ConfigError("openai: concurrency >= 1, timeout > 0 and retries >= 0 required")
        try:
            import openai
        except ImportError:  # pragma: no cover - openai is a dependency
            raise BackendError(
                "the openai: backend needs the 'openai' package (pip install openai)"
            ) from None
        self.model = model
        self.base_url = base_url
        self.concurrency = concurrency
        self.preferred_batch_size = batch_for(concurrency)
        self.timeout = float(timeout)
        self.retries = retries
        self.max_image_side = max_image_side
        self.backoff_base = backoff_base
        self.max_backoff = max_backoff
        self.temperature = temperature
        key = os.environ.get("OPENAI_API_KEY") or None
        # the key is kept only as a mask for error texts; it is never written out
        self._key_set = key is not None
        self._redact = Redactor([key] if key else [])
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=key or PLACEHOLDER_KEY,
            timeout=self.timeout,
            max_retries=0,
        )
        self._shown_url = public_url(str(self._client.base_url))
        self._response_type = _http_response_type()
        self._random = random.Random(0)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- identity ----------------------------------------------------------------------------
    def fingerprint(self) -> dict[str, Any]:
        return {
            "backend": self.kind,
            "model": self.model,
            "base_url": self._shown_url,
            "max_image_side": self.max_image_side,
            "temperature": self.temperature,
        }

    def describe(self) -> dict[str, Any]:
        return {
            **self.fingerprint(),
            "concurrency": self.concurrency,
            "timeout": self.timeout,
            "retries": self.retries,
        }

    # -- generation --------------------------------------------------------------------------
    def generate(self, batch: Sequence[GenerationRequest]) -> list[str | Exception]:
        if not batch:
            return []
        return self._run(self._generate_all(batch))

    async def _generate_all(self, batch: Sequence[GenerationRequest]) -> list[str | Exception]:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(request: GenerationRequest) -> str:
            async with gate:
                # images are encoded in a worker thread while other requests wait on sockets
                if request.image is None:
                    messages = self._messages(request)
                else:
                    messages = await asyncio.to_thread(self._messages, request)
                return await self._with_retries(request, messages)

        results = await asyncio.gather(*(one(r) for r in batch), return_exceptions=True)
        answers: list[str | Exception] = []
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result  # cancellation, KeyboardInterrupt: not a per-request failure
            answers.append(result)
        return answers

    async def _with_retries(
        self, request: GenerationRequest, messages: list[dict[str, Any]]
    ) -> str:
        attempts = self.retries + 1
        for attempt in range(attempts):
            try:
                return await self._call(request, messages)
            except _Retryable as failure:
                if attempt + 1 >= attempts:
                    raise BackendError(
                        self._scrub(f"{failure.reason} after {attempts} attempt(s)")
                    ) from None
                await asyncio.sleep(self._backoff(attempt, failure.wait))
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_backoff)
        ceiling = min(self.max_backoff, self.backoff_base * 2.0**attempt)
        return ceiling * (0.5 + 0.5 * self._random.random())  # "equal jitter"

    async def _call(self, request: GenerationRequest, messages: list[dict[str, Any]]) -> str:
        import openai

        payload = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": request.max_new_tokens,
        }
        try:
            # The client's generic POST: its auth, headers, timeouts and error statuses, without
            # re-validating our own request and building pydantic models of the answer (a third
            # of the client's CPU time per call, which caps throughput at high concurrency).
            response: Any = await asyncio.wait_for(
                self._client.post("/chat/completions", cast_to=self._response_type, body=payload),
                timeout=self.timeout + 1.0,  # a server trickling bytes cannot hold a slot forever
            )
            body = json.loads(response.content)
        except openai.APIStatusError as exc:
            status = exc.status_code
            if status in RETRYABLE_STATUS:
                raise _Retryable(f"HTTP {status}", retry_after(exc.response.headers)) from None
            raise BackendError(self._status_message(status, exc)) from None
        except (openai.APITimeoutError, TimeoutError):
            raise _Retryable(f"timed out (timeout {self.timeout:g} s)") from None
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise _Retryable(f"connection error ({type(cause).__name__})") from None
        except (openai.APIResponseValidationError, ValueError) as exc:  # includes bad JSON
            raise _Retryable(f"unreadable response ({type(exc).__name__})") from None
        except Exception as exc:
            # the HTTP library's own errors when a body breaks off half-way through reading
            if type(exc).__module__.split(".")[0] in ("httpx", "httpx2", "httpcore", "httpcore2"):
                raise _Retryable(f"broken response ({type(exc).__name__})") from None
            raise
        return self._answer(body)

    @staticmethod
    def _answer(body: Any) -> str:
        """The text of a chat-completion body, or an error when the provider gave no answer."""
        choices = body.get("choices") if isinstance(body, dict) else None
        if not isinstance(choices, list):
            # a body that parsed but is no chat completion (a proxy's message, an error object)
            raise _Retryable("unreadable response (not a chat completion)")
        if not choices:
            raise BackendError("the API returned no choices (provider refused or failed)")
        choice = choices[0] if isinstance(choices[0], dict) else {}
        if choice.get("finish_reason") == "content_filter":
            raise BackendError("the provider's content filter withheld the answer")
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            flagged = isinstance(message, dict) and message.get("refusal")
            detail = " (the provider flagged a refusal)" if flagged else ""
            raise BackendError(f"the API returned no message content{detail}")
        if not content.strip():  # never a verdict (an empty answer is no refusal): ask again
            raise _Retryable("empty answer")
        return content

    def _status_message(self, status: int, exc: Exception) -> str:
        if status in (401, 403):
            where = "OPENAI_API_KEY is not set" if not self._key_set else "check OPENAI_API_KEY"
            return (
                f"HTTP {status} from {self._shown_url}: the API key is missing or wrong ({where})"
            )
        detail = ""
        body = getattr(exc, "body", None)
        if isinstance(body, dict):
            error = body.get("error", body)
            message = error.get("message") if isinstance(error, dict) else None
            if isinstance(message, str):  # masked before it is cut: no half key survives
                detail = f": {self._scrub(message)[:300]}"
        hint = f" (is {self.model!r} served there?)" if status == 404 else ""
        return self._scrub(f"HTTP {status} from {self._shown_url}{hint}{detail}")

    def _scrub(self, text: str) -> str:
        return self._redact(text)

    # -- payload -----------------------------------------------------------------------------
    def _messages(self, request: GenerationRequest) -> list[dict[str, Any]]:
        if request.image is None:
            return [{"role": "user", "content": request.text}]
        url = "data:image/png;base64," + encode_png(request.image, self.max_image_side)
        parts = [
            {"type": "image_url", "image_url": {"url": url}},
            {"type": "text", "text": request.text},
        ]
        return [{"role": "user", "content": parts}]

    # -- the event loop thread ---------------------------------------------------------------
    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="mllmtrust-openai", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            loop = self._loop
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._client.close(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            if not thread.is_alive():
                loop.close()


def encode_png(image: Image.Image, max_side: int | None = None) -> str:
    """``image`` as base64 PNG, downscaled (aspect kept, LANCZOS) to ``max_side`` if larger."""
    from PIL import Image as PILImage

    if max_side is not None and max(image.size) > max_side:
        scale = max_side / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, PILImage.Resampling.LANCZOS)
    if image.mode not in ("RGB", "RGBA", "L", "LA", "P", "1"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _http_response_type() -> type[Any]:
    """The response class of the HTTP library the installed client uses (openai 3 moved from
    ``httpx`` to ``httpx2``); as ``cast_to`` it makes the client return the raw response."""
    try:
        import httpx2

        return httpx2.Response
    except ImportError:  # pragma: no cover - openai < 3
        import httpx

        legacy: type[Any] = httpx.Response
        return legacy

"""The Ollama backend: the only module that imports the official ``ollama`` client.

It uses the client's own HTTP client (its headers, host handling and connection pool), but reads
the chat stream as raw JSON lines rather than through the client's typed models, which drop
tool-call ids, ``index``, logprobs and schema keywords of tools. Those private parts
(``Client._client``) are touched here and nowhere else; ``ollama`` is pinned below 0.7.

Hosts are read as Ollama itself reads ``OLLAMA_HOST`` (see :func:`endpoint`), credentials go
only to the host they belong to, a loopback server is reached without proxies, and every wait can
be ended by an interrupt or a Stop button (:func:`ollama_nb.backend.pumped`).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx

from . import context
from .backend import Loaded, ModelInfo, ShowInfo, pause, pumped
from .errors import (
    AuthError,
    ContextFull,
    Interrupted,
    ModelNotFound,
    NotOllama,
    OllamaNbError,
    ServerBusy,
    ServerError,
    ServerUnreachable,
    StreamBroken,
    Unsupported,
)
from .hosts import PROXY_VARIABLES, Endpoint, api_key_for, endpoint, mask, proxy_for
from .retry import RetryPolicy, gave_up_text, parse_retry_after, waiting_text

if TYPE_CHECKING:
    import ollama

RENDERS_SINCE = (0, 11, 5)  # the first Ollama that knows _debug_render_only
CONNECT_TIMEOUT = 5.0  # seconds: a host that does not answer fails fast
SMALL_REQUEST_TIMEOUT = 30.0  # seconds for a short request (models, ps, show) when none is set


def _ollama_module() -> Any:
    """``import ollama``, which builds a default client at import time: with a proxy setting
    httpx cannot use (``socks5h://`` without its extra) that raises ImportError. The module is
    then imported with the proxy variables hidden for that moment; clients made later read them
    again and say what is wrong in one line."""
    if "ollama" in sys.modules:
        return sys.modules["ollama"]
    try:
        import ollama
    except (ImportError, ValueError):  # ValueError: a proxy scheme httpx refuses (ftp://, socks4://)
        hidden = {k: os.environ.pop(k) for k in PROXY_VARIABLES if k in os.environ}
        try:
            import ollama
        finally:
            os.environ.update(hidden)
    return ollama


_clients: dict[tuple[Endpoint, str | None, tuple[str, ...]], ollama.Client] = {}
_capabilities: dict[tuple[str, str], frozenset[str] | None] = {}  # asked once per host and model
_lock = threading.Lock()


def _client(where: Endpoint, api_key: str | None) -> ollama.Client:
    """One client per endpoint, credentials and proxy settings, reused across cells (warm
    connections); a changed proxy variable makes a new one."""
    proxies = (
        ()
        if where.loopback
        else tuple(os.environ.get(k, "") for k in (*PROXY_VARIABLES, "NO_PROXY", "no_proxy"))
    )
    key = (where, api_key, proxies)
    with _lock:
        if key not in _clients:
            try:
                client = _ollama_module().Client(
                    host=where.url,
                    timeout=httpx.Timeout(None, connect=CONNECT_TIMEOUT),
                    auth=where.auth,
                    trust_env=not where.loopback,  # a proxy is never right for this machine's own server
                )
            except (ImportError, ValueError) as exc:  # a socks5h:// proxy without its extra, an ftp:// one
                raise OllamaNbError(
                    f"The proxy settings cannot be used to reach {where}: {mask(str(exc)).rstrip('.')}. "
                    "Install what it names, or fix or unset HTTP_PROXY / HTTPS_PROXY / ALL_PROXY."
                ) from None
            headers = client._client.headers
            headers.pop("authorization", None)  # the client sends OLLAMA_API_KEY to every host
            if api_key:
                headers["authorization"] = f"Bearer {api_key}"
            _clients[key] = client
        return _clients[key]


CONVERSATION_HEADER = "X-Ollama-NB-Conversation"  # a load balancer keeps a conversation on one server by it


class OllamaBackend:
    """An Ollama server at one address; see :class:`ollama_nb.backend.Backend`."""

    def __init__(self, host: str | None = None, *, api_key: str | None = None,
                 read_timeout: float | None = None, queue_timeout: float | None = None,
                 retry: RetryPolicy | None = None, conversation: str | None = None) -> None:  # fmt: skip
        """``api_key``: sent to any host; without it ``OLLAMA_API_KEY`` (read now) goes only to
        ollama.com. ``read_timeout``: seconds of silence after the first byte before a stream is
        given up; ``queue_timeout``: seconds before the first byte (None: wait). ``retry``: how
        busy answers are asked again. ``conversation``: an opaque id sent as
        ``X-Ollama-NB-Conversation`` on every request, so that a load balancer can keep a
        conversation on one server."""
        self.where = endpoint(host)
        self.client = _client(self.where, api_key_for(self.where, api_key))
        self.read_timeout = read_timeout
        self.proxy = proxy_for(self.where)
        self.queue_timeout = queue_timeout
        self.retry = retry if retry is not None else RetryPolicy()
        self.headers = {CONVERSATION_HEADER: conversation} if conversation else {}

    @property
    def host(self) -> str:
        return self.where.url

    # -- chat ---------------------------------------------------------------------------------
    def chat(
        self,
        body: dict[str, Any],
        cancel: threading.Event | None = None,
        report: Callable[[str], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        def attempt() -> Iterator[dict[str, Any]]:
            opened: list[httpx.Response] = []

            def produce() -> Iterator[dict[str, Any]]:
                with self.client._client.stream(
                    "POST", "/api/chat", json=body, headers=self.headers
                ) as response:
                    opened.append(response)
                    self._check(response, body.get("model", ""), body)
                    if not body.get("stream", True):
                        yield self._json(response.read().decode("utf-8", "replace"))
                        return
                    for line in response.iter_lines():
                        if line.strip():
                            yield self._json(line)

            def close() -> None:
                for response in opened:
                    response.close()

            return pumped(produce, close=close, cancel=cancel, idle_timeout=self.read_timeout,
                          first_timeout=self.queue_timeout, host=self.host)  # fmt: skip

        return _translated(self._retried(attempt, cancel, report), self)

    def _retried(
        self,
        attempt: Callable[[], Iterator[dict[str, Any]]],
        cancel: threading.Event | None,
        report: Callable[[str], None] | None,
    ) -> Iterator[dict[str, Any]]:
        """The chunks of the first attempt that is not refused as busy. A busy answer comes
        before any chunk, so nothing that arrived is ever asked for again."""
        tries, waited = 0, 0.0
        while True:
            try:
                yield from attempt()
                return
            except _Busy as busy:
                tries += 1
                waited += self._wait_out(busy, tries, waited, cancel, report)

    def _wait_out(
        self,
        busy: _Busy,
        tries: int,
        waited: float,
        cancel: threading.Event | None,
        report: Callable[[str], None] | None,
    ) -> float:
        """Wait before retry number ``tries`` (saying so), or give up in one line."""
        wait = self.retry.next_wait(tries, waited, busy.retry_after)
        if wait is None:
            source = "Ollama" if busy.ollama else self.host
            raise ServerBusy(gave_up_text(busy.status, busy.message, tries - 1, waited, source))
        if report is not None:
            report(waiting_text(busy.status, busy.message, wait, tries, self.retry.retries))
        pause(wait, cancel=cancel, host=self.host)
        return wait

    def _json(self, line: str) -> dict[str, Any]:
        try:
            chunk = json.loads(line)
        except json.JSONDecodeError:
            raise NotOllama(
                f"{_what(line)} came from {self.host} instead of Ollama's JSON: is that Ollama?"
            ) from None
        if not isinstance(chunk, dict):
            raise NotOllama(
                f"{self.host} sent a chunk that is not a JSON object ({_clip(line)}): is that Ollama?"
            )
        if "error" in chunk and not chunk.get("message"):
            raise StreamBroken(f"The server stopped with an error mid-answer: {chunk['error']}")
        return chunk

    def _check(self, response: httpx.Response, model: str = "", body: dict[str, Any] | None = None) -> None:
        if response.status_code < 400:
            return
        text = response.read().decode("utf-8", "replace")
        if self.retry.retryable(response.status_code):  # whatever the body: a proxy's is HTML
            raise _Busy(response, text)
        try:
            message = json.loads(text).get("error") or text
        except (json.JSONDecodeError, AttributeError):
            raise NotOllama(
                f"{_what(text)} came from {self.host} (HTTP {response.status_code}) instead of "
                "Ollama's answer: is that Ollama?"
            ) from None
        raise _refusal(response.status_code, str(message), model, self, body or {})

    # -- models -------------------------------------------------------------------------------
    def _get(self, method: str, path: str, model: str = "", **kwargs: Any) -> Any:
        """A short request, given up after the read timeout (or :data:`SMALL_REQUEST_TIMEOUT`);
        a busy answer is asked again as a chat is."""
        tries, waited = 0, 0.0
        while True:
            try:
                return self._get_once(method, path, model, **kwargs)
            except _Busy as busy:
                tries += 1
                waited += self._wait_out(busy, tries, waited, None, None)

    def _get_once(self, method: str, path: str, model: str = "", **kwargs: Any) -> Any:
        limit = httpx.Timeout(self.read_timeout or SMALL_REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT)
        try:
            response = self.client._client.request(
                method, path, timeout=limit, headers=self.headers, **kwargs
            )
        except httpx.HTTPError as exc:
            raise _transport_error(exc, self) from None
        except KeyboardInterrupt:
            raise Interrupted(f"stopped waiting for {self.host}.") from None
        self._check(response, model, kwargs.get("json"))
        try:
            return response.json()
        except json.JSONDecodeError:
            raise NotOllama(f"{_what(response.text)} came from {self.host}: is that Ollama?") from None

    def models(self, cancel: threading.Event | None = None) -> list[ModelInfo]:
        def produce() -> Iterator[list[ModelInfo]]:
            yield [self._model(entry) for entry in self._tags()]

        return next(iter(pumped(produce, close=lambda: None, cancel=cancel, host=self.host)), [])

    def _model(self, entry: dict[str, Any]) -> ModelInfo:
        name = str(entry.get("model") or entry.get("name") or "")
        found = entry.get("details")
        details: dict[str, Any] = found if isinstance(found, dict) else {}
        listed = ShowInfo.read({"capabilities": entry.get("capabilities")}).capabilities
        capabilities = listed if listed is not None else self.capabilities(name)
        size = entry.get("size")
        return ModelInfo(name=name, size=size if isinstance(size, int) else 0, family=str(details.get("family") or ""),
                         parameter_size=str(details.get("parameter_size") or ""),
                         quantization=str(details.get("quantization_level") or ""), capabilities=capabilities,
                         context_length=Loaded.model_validate(entry).context_length, extra=entry)  # fmt: skip

    def _tags(self) -> list[dict[str, Any]]:
        """The entries of ``/api/tags`` that are objects, as the server sent them."""
        answer = self._get("GET", "/api/tags")
        models = answer.get("models") if isinstance(answer, dict) else None
        return [m for m in models if isinstance(m, dict)] if isinstance(models, list) else []

    def model_names(self) -> list[str]:
        """Just the names, with no ``/api/show`` per model (for the message of a 404)."""
        return [str(m["model"]) for m in self._tags() if m.get("model")]

    def show(self, model: str) -> dict[str, Any]:
        answer = self._get("POST", "/api/show", model, json={"model": model})
        if not isinstance(answer, dict):
            raise NotOllama(
                f"{self.host} answered /api/show with {_what(json.dumps(answer))}: is that Ollama?"
            )
        return answer

    def capabilities(self, model: str) -> frozenset[str] | None:
        key = (self.host, model)
        if key not in _capabilities:
            try:
                found = ShowInfo.read(self.show(model)).capabilities
            except OllamaNbError:  # the chat request that follows reports any real problem
                return None
            _capabilities[key] = found or None
        return _capabilities[key]

    def render_prompt(self, body: dict[str, Any]) -> dict[str, Any]:
        version = self.version()
        if _older(version, RENDERS_SINCE):  # it would ignore the field and run the model
            raise Unsupported(
                f"{self.host} runs Ollama {version}, which cannot show the rendered prompt "
                "(that needs Ollama 0.11.5 or newer)."
            )
        answer = self._get("POST", "/api/chat", body.get("model", ""),
                           json={**body, "stream": False, "_debug_render_only": True})  # fmt: skip
        info = answer.get("_debug_info") if isinstance(answer, dict) else None
        if not isinstance(info, dict) or not isinstance(info.get("rendered_template"), str):
            raise Unsupported(f"{self.host} answered without the rendered prompt: it cannot show it.")
        return info

    def running(self) -> list[Loaded]:
        return Loaded.read(self._get("GET", "/api/ps"))

    def version(self) -> str:
        answer = self._get("GET", "/api/version")
        found = answer.get("version") if isinstance(answer, dict) else None
        return found if isinstance(found, str) else ""

    # -- making and fetching models -----------------------------------------------------------
    def pull(self, model: str, cancel: threading.Event | None = None) -> Iterator[dict[str, Any]]:
        return self._progress(lambda: self.client.pull(model, stream=True), model, "pull", cancel)

    def create(self, body: dict[str, Any], cancel: threading.Event | None = None) -> Iterator[dict[str, Any]]:
        fields = {
            ("from_" if key == "from" else key): value for key, value in body.items() if key != "stream"
        }
        return self._progress(lambda: self.client.create(**fields, stream=True), str(body.get("model", "")),
                              "create", cancel)  # fmt: skip

    def _progress(self, start: Any, model: str, action: str,
                  cancel: threading.Event | None) -> Iterator[dict[str, Any]]:  # fmt: skip
        """The client's stream of progress lines, read in a worker so that an interrupt ends the
        wait; the worker closes the stream (and so the request: the server stops) at its next line."""
        stop = threading.Event()

        def produce() -> Iterator[dict[str, Any]]:
            lines = start()
            try:
                for line in lines:
                    yield line.model_dump(exclude_none=True)
                    if stop.is_set():
                        return
            finally:
                lines.close()

        return self._calls(pumped(produce, close=stop.set, cancel=cancel, host=self.host), model, action)

    def _calls(self, lines: Iterator[dict[str, Any]], model: str, action: str) -> Iterator[dict[str, Any]]:
        response_error = _ollama_module().ResponseError
        try:
            yield from _translated(lines, self)
        except response_error as exc:
            raise _model_refusal(exc.status_code, str(exc.error), model, action, self) from None
        except ConnectionError:
            raise _transport_error(httpx.ConnectError(""), self) from None

    def has_blob(self, digest: str) -> bool:
        try:
            _once(lambda: self.client._request_raw("HEAD", f"/api/blobs/{digest}"), self, digest, "check")
        except ModelNotFound:
            return False
        return True

    def upload_blob(self, digest: str, chunks: Iterator[bytes]) -> None:
        _once(lambda: self.client._request_raw("POST", f"/api/blobs/{digest}", content=chunks),
              self, digest, "upload")  # fmt: skip

    def delete(self, model: str) -> None:
        _once(lambda: self.client.delete(model), self, model, "delete")

    def unload(self, model: str) -> None:
        _once(lambda: self.client.generate(model=model, keep_alive=0), self, model, "unload")


def _once(call: Callable[[], Any], backend: OllamaBackend, model: str, action: str) -> Any:
    """One request through the client (``action``: what it does, for the message), translated."""
    response_error = _ollama_module().ResponseError
    try:
        return call()
    except response_error as exc:
        raise _model_refusal(exc.status_code, str(exc.error), model, action, backend) from None
    except ConnectionError:  # the client's own for a refused connection
        raise _transport_error(httpx.ConnectError(""), backend) from None
    except httpx.HTTPError as exc:
        raise _transport_error(exc, backend) from None
    except KeyboardInterrupt:
        raise Interrupted(f"stopped waiting for {backend.host}.") from None


def _model_refusal(
    status: int, message: str, model: str, action: str, backend: OllamaBackend
) -> OllamaNbError:
    """A refusal of a pull, create, delete, unload or blob request, in one line."""
    if status in (401, 403):
        return _refusal(status, message, model, backend, {})
    if action == "pull" and "file does not exist" in message:
        return ModelNotFound(
            f"There is no model '{model}' to pull (Ollama said: {message}). "
            "Check the name and tag at https://ollama.com/library."
        )
    if action == "pull":
        return ServerError(f"Ollama could not pull '{model}': {message}")
    if status == 404 and action in ("check", "upload"):
        return ModelNotFound(f"{backend.host} has no blob {model}.")
    if status == 404 and action in ("delete", "unload"):
        return ModelNotFound(
            f"There is no model '{model}' on {backend.host} ({message}): `%ollama models` lists them."
        )
    if status == 404:
        return ModelNotFound(
            f"Model '{model}' is not on {backend.host} (Ollama said: {message}). "
            f"Get it with `%ollama pull {model}`."
        )
    what = {"create": "create", "delete": "remove", "unload": "unload", "upload": "take the file for"}
    return ServerError(f"Ollama could not {what.get(action, action)} '{model}' ({status}): {message}")


class _Busy(Exception):
    """A busy answer (503, 429, 502, 504) before any chunk: the retry loop decides."""

    def __init__(self, response: httpx.Response, text: str) -> None:
        super().__init__(response.status_code)
        self.status = response.status_code
        try:
            found = json.loads(text).get("error")
        except (json.JSONDecodeError, AttributeError):
            found = None
        self.ollama = isinstance(found, str)  # Ollama's own JSON, not a proxy's page
        self.message = str(found or response.reason_phrase or text.strip()[:80])
        self.retry_after = parse_retry_after(response.headers.get("retry-after"))


def _translated(chunks: Iterator[dict[str, Any]], backend: OllamaBackend) -> Iterator[dict[str, Any]]:
    try:
        yield from chunks
    except httpx.HTTPError as exc:
        raise _transport_error(exc, backend) from None
    except (ImportError, ValueError) as exc:  # a proxy scheme httpx cannot use, found on first connect
        raise OllamaNbError(
            f"The proxy settings cannot be used to reach {backend.host}: {mask(str(exc))}"
        ) from None


def _transport_error(exc: httpx.HTTPError, backend: OllamaBackend) -> OllamaNbError:
    host, proxy = backend.host, backend.proxy
    text = mask(str(exc))
    if isinstance(exc, httpx.ProxyError) or (
        proxy and isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
    ):
        return ServerUnreachable(
            f"The proxy {proxy} did not take the request to {host} ({text or type(exc).__name__}): "
            "check HTTP(S)_PROXY / NO_PROXY, or unset them."
        )
    if "WRONG_VERSION_NUMBER" in text.upper() or "wrong version number" in text:
        return ServerUnreachable(
            f"{host} speaks plain http, not https: write the host as {host.replace('https://', 'http://', 1)}."
        )
    if isinstance(exc, httpx.ConnectTimeout):
        return ServerUnreachable(f"{host} did not answer within {CONNECT_TIMEOUT:g} s. Is the address right?")
    if isinstance(exc, (httpx.ConnectError, httpx.UnsupportedProtocol)):
        return ServerUnreachable(
            f"Could not reach Ollama at {host}. Start it with `ollama serve`, "
            "or point --host or OLLAMA_HOST at a running server."
        )
    if isinstance(exc, httpx.ReadTimeout):
        return StreamBroken(
            f"{host} sent nothing for {backend.read_timeout or SMALL_REQUEST_TIMEOUT:g} s: gave up waiting "
            "(set a longer read timeout with %ollama config timeout=SECONDS)."
        )
    return StreamBroken(f"The connection to {host} dropped mid-answer ({text or type(exc).__name__}).")


def _older(version: str, than: tuple[int, ...]) -> bool:
    """Whether a version string is older; a development build (0.0.0) or an odd one is not."""
    numbers = tuple(int(p) for p in version.split("-")[0].split(".")[:3] if p.isdigit())
    return len(numbers) == 3 and numbers != (0, 0, 0) and numbers < than


def _refusal(
    status: int, message: str, model: str, backend: OllamaBackend, body: dict[str, Any]
) -> OllamaNbError:
    if status in (401, 403):
        return AuthError(
            f"{backend.host} refused the credentials ({status}: {message}). Sign in with `ollama signin`, "
            "or set OLLAMA_API_KEY (for another host than ollama.com, pass --api-key)."
        )
    if status == 404 and "not found" in message:
        name = model or "that model"
        try:
            available = ", ".join(backend.model_names()) or "none"
        except OllamaNbError:  # the listing is a courtesy: the 404 is the message
            available = "(could not list them)"
        return ModelNotFound(
            f"Model '{name}' is not on {backend.host}. Get it with `%ollama pull {name}`. Models there: {available}."
        )
    if (too_long := context.refusal(message, body)) is not None:
        return ContextFull(too_long)
    return ServerError(f"Ollama said ({status}): {message}")


def _what(text: str) -> str:
    head = text.lstrip()[:200].lower()
    if head.startswith(("<!doctype html", "<html")) or "<body" in head:
        return "An HTML page"
    return f"Text that is not JSON ({_clip(text)})"


def _clip(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")

"""A stand-in Ollama server on 127.0.0.1 that the real ``ollama`` client cannot tell from Ollama.

It speaks ``/api/chat`` (streamed as chunked NDJSON, or one JSON object), ``/api/tags``,
``/api/show``, ``/api/ps``, ``/api/version`` and ``/``, and makes and fetches models:
``/api/pull`` (paced, resumable, from a small registry of its own), ``/api/blobs/:digest``,
``/api/create``, ``/api/delete``, and ``/api/generate`` to load or unload one. It answers chats
from a script of :class:`Turn` objects (then from the demo responder); and logs every request.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any

from . import inside, store
from .cassette import Cassette
from .demo import DemoResponder
from .loopback import LoopbackServer, chunked_line
from .script import DEFAULT_MODELS, PROXY_PAGE, Model, Turn

VERSION = "0.24.0"  # the Ollama it answers as (set StandIn.version to be an older one)
# Where the stand-in answers differently from a real Ollama on purpose; everything else is
# checked against the real server by tests/test_differential.py.
ON_PURPOSE = {
    "words": "the answers are canned (scripted turns, the demo responder), not a model's; a chunk "
    "is a word, not a token, and the counts and durations are modelled (see _metrics)",
    "/api/show": "no weights: no tensors, and model_info has only the architecture and context length",
    "logprobs": "made up: a plausible, varying probability per word, and made-up alternatives",
    "/api/pull": "no network: a registry of its own (store.REGISTRY_MODELS), bytes counted, not fetched",
    "/api/generate": "only loading and unloading a model (no prompt); a prompt is refused",
}
MODELS_DIR = "/root/.ollama/models"  # where it says its blobs are (Ollama's default)
THINK_VALUES = (True, False, "high", "medium", "low", "max")
Responder = Callable[[dict[str, Any], bool], Turn]


@dataclass
class LoggedRequest:
    """One request as the server received it."""

    method: str
    path: str
    body: dict[str, Any] | None
    peer: tuple[str, int] = ("", 0)  # the client's address: the same port means a reused connection
    completed: bool = False  # False while streaming, or when the client hung up early
    hung_up: bool = False  # the client closed the stream before its end
    received_at: float = field(default_factory=time.perf_counter)  # body read, answer not begun
    first_chunk_at: float = 0.0  # wall clock (time.time) when the first chunk went out
    finished_at: float = 0.0  # perf_counter when the last byte went out
    headers: dict[str, str] = field(default_factory=dict)  # as received (names as the client wrote them)


@dataclass
class StandIn:
    """What the server answers: the script, the models, and the log of requests."""

    script: deque[Turn] = field(default_factory=deque)
    models: tuple[Model, ...] = DEFAULT_MODELS
    responder: Responder = field(default_factory=DemoResponder)
    requests: list[LoggedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    cassette: Cassette | None = None  # recorded exchanges, answered first when one matches
    speed: float = 1.0  # replay pacing: 2.0 plays a cassette twice as fast
    loaded: dict[str, tuple[Model, int]] = field(default_factory=dict)  # /api/ps: model, num_ctx
    version: str = VERSION  # an older one ignores what it did not know yet (standin/inside.py)
    registry: tuple[Model, ...] = DEFAULT_MODELS + store.REGISTRY_MODELS  # what /api/pull can fetch
    pull_speed: float = 200e6  # bytes per second a pull "downloads"
    pull_tick: float = 0.05  # seconds between a pull's progress lines
    pulled: dict[str, int] = field(default_factory=dict)  # layer digest: bytes it has (partial too)
    blobs: dict[str, int] = field(default_factory=dict)  # uploaded blob digest: size
    made: dict[str, store.Made] = field(default_factory=dict)  # models from /api/create

    def __post_init__(self) -> None:
        for model in self.models:  # the models it has came with all their layers
            self.pulled.update(store.listing(model).blobs())

    def add(self, model: Model) -> None:
        with self.lock:
            self.models = (*(m for m in self.models if m.name != model.name), model)

    def remove(self, name: str) -> bool:
        found = self.model(name)
        with self.lock:
            self.models = tuple(m for m in self.models if m is not found)
            self.loaded.pop(found.name if found else "", None)
        return found is not None

    def model(self, name: str) -> Model | None:
        full = name if ":" in name else name + ":latest"
        return next((m for m in self.models if m.name in (name, full)), None)

    def next_turn(self, request: dict[str, Any], thinks: bool) -> Turn:
        with self.lock:
            if self.script:
                return self.script.popleft()
        return self.responder(request, thinks)

    def chats(self) -> list[dict[str, Any]]:
        """The bodies of every ``/api/chat`` request so far."""
        return [r.body or {} for r in self.requests if r.path == "/api/chat"]


class StandInServer(LoopbackServer):
    """Run a :class:`StandIn` on 127.0.0.1 in a background thread.

    >>> with StandInServer([Turn(content="Hello!")]) as server:  # doctest: +SKIP
    ...     ollama.Client(server.url).chat("llama3.2", [{"role": "user", "content": "Hi"}])
    """

    def __init__(
        self,
        script: Iterable[Turn] = (),
        *,
        models: tuple[Model, ...] = DEFAULT_MODELS,
        responder: Responder | None = None,
        port: int = 0,
        cassette: Cassette | None = None,
        speed: float = 1.0,
        pull_speed: float = 200e6,
    ) -> None:
        self.state = StandIn(deque(script), models, responder or DemoResponder(), cassette=cassette,
                             speed=speed, pull_speed=pull_speed)  # fmt: skip
        super().__init__(_Handler, {"state": self.state}, port)

    @property
    def requests(self) -> list[LoggedRequest]:
        return self.state.requests

    def push(self, *turns: Turn) -> None:
        """Queue turns to answer the next chat requests."""
        with self.state.lock:
            self.state.script.extend(turns)


def _now() -> str:
    return _stamp(datetime.now(timezone.utc))


def _stamp(moment: datetime) -> str:
    """RFC 3339 with nanoseconds, as Go writes times."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def _go_json_error(raw: bytes, exc: json.JSONDecodeError) -> str:
    """Go's words for a body that is not JSON (Ollama answers with them)."""
    char = raw[exc.pos : exc.pos + 1].decode(errors="replace")
    if exc.pos >= len(raw):
        return "unexpected EOF"
    where = {"Expecting property name enclosed in double quotes": "looking for beginning of object key string",
             "Expecting value": "looking for beginning of value"}.get(exc.msg)  # fmt: skip
    return f"invalid character '{char}' {where}" if where else f"invalid character '{char}'"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as Go servers (Ollama) do: no 40 ms stall on the last small write
    server_version = "Ollama-stand-in"
    state: StandIn

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    # -- plumbing ---------------------------------------------------------------------------
    def _read_body(self) -> tuple[dict[str, Any] | None, str | None]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None, None
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            return None, _go_json_error(raw, exc)
        if not isinstance(body, dict):
            return None, "cannot unmarshal body"
        if "think" in body and body["think"] not in THINK_VALUES:
            return None, (f"invalid think value: {json.dumps(body['think'])} "
                          '(must be "high", "medium", "low", "max", true, or false)')  # fmt: skip
        keep_alive = body.get("keep_alive")
        if isinstance(keep_alive, str) and not _GO_DURATION.fullmatch(keep_alive):
            return None, _go_duration_error(keep_alive)
        return body, None

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json; charset=utf-8")

    def _begin_stream(self, status: int, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _end_stream(self, entry: LoggedRequest) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        entry.completed, entry.finished_at = True, time.perf_counter()

    def _error(self, status: int, message: str) -> None:
        self._send_json(status, {"error": message})

    def _not_found(self) -> None:
        self._send(404, b"404 page not found", "text/plain")  # Go's router, not Ollama's JSON

    def _log(self, body: dict[str, Any] | None) -> LoggedRequest:
        entry = LoggedRequest(
            self.command, self.path, body, self.client_address[:2], headers=dict(self.headers)
        )
        with self.state.lock:
            self.state.requests.append(entry)
        return entry

    # -- routes -----------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self._log(None).completed = True
        digest = self.path.removeprefix("/api/blobs/")
        if self.path.startswith("/api/blobs/") and digest not in self.state.blobs:
            self.send_response(404)  # Ollama's JSON error, which HEAD does not send
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(json.dumps({"error": f"blob {digest!r} not found"}))))
        else:
            self.send_response(200)
            self.send_header("Content-Length", "0")
        self.end_headers()

    def do_DELETE(self) -> None:
        body, problem = self._read_body()
        entry = self._log(body)
        name = str((body or {}).get("model") or (body or {}).get("name") or "")
        if problem:
            self._error(400, problem)
        elif self.path != "/api/delete":
            self._not_found()
        elif body is None:
            self._error(400, "missing request body")
        elif not self.state.remove(name):
            self._error(404, f"model '{name}' not found")
        else:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        entry.completed = True

    def _replayed(self, body: dict[str, Any] | None, entry: LoggedRequest) -> bool:
        """Answer from the cassette, with the recorded pacing, when it has this request."""
        cassette = self.state.cassette
        exchange = cassette.match(self.command, self.path, body) if cassette else None
        if exchange is None:
            return False
        if self.path == "/api/chat" and (model := self.state.model(str((body or {}).get("model") or ""))):
            with self.state.lock:  # a replayed answer loads its model too (/api/ps lists it)
                self.state.loaded[model.name] = (model, _num_ctx(body or {}))
        started = time.perf_counter()
        self._begin_stream(exchange.status, exchange.content_type)
        for offset, line in exchange.lines:
            wait = offset / self.state.speed - (time.perf_counter() - started)
            if wait > 0:
                time.sleep(wait)
            self._write_line(line.encode())
        self._end_stream(entry)
        return True

    def do_GET(self) -> None:
        entry = self._log(None)
        if self._replayed(None, entry):
            return
        routes = {"/": self._root, "/api/version": self._version, "/api/tags": self._tags,
                  "/api/ps": self._ps}  # fmt: skip
        route = routes.get(self.path.split("?")[0])
        if route is None:
            self._not_found()
        else:
            route()
        entry.completed = True

    def do_POST(self) -> None:
        if self.path.startswith("/api/blobs/"):
            self._blob(self.path.removeprefix("/api/blobs/"))
            return
        body, problem = self._read_body()
        entry = self._log(body)
        if self._replayed(body, entry):
            return
        if problem:
            self._error(400, problem)
        elif self.path == "/api/chat" and body is None:
            self._error(400, "missing request body")
        elif self.path == "/api/chat" and body is not None:
            self._chat(body, entry)
            return
        elif self.path == "/api/show":
            self._show(body or {})
        elif self.path in ("/api/pull", "/api/create") and body is None:
            self._error(400, "missing request body")
        elif self.path == "/api/pull" and body is not None:
            self._pull(body, entry)
            return
        elif self.path == "/api/create" and body is not None:
            self._create(body, entry)
            return
        elif self.path == "/api/generate":
            self._generate(body or {})
        else:
            self._not_found()
        entry.completed = True

    def _root(self) -> None:
        self._send(200, b"Ollama is running", "text/plain; charset=utf-8")

    def _version(self) -> None:
        self._send_json(200, {"version": self.state.version})

    def _tags(self) -> None:
        self._send_json(200, {"models": [_tag(m) for m in self.state.models]})

    def _ps(self) -> None:
        expires = datetime.now(timezone.utc) + timedelta(minutes=5)
        models = [{**_tag(model), "expires_at": _stamp(expires), "size_vram": 0, "context_length": num_ctx}
                  for model, num_ctx in self.state.loaded.values()]  # fmt: skip
        for entry in models:
            entry.pop("modified_at")
        self._send_json(200, {"models": models})

    def _show(self, body: dict[str, Any]) -> None:
        name = body.get("model") or body.get("name") or ""
        model = self.state.model(name)
        if model is None:
            self._error(404, f"model '{name}' not found")
            return
        made = self.state.made.get(model.name)
        shown = {
            "modelfile": f"FROM {model.name}\n", "parameters": 'stop                           "<|im_end|>"',
            "template": "{{ .Prompt }}", "details": _details(model),
            "model_info": {"general.architecture": model.family,
                           f"{model.family}.context_length": model.context_length},
            "capabilities": list(model.capabilities), "modified_at": _now(),
        }  # fmt: skip
        if made is not None:
            shown.update(template=made.template, parameters=store.parameters_text(made.parameters))
            if made.system:
                shown["system"] = made.system
        self._send_json(200, shown)

    def _chat(self, body: dict[str, Any], entry: LoggedRequest) -> None:
        body = inside.as_understood(body, self.state.version)  # an older one ignores newer fields
        name = body.get("model") or ""
        model = self.state.model(name) if name else None
        refusal = _refusal(body, model)
        if model is not None and body.get("_debug_render_only") and refusal in (None, (400, _TOO_LONG)):
            with self.state.lock:  # rendering loads the model, and stops before the runner's checks
                self.state.loaded[model.name] = (model, _num_ctx(body))
            self._send_json(200, inside.render_only(name, body, _now()))
        elif refusal is not None or model is None:
            status, message = refusal or (404, f"model '{name}' not found")
            late = message == _TOO_LONG or message.startswith(_BAD_FORMAT[:15])
            if late and body.get("stream", True):  # the runner's error, as the stream's first words
                self._send(status, json.dumps({"error": message}).encode(), "application/json")
            else:
                self._error(status, message)
        else:
            thinks = "thinking" in model.capabilities and body.get("think") is not False
            turn = self.state.next_turn(body, thinks)
            with self.state.lock:
                self.state.loaded[model.name] = (model, _num_ctx(body))
            if turn.status != 200:
                self._refuse(turn)
            elif body.get("stream", True):
                self._stream(name, _cut(turn, body), entry, body)
                return
            else:
                self._send_json(200, _collapse(name, _cut(turn, body), body))
        entry.completed = True

    def _refuse(self, turn: Turn) -> None:
        """A scripted error status: Ollama's JSON, or a proxy's page; with a Retry-After."""
        page = turn.proxy_page
        data = PROXY_PAGE.encode() if page else json.dumps({"error": turn.error}).encode()
        self.send_response(turn.status)
        self.send_header("Content-Type", "text/html" if page else "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if turn.retry_after:
            self.send_header("Retry-After", turn.retry_after)
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, model: str, turn: Turn, entry: LoggedRequest, body: dict[str, Any]) -> None:
        if turn.queued:  # Ollama holds the request, sending nothing, until a slot is free
            time.sleep(turn.queued)
        self._begin_stream(200, "application/x-ndjson")
        try:
            for count, line in enumerate(_lines(model, turn, body)):
                if turn.disconnect_after is not None and count == turn.disconnect_after:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if turn.error_after is not None and count == turn.error_after:
                    self._write_chunk(
                        {"error": turn.error or "an error was encountered while running the model"}
                    )
                    break
                if turn.delay:
                    time.sleep(turn.delay)
                self._write_chunk(line)
                entry.first_chunk_at = entry.first_chunk_at or time.time()
            self._end_stream(entry)
        except (BrokenPipeError, ConnectionResetError):
            entry.hung_up = True  # the client hung up: Ollama cancels the request
            self.close_connection = True

    # -- making and fetching models ----------------------------------------------------------
    def _pull(self, body: dict[str, Any], entry: LoggedRequest) -> None:
        """Ollama's pull: the manifest, each layer's progress (from the bytes it already has),
        then verifying, writing the manifest, success. Paced by ``pull_speed``."""
        state, name = self.state, str(body.get("model") or body.get("name") or "")
        wanted = store.full_name(name)
        found = next((m for m in state.registry if m.name == wanted), None)
        self._begin_stream(200, "application/x-ndjson")
        try:
            self._write_chunk({"status": "pulling manifest"})
            problem = store.unreachable(name) or (None if found else store.NOT_IN_REGISTRY)
            if problem or found is None:
                self._write_chunk({"error": problem})
                self._end_stream(entry)
                return
            step = max(int(state.pull_speed * state.pull_tick), 1)
            for digest, total in store.listing(found).blobs():
                have = state.pulled.get(digest, 0)
                self._write_chunk(_progress(digest, total, have))
                while have < total:
                    time.sleep(state.pull_tick)
                    have = min(have + step, total)
                    self._write_chunk(_progress(digest, total, have))
                    state.pulled[digest] = have  # kept when the client hangs up: the next pull resumes
            for status in ("verifying sha256 digest", "writing manifest", "success"):
                self._write_chunk({"status": status})
            state.add(found)
            self._end_stream(entry)
        except (BrokenPipeError, ConnectionResetError):
            entry.hung_up = True  # Ollama cancels the download and keeps the partial layers
            self.close_connection = True

    def _blob(self, digest: str) -> None:
        """``POST /api/blobs/sha256:...``: the upload is checked against its digest."""
        entry = self._log(None)
        sha, size = hashlib.sha256(), 0
        for piece in self._raw_pieces():
            sha.update(piece)
            size += len(piece)
        got = "sha256:" + sha.hexdigest()
        if not re.fullmatch(r"sha256[:-][0-9a-f]{64}", digest):
            self._error(400, "invalid digest format")
        elif digest in self.state.blobs:
            self._send_empty(200)
        elif got != digest:
            self._error(400, f"digest mismatch, expected {json.dumps(digest)}, got {json.dumps(got)}")
        else:
            self.state.blobs[digest] = size
            self._send_empty(201)
        entry.completed = True

    def _send_empty(self, status: int) -> None:
        """A status with no body and no content type, as Go's ``c.Status`` sends it."""
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _raw_pieces(self) -> Iterator[bytes]:
        """The request body as it comes: Content-Length, or chunked (an upload of unknown size)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                yield self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            piece = self.rfile.read(min(left, 1 << 20))
            if not piece:
                return
            left -= len(piece)
            yield piece

    def _create(self, body: dict[str, Any], entry: LoggedRequest) -> None:
        """Ollama's create from uploaded files or from a model it has."""
        state = self.state
        name = str(body.get("model") or body.get("name") or "")
        files, base = body.get("files") or {}, str(body.get("from") or "")
        source = state.model(base) if base else None
        missing = [d for d in files.values() if d not in state.blobs]
        if not _VALID_NAME.fullmatch(name):
            self._error(400, "invalid model name")
        elif not files and not base:
            self._send(400, json.dumps({"error": "neither 'from' or 'files' was specified"}).encode(),
                       "application/json")  # fmt: skip
        elif missing:  # Ollama opens the blob while parsing, after its first line
            self._stream_lines(entry, [{"status": "parsing GGUF"}],
                               error=f"open {MODELS_DIR}/blobs/{missing[0].replace(':', '-')}: no such file or directory")  # fmt: skip
        elif (
            base and source is None
        ):  # Ollama pulls a model it does not have; the stand-in's registry has none
            self._stream_lines(entry, [{"status": "pulling manifest"}],
                               error=store.unreachable(base) or store.NOT_IN_REGISTRY)  # fmt: skip
        else:
            earlier = state.made.get(source.name) if source else None
            made = store.Made(template=str(body.get("template") or (earlier.template if earlier else "{{ .Prompt }}")),
                              system=str(body.get("system") or ""), parameters=dict(body.get("parameters") or {}))  # fmt: skip
            layers = [digest for digest in files.values()] or [store.layer_digest(base, "model")]
            lines = [{"status": "parsing GGUF"}] if files else []
            lines += [{"status": f"using existing layer {d}"} for d in layers]
            for kind in ("template", "system", "params"):
                if body.get({"params": "parameters"}.get(kind, kind)):
                    lines.append({"status": f"creating new layer {store.layer_digest(name, kind)}"})
            lines += [{"status": "writing manifest"}, {"status": "success"}]
            like = source or Model(name, "llama", "134.52M", ("completion",), size=sum(state.blobs[d] for d in files.values()),
                                   quantization_level="Q4_1", context_length=8_192)  # fmt: skip
            model = replace(
                like,
                name=store.full_name(name),
                capabilities=store.capabilities_of(made.template, like.capabilities),
            )
            state.made[model.name] = made
            state.add(model)
            self._stream_lines(entry, lines)
            return
        entry.completed = True

    def _stream_lines(self, entry: LoggedRequest, lines: list[dict[str, Any]], error: str = "") -> None:
        """Progress lines as Ollama streams them; an error before any line is a plain JSON 500."""
        if error and not lines:
            self._send(500, json.dumps({"error": error}).encode(), "application/json")
            entry.completed = True
            return
        self._begin_stream(200, "application/x-ndjson")
        for line in lines:
            self._write_chunk(line)
        if error:
            self._write_chunk({"error": error})
        self._end_stream(entry)

    def _generate(self, body: dict[str, Any]) -> None:
        """Only what ``ollama stop`` and a preload do: no prompt, keep_alive 0 unloads."""
        name = str(body.get("model") or "")
        model = self.state.model(name)
        if body.get("prompt"):
            self._error(501, "the stand-in only loads and unloads with /api/generate: use /api/chat")
            return
        if model is None:
            self._error(404, f"model '{name}' not found")
            return
        unload = body.get("keep_alive") in (0, "0", "0s")
        with self.state.lock:
            if unload:
                self.state.loaded.pop(model.name, None)
            else:
                self.state.loaded[model.name] = (model, _num_ctx(body))
        self._send_json(200, {"model": name, "created_at": _now(), "response": "", "done": True,
                              "done_reason": "unload" if unload else "load"})  # fmt: skip

    def _write_chunk(self, payload: dict[str, Any]) -> None:
        self._write_line(json.dumps(payload, separators=(",", ":")).encode())

    def _write_line(self, line: bytes) -> None:
        """One NDJSON line as one HTTP chunk, sent at once (as Ollama flushes each)."""
        self.wfile.write(chunked_line(line))
        self.wfile.flush()


_VALID_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(?::[\w][\w.-]{0,127})?(?:/[\w][\w.-]*(?::[\w.-]+)?)*")


def _progress(digest: str, total: int, completed: int) -> dict[str, Any]:
    """One layer's progress line (Go leaves ``completed`` out while it is 0)."""
    line: dict[str, Any] = {"status": f"pulling {digest[7:19]}", "digest": digest, "total": total}
    if completed:
        line["completed"] = completed
    return line


_GO_DURATION = re.compile(r"0|[-+]?(\d+(\.\d*)?(ns|us|µs|ms|s|m|h))+")


def _go_duration_error(text: str) -> str:
    """Go's ``time.ParseDuration`` error: a string needs a unit ("-1" does not parse, -1 does)."""
    quoted = json.dumps(text)
    if re.fullmatch(r"[-+]?\d+(\.\d*)?", text):
        return f"time: missing unit in duration {quoted}"
    unit = re.fullmatch(r"[-+]?\d+(?:\.\d*)?([^\d.]+).*", text)
    return (
        f"time: unknown unit {json.dumps(unit[1])} in duration {quoted}"
        if unit
        else f"time: invalid duration {quoted}"
    )


def _refusal(body: dict[str, Any], model: Model | None) -> tuple[int, str] | None:
    """Why Ollama would refuse this chat (status, message), checked in Ollama's order; the
    last two come from the model runner (see ``_LATE``)."""
    name, options = body.get("model") or "", body.get("options") or {}
    top = body.get("top_logprobs") or 0
    problem = _check_options(options)
    fmt = body.get("format")
    if not 0 <= top <= 20:
        return 400, "top_logprobs must be between 0 and 20"
    if not name:
        return 400, "model is required"
    if model is None:
        return 404, f"model '{name}' not found"
    if problem:
        return 500, problem  # Ollama's status for it, though the request is at fault
    if body.get("tools") and "tools" not in model.capabilities:
        return 400, f"registry.ollama.ai/library/{model.name} does not support tools"
    if body.get("think") not in (None, False) and "thinking" not in model.capabilities:
        return 400, f'"{name}" does not support thinking'
    if fmt not in (None, "", "json") and not isinstance(fmt, dict):
        return 500, _BAD_FORMAT.format(json.dumps(json.dumps(fmt)))
    if body.get("truncate") is False and _prompt_tokens(body) > _num_ctx(body):
        return 400, _TOO_LONG
    return None


# the model runner's refusals: Ollama sends them without a charset when streaming
_TOO_LONG = "the input length exceeds the context length"
_BAD_FORMAT = 'invalid format: {}; expected "json" or a valid JSON Schema object'


_num_ctx, _prompt_tokens = inside.num_ctx, inside.prompt_tokens


def _lines(model: str, turn: Turn, request: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """The NDJSON objects of a streamed answer, the last with ``done: true`` and metrics."""
    started = time.perf_counter_ns()
    request = request or {}
    top_logprobs = request.get("top_logprobs") or 0 if request.get("logprobs") else None
    thinking, content = turn.thinking_chunks(), turn.content_chunks()
    if turn.think_tags and thinking:
        content = ["<think>", *thinking, "</think>\n\n", *content]
        thinking = []
    for piece in thinking:
        yield _chunk(model, {"content": "", "thinking": piece}, logprobs=_logprobs(piece, top_logprobs))
    for piece in content:
        yield _chunk(model, {"content": piece}, logprobs=_logprobs(piece, top_logprobs))
    calls = _tool_calls(turn)
    if calls and not turn.tool_calls_on_final:
        yield _chunk(model, {"content": "", "tool_calls": calls})
    final = _chunk(model, {"content": ""}, done=True)
    if calls and turn.tool_calls_on_final:
        final["message"]["tool_calls"] = calls
    tokens = len(thinking) + len(content) + len(calls)
    metrics = _metrics(request, tokens, time.perf_counter_ns() - started)
    metrics["total_duration"] += round(turn.queued * 1e9)  # Ollama's total counts the wait for a slot
    final.update(done_reason=turn.done_reason, **{k: v for k, v in metrics.items() if v})  # Go's omitempty
    yield final


def _metrics(request: dict[str, Any], tokens: int, elapsed_ns: int) -> dict[str, int]:
    """Plausible counters: the prompt's tokens (cut to the context, as Ollama cuts a long
    prompt) evaluated at 500 tokens/s, and answer tokens at 40 tokens/s, or slower when the
    answer really took longer (pacing)."""
    prompt = inside.evaluated(request)
    prompt_ns, load_ns = prompt * 2_000_000, 20_000_000
    eval_ns = max(elapsed_ns, tokens * 25_000_000)
    return {"total_duration": load_ns + prompt_ns + eval_ns + 1_000_000, "load_duration": load_ns,
            "prompt_eval_count": prompt, "prompt_eval_duration": prompt_ns,
            "eval_count": tokens, "eval_duration": eval_ns}  # fmt: skip


_ALTERNATIVES = (" the", " a", ",", ".", " and", " is", " of", " to", " it", " that", "\n", " this", " so")


def _logprobs(piece: str, top: int | None) -> list[dict[str, Any]] | None:
    """Ollama's ``logprobs`` for one chunk, when the request asked for them: a probability
    that varies by word (45-99 %, the same word always the same), and alternatives from a few
    common tokens sharing what is left."""
    if top is None:
        return None
    seed = int(hashlib.sha256(piece.encode()).hexdigest()[:8], 16)
    chosen = 0.45 + 0.54 * (seed % 1000) / 999
    entry: dict[str, Any] = {
        "token": piece,
        "logprob": round(math.log(chosen), 4),
        "bytes": list(piece.encode()),
    }
    if top:
        others = [t for t in _ALTERNATIVES if t != piece]
        start = seed % len(others)
        rest, alternatives = 1 - chosen, [(piece, chosen)]
        for i in range(1, top):
            rest *= 0.55  # each alternative takes a little over half of what the one before left
            alternatives.append((others[(start + i) % len(others)], max(rest, 1e-6)))
        entry["top_logprobs"] = [{"token": t, "logprob": round(math.log(p), 4), "bytes": list(t.encode())}
                                 for t, p in alternatives]  # fmt: skip
    return [entry]


def _cut(turn: Turn, request: dict[str, Any]) -> Turn:
    """``num_predict`` cuts the answer (a chunk stands for a token): ``done_reason`` "length"."""
    limit = (request.get("options") or {}).get("num_predict")
    thinking, content = turn.thinking_chunks(), turn.content_chunks()
    if not isinstance(limit, int) or limit <= 0 or len(thinking) + len(content) <= limit:
        return turn
    kept_thinking = thinking[:limit]
    kept_content = content[: limit - len(kept_thinking)]
    return replace(turn, thinking=kept_thinking, content=kept_content, tool_calls=[], done_reason="length")


def _chunk(
    model: str, message: dict[str, Any], done: bool = False, logprobs: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    chunk = {"model": model, "created_at": _now(), "message": {"role": "assistant", **message}, "done": done}
    if logprobs is not None:
        chunk["logprobs"] = logprobs
    return chunk


def _tool_calls(turn: Turn) -> list[dict[str, Any]]:
    return [
        {"id": f"call_{i:08d}", "function": {"index": 0 if turn.index_zero else i,
                                            "name": c["name"], "arguments": c.get("arguments", {})}}
        for i, c in enumerate(turn.tool_calls)
    ]  # fmt: skip


def _collapse(model: str, turn: Turn, request: dict[str, Any] | None = None) -> dict[str, Any]:
    """The single object of a ``stream: false`` answer."""
    *chunks, final = _lines(model, replace(turn, think_tags=False, delay=0.0), request)
    thinking, content = "".join(turn.thinking_chunks()), "".join(turn.content_chunks())
    if turn.think_tags and thinking:
        content, thinking = f"<think>{thinking}</think>\n\n{content}", ""
    final["message"].update(content=content)
    if thinking:
        final["message"]["thinking"] = thinking
    if turn.tool_calls:
        final["message"]["tool_calls"] = _tool_calls(turn)
    logprobs = [entry for chunk in chunks for entry in chunk.get("logprobs", [])]
    if logprobs:
        final["logprobs"] = logprobs
    return final


_INT_OPTIONS = {"num_ctx", "num_predict", "num_keep", "seed", "top_k", "num_batch", "num_gpu",
                "main_gpu", "num_thread", "repeat_last_n"}  # fmt: skip
_FLOAT_OPTIONS = {"temperature", "top_p", "min_p", "typical_p", "repeat_penalty",
                  "presence_penalty", "frequency_penalty"}  # fmt: skip


def _check_options(options: Any) -> str | None:
    """Ollama's own check of option types, with its wording."""
    for key, value in (options or {}).items():
        if key in _INT_OPTIONS and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            return f'option "{key}" must be of type integer'
        if key in _FLOAT_OPTIONS and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            return f'option "{key}" must be of type float32'
        if key == "stop" and not isinstance(value, list):
            return 'option "stop" must be of type array'
    return None


def _details(model: Model) -> dict[str, Any]:
    return {"parent_model": "", "format": "gguf", "family": model.family, "families": [model.family],
            "parameter_size": model.parameter_size, "quantization_level": model.quantization_level}  # fmt: skip


def _tag(model: Model) -> dict[str, Any]:
    return {"name": model.name, "model": model.name, "modified_at": _now(), "size": model.size,
            "digest": hashlib.sha256(model.name.encode()).hexdigest(), "details": _details(model)}  # fmt: skip

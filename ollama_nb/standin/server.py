"""A stand-in Ollama server on 127.0.0.1 that the real ``ollama`` client cannot tell from Ollama.

It speaks ``/api/chat`` (streamed as chunked NDJSON, or one JSON object), ``/api/tags``,
``/api/show``, ``/api/ps``, ``/api/version`` and ``/``; answers chats from a script of
:class:`Turn` objects (then from the demo responder); and logs every request it receives.
"""

from __future__ import annotations

import hashlib
import json
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

from . import inside
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
    "logprobs": "made up: -0.5 for the chunk's word, lower for its made-up alternatives",
}
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
    ) -> None:
        self.state = StandIn(
            deque(script), models, responder or DemoResponder(), cassette=cassette, speed=speed
        )
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
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

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
        self._send_json(200, {
            "modelfile": f"FROM {model.name}\n", "parameters": 'stop                           "<|im_end|>"',
            "template": "{{ .Prompt }}", "details": _details(model),
            "model_info": {"general.architecture": model.family,
                           f"{model.family}.context_length": model.context_length},
            "capabilities": list(model.capabilities), "modified_at": _now(),
        })  # fmt: skip

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

    def _write_chunk(self, payload: dict[str, Any]) -> None:
        self._write_line(json.dumps(payload, separators=(",", ":")).encode())

    def _write_line(self, line: bytes) -> None:
        """One NDJSON line as one HTTP chunk, sent at once (as Ollama flushes each)."""
        self.wfile.write(chunked_line(line))
        self.wfile.flush()


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


def _logprobs(piece: str, top: int | None) -> list[dict[str, Any]] | None:
    """Ollama's ``logprobs`` for one chunk, when the request asked for them."""
    if top is None:
        return None
    entry: dict[str, Any] = {"token": piece, "logprob": -0.5, "bytes": list(piece.encode())}
    if top:
        others = [(piece, -0.5)] + [(f"<alt{i}>", -1.0 - i) for i in range(1, top)]
        entry["top_logprobs"] = [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in others]
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

"""Raw chat chunks in, typed events out: the protocol side of streaming, with no Jupyter in it."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ThinkingDelta:
    text: str


@dataclass(frozen=True)
class ToolCall:
    """A call the model asked for. ``position`` counts calls in the turn (``index`` may be 0 for
    all); ``id`` is the server's (``call_…``, since Ollama 0.12.10), echoed back with the result.
    ``arguments`` is as it arrived: an object, or something else that the toolbox refuses."""

    name: str
    arguments: Any
    position: int
    id: str = ""

    def wire(self) -> dict[str, Any]:
        """The call as it goes back to the server in the assistant message. The server takes
        only an object as arguments: JSON text of one is decoded, anything else becomes {}."""
        arguments = self.arguments
        if isinstance(arguments, str):
            with contextlib.suppress(ValueError):
                arguments = json.loads(arguments)
        if not isinstance(arguments, dict):
            arguments = {}
        call: dict[str, Any] = {
            "function": {"index": self.position, "name": self.name, "arguments": arguments}
        }
        if self.id:
            call["id"] = self.id
        return call


@dataclass(frozen=True)
class ToolCallEvent:
    call: ToolCall


@dataclass
class Metrics:
    """The final chunk's counters; durations in nanoseconds, as Ollama reports them."""

    total_duration: int = 0
    load_duration: int = 0
    prompt_eval_count: int = 0
    prompt_eval_duration: int = 0
    eval_count: int = 0
    eval_duration: int = 0
    # measured here, not sent by Ollama: the time to the first byte that the server's durations
    # leave out (other requests ahead in its queue, busy answers waited out)
    wait_duration: int = 0

    @property
    def tokens_per_s(self) -> float:
        return self.eval_count / self.eval_duration * 1e9 if self.eval_duration else 0.0

    @property
    def total_s(self) -> float:
        return self.total_duration / 1e9

    @property
    def wait_s(self) -> float:
        return self.wait_duration / 1e9

    def __add__(self, other: Metrics) -> Metrics:
        return Metrics(**{k: getattr(self, k) + getattr(other, k) for k in self.__dataclass_fields__})

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "tokens_per_s": round(self.tokens_per_s, 2)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metrics:
        return cls(**{k: _int(data.get(k)) for k in cls.__dataclass_fields__})


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class Done:
    metrics: Metrics
    done_reason: str
    model: str
    extra: dict[str, Any] = field(default_factory=dict)  # done-line fields this version does not know


Event = TextDelta | ThinkingDelta | ToolCallEvent | Done


class ThinkTagSplitter:
    """Split ``<think>...</think>`` out of content, with tags that may be cut across chunks.

    ``declares`` says whether the model thinks (asked to, or its capabilities say so); it is
    asked once, when the first tag arrives, so a plain answer costs no request. A model that
    does not think keeps a literal ``<think>`` in its answer, as text."""

    def __init__(self, declares: Callable[[], bool] = lambda: True) -> None:
        self._inside = False
        self._pending = ""
        self._seen_text = False
        self._declares: Callable[[], bool] | None = declares
        self._parse = True

    def feed(self, text: str) -> Iterator[TextDelta | ThinkingDelta]:
        if not self._parse or (not self._pending and "<" not in text):  # no tag can start here
            yield from self._emit(text)
            return
        buffer = self._pending + text
        self._pending = ""
        while buffer:
            tag = THINK_CLOSE if self._inside else THINK_OPEN
            at = buffer.find(tag)
            if at >= 0 and not self._inside and not self._thinks():
                yield from self._emit(buffer)  # a plain model's literal tag is part of its answer
                return
            if at < 0:
                keep = _partial_suffix(buffer, tag)
                buffer, self._pending = buffer[: len(buffer) - keep], buffer[len(buffer) - keep :]
                yield from self._emit(buffer)
                return
            yield from self._emit(buffer[:at])
            buffer = buffer[at + len(tag) :]
            if self._inside:  # the answer usually starts after a blank line: drop it
                buffer = buffer.lstrip("\n")
            self._inside = not self._inside

    def flush(self) -> Iterator[TextDelta | ThinkingDelta]:
        pending, self._pending = self._pending, ""
        yield from self._emit(pending)

    def _thinks(self) -> bool:
        if self._declares is not None:
            self._parse, self._declares = bool(self._declares()), None
        return self._parse

    def _emit(self, text: str) -> Iterator[TextDelta | ThinkingDelta]:
        if not text:
            return
        if self._inside:
            yield ThinkingDelta(text)
        elif self._seen_text or text.strip():
            self._seen_text = True
            yield TextDelta(text)


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that starts ``tag`` (a tag cut between chunks)."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


@dataclass
class Turn:
    """One assistant turn, accumulated from its chunks (kept as parts: joining is linear)."""

    content_parts: list[str] = field(default_factory=list)
    thinking_parts: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    logprobs: list[dict[str, Any]] = field(default_factory=list)
    metrics: Metrics | None = None
    done_reason: str = ""
    model: str = ""
    done: bool = False

    @property
    def content(self) -> str:
        return "".join(self.content_parts)

    @property
    def thinking(self) -> str:
        return "".join(self.thinking_parts)

    @property
    def received(self) -> bool:
        return bool(self.content_parts or self.thinking_parts or self.tool_calls)

    def message(self) -> dict[str, Any]:
        """The assistant message to send back to Ollama in the next request."""
        msg: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.thinking_parts:
            msg["thinking"] = self.thinking
        if self.tool_calls:
            msg["tool_calls"] = [call.wire() for call in self.tool_calls]
        return msg


class BadChunk(ValueError):
    """A chunk that does not have the shape of Ollama's (``content: 5``, ``message: null``)."""


_KNOWN_DONE = {"model", "created_at", "message", "done", "done_reason", *Metrics.__dataclass_fields__}


class TurnReader:
    """Read one turn's raw chunks (dicts, as the server sent them) into events, keeping what
    arrived: ``turn`` holds everything received so far, also when the stream fails half way.
    ``thinks`` (see :class:`ThinkTagSplitter`): whether ``<think>`` tags in the content are
    the model's thinking (servers before 0.9) or its words."""

    def __init__(self, thinks: Callable[[], bool] = lambda: True) -> None:
        self.turn = Turn()
        self._tags = ThinkTagSplitter(thinks)

    def read(self, chunks: Iterable[dict[str, Any]]) -> Iterator[Event]:
        for chunk in chunks:
            yield from self._chunk(chunk)

    def _chunk(self, chunk: dict[str, Any]) -> Iterator[Event]:
        message = chunk.get("message", {})
        if not isinstance(message, dict):
            raise BadChunk(f"'message' is {_kind(message)}, not an object")
        thinking, content = _text(message, "thinking"), _text(message, "content")
        if thinking:
            yield self._record(ThinkingDelta(thinking))
        if content:
            for event in self._tags.feed(content):
                yield self._record(event)
        for call in _list(message, "tool_calls"):  # on any chunk, the final one included
            tool_call = self._call(call)
            self.turn.tool_calls.append(tool_call)
            yield ToolCallEvent(tool_call)
        if logprobs := chunk.get("logprobs"):
            self.turn.logprobs.extend(token_logprobs(logprobs))
        if chunk.get("done"):
            for event in self._tags.flush():
                yield self._record(event)
            metrics = Metrics.from_dict(chunk)
            turn = self.turn
            turn.metrics, turn.done_reason, turn.done = metrics, str(chunk.get("done_reason") or ""), True
            turn.model = str(chunk.get("model") or "")
            extra = {k: v for k, v in chunk.items() if k not in _KNOWN_DONE and k != "logprobs"}
            yield Done(metrics, turn.done_reason, turn.model, extra)

    def _call(self, call: Any) -> ToolCall:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise BadChunk(f"a tool call without a function name: {str(call)[:80]}")
        call_id = call.get("id")
        return ToolCall(function["name"], function.get("arguments"), len(self.turn.tool_calls),
                        call_id if isinstance(call_id, str) else "")  # fmt: skip

    def flush(self) -> Iterator[TextDelta | ThinkingDelta]:
        """Text held back for a possible ``<think>`` tag, when the stream breaks off."""
        for event in self._tags.flush():
            yield self._record(event)

    def _record(self, event: TextDelta | ThinkingDelta) -> TextDelta | ThinkingDelta:
        parts = self.turn.content_parts if isinstance(event, TextDelta) else self.turn.thinking_parts
        parts.append(event.text)
        return event


def _text(message: dict[str, Any], key: str) -> str:
    value = message.get(key)
    if value is None or isinstance(value, str):
        return value or ""
    raise BadChunk(f"'{key}' is {_kind(value)}, not text")


def _list(message: dict[str, Any], key: str) -> list[Any]:
    value = message.get(key)
    if value is None or isinstance(value, list):
        return value or []
    raise BadChunk(f"'{key}' is {_kind(value)}, not a list")


def _kind(value: Any) -> str:
    return "null" if value is None else f"a {type(value).__name__} ({str(value)[:30]})"


def token_logprobs(value: Any) -> list[dict[str, Any]]:
    """The well-formed entries of a chunk's ``logprobs``: a token (text) with a log probability
    (a finite number, at most 0) and alternatives of the same shape. Anything else a server
    sends there is left out: it is an extra, never a reason to lose the answer."""
    entries = value if isinstance(value, list) else [value]
    return [kept for entry in entries if (kept := _logprob(entry, nested=True)) is not None]


def _logprob(entry: Any, *, nested: bool) -> dict[str, Any] | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
        return None
    value = entry.get("logprob")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    kept: dict[str, Any] = {"token": entry["token"], "logprob": min(float(value), 0.0)}
    if isinstance(entry.get("bytes"), list):
        kept["bytes"] = entry["bytes"]
    if nested and isinstance(entry.get("top_logprobs"), list):
        kept["top_logprobs"] = [
            t for e in entry["top_logprobs"] if (t := _logprob(e, nested=False)) is not None
        ]
    return kept

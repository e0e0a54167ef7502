"""The chat loop: send, stream, run the tools the model asks for, send their results, repeat.

The only caller of the chat endpoint. It reports to an :class:`Observer` (the live view, the
plain-text printer) and returns a :class:`Reply`; nothing here knows about Jupyter.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import ollama

from . import transport
from .errors import Interrupted, translate, with_reply
from .reply import Reply
from .stream import Done, Event, Metrics, TextDelta, ThinkingDelta, ToolCall, ToolCallEvent, TurnReader
from .tools import Outcome, Toolbox
from .trace import ModelTurn, ToolRound, Trace

DEFAULT_MAX_ROUNDS = 10


class Observer:
    """Hooks on the loop; every method is optional."""

    def event(self, event: Event) -> None:
        """A streamed piece of text, thinking, a tool call, or the end of a turn."""

    def round(self, round: ToolRound) -> None:  # noqa: A002 - the trace's own word
        """A tool round-trip was created or changed status."""

    def turn(self, turn: ModelTurn) -> None:
        """A model turn started (no duration yet) or ended."""

    def notice(self, text: str) -> None:
        """Something the user should know that is not the model's words."""


@dataclass
class Request:
    """What to ask: the conversation so far (ending with the new user message) and settings."""

    model: str
    messages: list[dict[str, Any]]
    think: bool | str | None = None
    format: str | dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    keep_alive: str | float | None = None
    stream: bool = True

    def body(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> dict[str, Any]:
        """The JSON body of one ``/api/chat`` request; unset settings are left to the server."""
        body: dict[str, Any] = {"model": self.model, "messages": messages, "stream": self.stream}
        extras = {"tools": tools, "think": self.think, "format": self.format,
                  "options": self.options or None, "keep_alive": self.keep_alive}  # fmt: skip
        body.update({k: v for k, v in extras.items() if v is not None})
        return body


Confirm = Callable[[ToolCall], bool]


def run(
    client: ollama.Client,
    request: Request,
    *,
    toolbox: Toolbox | None = None,
    observer: Observer | None = None,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
    confirm: Confirm | None = None,
    cancel: threading.Event | None = None,
) -> Reply:
    """Run one cell's exchange to the end. Raises :class:`OllamaNbError` or :class:`Interrupted`
    with the partial reply attached as ``.reply``; what arrived is never lost.

    ``cancel``, set from another thread (a Stop button), ends the exchange like an interrupt:
    between two chunks, the HTTP stream is closed."""
    session = _Session(client, request, toolbox, observer or Observer(), confirm, cancel or threading.Event())
    try:
        session.converse(max_rounds)
    except KeyboardInterrupt:
        session.reply.interrupted = True
        session.finish()
        raise with_reply(Interrupted("the partial answer is kept in _ollama."), session.reply) from None
    except Exception as exc:
        friendly = translate(exc, host=transport.host_url(client), model=request.model,
                             list_models=lambda: transport.model_names(client))  # fmt: skip
        if friendly is None:
            raise
        session.reply.error = str(friendly)
        session.finish()
        raise with_reply(friendly, session.reply) from None
    session.finish()
    return session.reply


class _Session:
    def __init__(self, client: ollama.Client, request: Request, toolbox: Toolbox | None,
                 observer: Observer, confirm: Confirm | None, cancel: threading.Event) -> None:  # fmt: skip
        self.client, self.request, self.toolbox = client, request, toolbox
        self.observer, self.confirm, self.cancel = observer, confirm, cancel
        self.messages = list(request.messages)
        self.t0 = time.perf_counter()
        system = next((m["content"] for m in self.messages if m.get("role") == "system"), "")
        prompt = self.messages[-1].get("content", "") if self.messages else ""
        trace = Trace(request.model, prompt, system, datetime.now(timezone.utc).isoformat(timespec="seconds"))
        self.reply = Reply(request.model, self.messages, trace)
        self.content: list[str] = []
        self.thinking: list[str] = []

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def converse(self, max_rounds: int) -> None:
        for number in range(max_rounds + 1):
            last_chance = number == max_rounds
            if last_chance and self.toolbox:
                self.reply.max_rounds_reached = True
                self.observer.notice(f"Reached the limit of {max_rounds} tool rounds: "
                                     "asked the model to answer with what it has, without tools.")  # fmt: skip
            offer = self.toolbox.schemas() if self.toolbox and not last_chance else None
            calls = self.model_turn(number, offer)
            if not calls or offer is None:
                return
            for call in calls:
                if self.cancel.is_set():
                    raise KeyboardInterrupt
                self.tool_round(number, call)

    def model_turn(self, number: int, tools: list[dict[str, Any]] | None) -> list[ToolCall]:
        turn = ModelTurn(number, self.request.model, self.now())
        self.reply.trace.turns.append(turn)
        self.observer.turn(turn)
        reader = TurnReader()
        chunks = transport.chat(self.client, self.request.body(self.messages, tools))
        separated = not self.content
        try:
            for event in reader.read(chunks):
                if self.cancel.is_set():
                    raise KeyboardInterrupt
                if isinstance(event, TextDelta) and not separated:
                    separated = True  # text after tool calls: a paragraph break keeps turns apart
                    self._text(TextDelta("\n\n"))
                self._dispatch(event, turn)
        except BaseException as exc:
            turn.error = type(exc).__name__
            for event in reader.flush():  # nothing that arrived is lost
                self._dispatch(event, turn)
            raise
        finally:
            getattr(chunks, "close", lambda: None)()
            turn.duration_s = self.now() - turn.started_s
            if reader.turn.content_parts or reader.turn.thinking_parts or reader.turn.tool_calls:
                self.messages.append(reader.turn.message())
            self.observer.turn(turn)
        return reader.turn.tool_calls

    def _dispatch(self, event: Event, turn: ModelTurn) -> None:
        if isinstance(event, TextDelta):
            self._text(event)
            return
        if isinstance(event, ThinkingDelta):
            self.thinking.append(event.text)
        elif isinstance(event, ToolCallEvent):
            turn.tool_calls += 1
        elif isinstance(event, Done):
            turn.metrics, turn.done_reason, turn.model = event.metrics, event.done_reason, event.model
        self.observer.event(event)

    def _text(self, event: TextDelta) -> None:
        self.content.append(event.text)
        self.observer.event(event)

    def tool_round(self, turn: int, call: ToolCall) -> None:
        record = ToolRound(call.name, call.arguments, call.position, turn, started_s=self.now())
        self.reply.trace.rounds.append(record)
        self.observer.round(record)
        assert self.toolbox is not None  # only called when tools were offered
        prepared = self.toolbox.prepare(call.name, call.arguments)
        try:
            if isinstance(prepared, Outcome):
                outcome = prepared
            elif self.confirm is not None and not self.confirm(call):
                outcome = Outcome("The user declined to run this tool call.", "refused",
                                  prepared[1], "declined by the user")  # fmt: skip
            else:
                record.status, record.coerced = "running", prepared[1]
                self.observer.round(record)
                outcome = self.toolbox.run(*prepared)
        except KeyboardInterrupt:
            record.status, record.error = "interrupted", "interrupted by the user"
            record.duration_s = self.now() - record.started_s
            self.observer.round(record)
            raise
        record.duration_s = self.now() - record.started_s
        record.status, record.coerced = outcome.status, outcome.coerced  # type: ignore[assignment]
        record.result, record.error = outcome.content, outcome.error
        self.messages.append({"role": "tool", "tool_name": call.name, "content": outcome.content})
        self.observer.round(record)

    def finish(self) -> None:
        reply = self.reply
        reply.content, reply.thinking = "".join(self.content), "".join(self.thinking)
        turns = [t for t in reply.trace.turns if t.metrics]
        reply.metrics = sum((t.metrics for t in turns if t.metrics), Metrics())
        if turns:
            reply.done_reason, reply.model = turns[-1].done_reason, turns[-1].model or reply.model

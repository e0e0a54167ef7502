"""The chat loop: send, stream, run the tools the model asks for, send their results, repeat.

The only caller of the chat endpoint, through a :class:`~ollama_nb.backend.Backend`. It reports
to a :class:`~ollama_nb.viewbase.View` and returns a :class:`Reply`; nothing here knows about
Jupyter. Whatever goes wrong, the reply with what arrived is finished before the failure leaves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from . import context
from .backend import Backend
from .errors import Interrupted, NotOllama, OllamaNbError, StreamBroken
from .reply import Reply
from .stream import (
    BadChunk,
    Done,
    Event,
    Metrics,
    TextDelta,
    ThinkingDelta,
    ToolCall,
    ToolCallEvent,
    Turn,
    TurnReader,
)
from .tools import Outcome, Toolbox
from .trace import FromNotebook, ModelTurn, Notice, RenderedPrompt, ToolRound, Trace
from .viewbase import NullView, View

DEFAULT_MAX_ROUNDS = 10
PARAGRAPH = "\n\n"  # between the texts (or thinking) of two model turns


@dataclass
class Request:
    """What to ask: the conversation so far (ending with the new user message) and settings."""

    model: str
    messages: list[dict[str, Any]]
    format: str | dict[str, Any] | None = None
    stream: bool = True
    fields: dict[str, Any] = field(default_factory=dict)  # think, options, keep_alive, truncate...

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.fields.get("options") or {})

    def body(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> dict[str, Any]:
        """The JSON body of one ``/api/chat`` request; unset settings are left to the server."""
        body: dict[str, Any] = {"model": self.model, "messages": messages, "stream": self.stream}
        extras = {"tools": tools, "format": self.format, **self.fields}
        body.update({k: v for k, v in extras.items() if v is not None})
        return body


Confirm = Callable[[ToolCall], bool]


def run(
    backend: Backend,
    request: Request,
    *,
    toolbox: Toolbox | None = None,
    view: View | None = None,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
    confirm: Confirm | None = None,
    cancel: threading.Event | None = None,
    preface: Sequence[str | RenderedPrompt | FromNotebook] = (),
) -> Reply:
    """Run one cell's exchange to the end. Raises :class:`OllamaNbError` or :class:`Interrupted`
    carrying the finished partial reply as ``.reply``; what arrived is never lost.

    ``cancel``, set from another thread (a Stop button), ends the exchange like an interrupt,
    also while waiting for the first chunk. ``preface`` goes into the trace first, texts as
    notices (a re-run that went back in a conversation) and entries as they are (what was sent
    of the notebook, the rendered prompt)."""
    session = _Session(backend, request, toolbox, view or NullView(), confirm, cancel or threading.Event())
    for item in preface:
        if isinstance(item, str):
            session.notice(item)
        else:
            session.reply.trace.entries.append(item)
    try:
        session.converse(max_rounds)
    except KeyboardInterrupt:  # Interrupted (Stop) included
        session.reply.interrupted = True
        session.finish()
        raise Interrupted("the partial answer is kept in _ollama.", reply=session.reply) from None
    except OllamaNbError as exc:
        session.fail(str(exc))
        exc.reply = session.reply
        raise
    except BadChunk as exc:
        session.fail(f"{backend.host} sent a chunk that is not Ollama's: {exc}. Is that Ollama?")
        raise NotOllama(session.reply.error or "", reply=session.reply) from None
    except Exception as exc:  # not the user's bug, not a known failure: end like the known ones
        session.fail(f"{type(exc).__name__}: {exc}")
        raise OllamaNbError(f"ollama_nb failed unexpectedly ({session.reply.error}); what arrived is kept.",
                            reply=session.reply) from exc  # fmt: skip
    session.finish()
    return session.reply


def _stamped(
    chunks: Iterator[dict[str, Any]], first: list[float], now: Callable[[], float]
) -> Iterator[dict[str, Any]]:
    """The chunks, noting in ``first`` when the first one came."""
    for chunk in chunks:
        if not first:
            first.append(now())
        yield chunk


def waited(first_byte_s: float, metrics: Metrics, streamed: bool = True) -> float:
    """The wait before the first byte that the server's own durations do not name: time to the
    first byte (busy answers waited out included) minus loading the model and reading the prompt
    (and writing the answer, when it came in one piece). Ollama queues a request for a free slot
    after the model is loaded, and no field of its done line counts that."""
    busy = metrics.load_duration + metrics.prompt_eval_duration + (0 if streamed else metrics.eval_duration)
    return max(0.0, first_byte_s - busy / 1e9)


class _Session:
    def __init__(self, backend: Backend, request: Request, toolbox: Toolbox | None,
                 view: View, confirm: Confirm | None, cancel: threading.Event) -> None:  # fmt: skip
        self.backend, self.request, self.toolbox = backend, request, toolbox
        self.view, self.confirm, self.cancel = view, confirm, cancel
        self.messages = list(request.messages)
        self.t0 = time.perf_counter()
        system = next((m["content"] for m in self.messages if m.get("role") == "system"), "")
        prompt = self.messages[-1].get("content", "") if self.messages else ""
        trace = Trace(request.model, prompt, system, datetime.now(timezone.utc).isoformat(timespec="seconds"))
        self.reply = Reply(request.model, self.messages, trace)
        self.turns: list[Turn] = []  # the model's turns as read: the one place text accumulates
        self._thinks: bool | None = None

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def thinks(self) -> bool:
        """Whether the model thinks (asked to, or it declares it): only then are ``<think>`` tags
        in its content its thinking. Asked when a first tag arrives, at most once a cell."""
        if self._thinks is None:
            asked = self.request.fields.get("think") not in (None, False)
            self._thinks = asked or "thinking" in (self.backend.capabilities(self.request.model) or ())
        return self._thinks

    def notice(self, text: str, level: str = "info") -> None:
        self.view.notice(self.reply.trace.add(Notice(text, self.now(), level)).text)  # type: ignore[arg-type]

    def converse(self, max_rounds: int) -> None:
        for number in range(max_rounds + 1):
            last_chance = number == max_rounds
            if last_chance and self.toolbox:
                self.reply.max_rounds_reached = True
                self.notice(f"Reached the limit of {max_rounds} tool rounds: "
                            "asked the model to answer with what it has, without tools.", "warning")  # fmt: skip
            offer = self.toolbox.schemas() if self.toolbox and not last_chance else None
            calls = self.model_turn(number, offer)
            if not calls or offer is None:
                return
            for call in calls:
                if self.cancel.is_set():
                    raise KeyboardInterrupt
                self.tool_round(number, call)

    def model_turn(self, number: int, tools: list[dict[str, Any]] | None) -> list[ToolCall]:
        if self.cancel.is_set():  # stopped between rounds: no further request goes out
            raise KeyboardInterrupt
        turn = self.reply.trace.add(ModelTurn(number, self.request.model, self.now()))
        self.view.turn(turn)
        reader = TurnReader(self.thinks)
        self.turns.append(reader.turn)
        body = self.request.body(self.messages, tools)
        turn.carried = context.carried_by(body)  # for the meter: what the request sent besides messages
        self.reply.last_request = {**body, "messages": list(self.messages)}
        chunks = self.backend.chat(body, self.cancel, report=lambda text: self.notice(text, "warning"))
        first_byte: list[float] = []
        try:
            for event in reader.read(_stamped(chunks, first_byte, self.now)):
                if turn.first_token_s is None:
                    turn.first_token_s = self.now() - turn.started_s
                self._dispatch(event, turn, reader.turn)
            if not reader.turn.done:
                raise StreamBroken("The answer ended without Ollama's closing line: it may be incomplete.")
            if first_byte and turn.metrics is not None:
                turn.wait_s = waited(
                    first_byte[0] - turn.started_s, turn.metrics, streamed=self.request.stream
                )
                turn.metrics.wait_duration = round(turn.wait_s * 1e9)
        except BaseException as exc:
            turn.error = type(exc).__name__
            for event in reader.flush():  # nothing that arrived is lost
                self._dispatch(event, turn, reader.turn)
            raise
        finally:
            getattr(chunks, "close", lambda: None)()
            turn.duration_s = self.now() - turn.started_s
            if reader.turn.received:
                self.messages.append(reader.turn.message())
            self.view.turn(turn)
        return reader.turn.tool_calls

    def _dispatch(self, event: Event, turn: ModelTurn, current: Turn) -> None:
        if isinstance(event, (TextDelta, ThinkingDelta)):
            self._separate(event, current)
        elif isinstance(event, ToolCallEvent):
            turn.tool_calls += 1
        elif isinstance(event, Done):
            turn.metrics, turn.done_reason, turn.model = event.metrics, event.done_reason, event.model
        self.view.event(event)

    def _separate(self, event: TextDelta | ThinkingDelta, current: Turn) -> None:
        """Before a turn's first text (or thinking), a paragraph break if an earlier turn had some."""
        mine = current.content_parts if isinstance(event, TextDelta) else current.thinking_parts
        if len(mine) != 1:  # the event is already recorded: only its first piece needs a break
            return
        earlier = any(t.content_parts if isinstance(event, TextDelta) else t.thinking_parts
                      for t in self.turns if t is not current)  # fmt: skip
        if earlier:
            self.view.event(type(event)(PARAGRAPH))

    def tool_round(self, turn: int, call: ToolCall) -> None:
        assert self.toolbox is not None  # only called when tools were offered
        record = self.reply.trace.add(ToolRound(call.name, call.arguments, call.position, turn, call.id,
                                                started_s=self.now(), server=self.toolbox.server_of(call.name)))  # fmt: skip
        self.view.round(record)
        prepared = self.toolbox.prepare(call.name, call.arguments)
        try:
            if isinstance(prepared, Outcome):
                outcome = prepared
            elif self.confirm is not None and not self.confirm(call):
                outcome = Outcome("The user declined to run this tool call.", "refused",
                                  prepared[1], "declined by the user")  # fmt: skip
            else:
                # the clock starts now: the user's time to answer --confirm is not the tool's
                record.status, record.coerced, record.started_s = "running", prepared[1], self.now()
                self.view.round(record)
                outcome = self.toolbox.run(*prepared)
        except KeyboardInterrupt:
            record.status, record.error = "interrupted", "interrupted by the user"
            record.duration_s = self.now() - record.started_s
            self.view.round(record)
            raise
        record.duration_s = self.now() - record.started_s
        record.status, record.coerced = outcome.status, outcome.coerced  # type: ignore[assignment]
        record.result, record.error = outcome.content, outcome.error
        message = {"role": "tool", "tool_name": call.name, "content": outcome.content}
        if call.id:
            message["tool_call_id"] = call.id
        self.messages.append(message)
        self.view.round(record)

    def fail(self, message: str) -> None:
        self.reply.error = message
        self.finish()

    def finish(self) -> None:
        reply = self.reply
        reply.content = PARAGRAPH.join(t.content for t in self.turns if t.content_parts)
        reply.thinking = PARAGRAPH.join(t.thinking for t in self.turns if t.thinking_parts)
        reply.logprobs = [p for t in self.turns for p in t.logprobs]
        ended = [t for t in reply.trace.turns if t.metrics]
        reply.metrics = sum((t.metrics for t in ended if t.metrics), Metrics())
        if ended:
            reply.done_reason, reply.model = ended[-1].done_reason, ended[-1].model or reply.model

"""The value a ``%%ollama`` cell leaves behind in ``_ollama``, and its saved record.

The record is what a saved notebook keeps under :data:`MIME`: a versioned JSON object validated
with pydantic on the way back in, so a malformed or hostile file fails with one clear message
instead of later, somewhere else. Static outputs, ``load_traces``, exports and conversations all
go through :meth:`Reply.to_record` and :meth:`Reply.from_record`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import pydantic

from .messages import Message, problem
from .stream import Metrics
from .trace import ContextUse, ModelTurn, Notice, RenderedPrompt, ToolRound, Trace

MIME = "application/vnd.ollama-nb.reply+json"
Status = Literal["ok", "error", "interrupted", "max_rounds", "cut"]
FORMAT_VERSION = 3
SAVED_TEXT_LIMIT = 20_000  # characters of any one argument, result or prompt kept in a saved output
SAVED_TOKEN_LIMIT = 500  # token probabilities kept in a saved output (the shaded answer)
TEXT_PREVIEW = 1_000  # characters of the answer in a saved output's text fallback


def clipped(text: str, limit: int = SAVED_TEXT_LIMIT) -> tuple[str, int]:
    """The first ``limit`` characters of ``text`` and how many were left out."""
    return (text, 0) if len(text) <= limit else (text[:limit], len(text) - limit)


@dataclass
class Reply:
    """The model's answer and everything needed to inspect or continue it.

    ``content`` is the answer (thinking excluded), ``messages`` the whole exchange as sent to
    Ollama (ready to send again; the first ``history`` of them came from earlier cells),
    ``metrics`` summed over the cell's model turns.
    """

    model: str
    messages: list[dict[str, Any]]
    trace: Trace
    content: str = ""
    thinking: str = ""
    metrics: Metrics = field(default_factory=Metrics)
    done_reason: str = ""
    error: str | None = None  # set when the answer stopped early; content keeps what arrived
    interrupted: bool = False
    max_rounds_reached: bool = False
    parsed: Any = None  # the decoded value, with a JSON --format
    logprobs: list[dict[str, Any]] = field(default_factory=list)
    history: int = 0  # how many messages of the conversation came before this cell's
    chat: str | None = None  # the conversation it belongs to, if any
    history_kept: bool = field(default=True, repr=False)  # False when read back: only its own part was saved
    code: str | None = field(default=None, repr=False)  # the answer's code, taken out with --code
    # the last request's body as sent (not saved): the meter asks the server about it
    last_request: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def received(self) -> bool:
        """Whether anything arrived from the model (text, thinking or a tool call)."""
        return bool(self.content or self.thinking or self.trace.rounds)

    @property
    def context(self) -> ContextUse | None:
        """How full the model's context was (the context meter), once a turn finished."""
        return self.trace.context

    @property
    def rendered(self) -> str | None:
        """The prompt as the model read it, when asked for (``--render``)."""
        found = self.trace.rendered
        return found.text if found else None

    @property
    def truncated(self) -> bool:
        """The answer was cut short by ``num_predict`` or the context length."""
        return self.done_reason == "length"

    @property
    def status(self) -> Status:
        """How the exchange ended, in one word: ``ok``, ``error``, ``interrupted``,
        ``max_rounds`` (the tool rounds ran out) or ``cut`` (the answer was cut short)."""
        if self.interrupted:
            return "interrupted"
        if self.error is not None:
            return "error"
        if self.max_rounds_reached:
            return "max_rounds"
        return "cut" if self.truncated else "ok"

    @property
    def ok(self) -> bool:
        """An answer that ended as the model meant it (after the tool rounds ran out, too)."""
        return self.status in ("ok", "max_rounds")

    @property
    def own_messages(self) -> list[dict[str, Any]]:
        """This cell's part of the exchange: its prompt, the answers and tool results."""
        return self.messages[self.history :] if self.history_kept else self.messages

    def __str__(self) -> str:
        return self.content

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def __repr__(self) -> str:
        state = "interrupted" if self.interrupted else ("error" if self.error else self.done_reason)
        preview = self.content if len(self.content) < 60 else self.content[:57] + "..."
        return (
            f"<Reply {self.model} {state}: {preview!r}, {len(self.trace)} tool call(s), "
            f"{self.metrics.eval_count} tokens>"
        )

    # -- the saved record ----------------------------------------------------------------------
    def to_record(self, limit: int = SAVED_TEXT_LIMIT) -> dict[str, Any]:
        """Plain JSON for the saved output: this cell's own messages only (a conversation is
        rebuilt from its cells), long texts capped with a note of their full size.

        The answer (``content``, ``thinking``) is kept whole, once: the assistant message that
        holds all of it leaves it out, and ``answer_at`` says which message that is (version 3)."""
        data = _RECORD.dump_python(_Record.of(self), mode="json", fallback=repr)
        answer = {key: data.pop(key) for key in _ANSWER}
        messages = [_capped_message(m, limit) for m in data.pop("messages")]
        record = {"version": FORMAT_VERSION, **_capped(data, limit), **answer, "messages": messages}
        at = {}
        for key, text in answer.items():
            holders = [
                i
                for i, m in enumerate(messages)
                if text and m.get("role") == "assistant" and m.get(key) == text
            ]
            if len(holders) == 1:
                del messages[holders[0]][key]
                at[key] = holders[0]
        return {**record, "answer_at": at} if at else record

    @classmethod
    def from_record(cls, record: Any) -> Reply:
        """Rebuild a reply from a saved record; raises ``ValueError`` saying what is wrong."""
        if not isinstance(record, dict):
            raise ValueError(f"a reply record is a JSON object, not {type(record).__name__}")
        version = record.get("version")
        if version == 1:
            record = _upgrade_v1(record)
        elif version == FORMAT_VERSION:
            record = _answer_back(record)
        elif version != 2:
            raise ValueError(
                f"unknown record version {version!r} (this ollama_nb reads 1 to {FORMAT_VERSION})"
            )
        try:
            saved = _RECORD.validate_python({k: v for k, v in record.items() if k != "version"})
        except pydantic.ValidationError as exc:
            raise ValueError(problem(exc)) from None
        try:  # the messages go to the server again (load_conversation): each must be one it takes
            _MESSAGES.validate_python(saved.messages)
        except pydantic.ValidationError as exc:
            raise ValueError(f"messages.{problem(exc)}") from None
        return saved.reply()


@dataclass
class _Record:
    """The shape of a saved reply (version 2)."""

    model: str
    messages: list[dict[str, Any]]
    trace: Trace
    content: str = ""
    thinking: str = ""
    metrics: Metrics = field(default_factory=Metrics)
    done_reason: str = ""
    error: str | None = None
    interrupted: bool = False
    max_rounds_reached: bool = False
    parsed: Any = None
    history: Annotated[int, pydantic.Field(ge=0)] = 0
    chat: str | None = None
    logprobs: list[dict[str, Any]] = field(default_factory=list)  # kept for the shaded view

    @classmethod
    def of(cls, reply: Reply) -> _Record:
        return cls(reply.model, reply.own_messages, reply.trace, reply.content, reply.thinking, reply.metrics,
                   reply.done_reason, reply.error, reply.interrupted, reply.max_rounds_reached,
                   _plain(reply.parsed), reply.history, reply.chat,
                   [_slim(p) for p in reply.logprobs[:SAVED_TOKEN_LIMIT]])  # fmt: skip

    def reply(self) -> Reply:
        return Reply(self.model, self.messages, self.trace, self.content, self.thinking, self.metrics,
                     self.done_reason, self.error, self.interrupted, self.max_rounds_reached, self.parsed,
                     logprobs=self.logprobs, history=self.history, chat=self.chat,
                     history_kept=False)  # fmt: skip


_RECORD = pydantic.TypeAdapter(_Record)
_MESSAGES = pydantic.TypeAdapter(list[Message])


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, pydantic.BaseModel) else value


def _slim(logprob: dict[str, Any]) -> dict[str, Any]:
    """A token's probability without its bytes (the token's text says it), to four significant
    digits (the shaded view shows percents): a third of the size saved."""
    kept: dict[str, Any] = {k: logprob[k] for k in ("token", "logprob") if k in logprob}
    if isinstance(kept.get("logprob"), float):
        kept["logprob"] = float(f"{kept['logprob']:.4g}")
    if isinstance(logprob.get("top_logprobs"), list):
        kept["top_logprobs"] = [_slim(t) for t in logprob["top_logprobs"] if isinstance(t, dict)]
    return kept


_ANSWER = ("content", "thinking")  # the model's own words: kept whole in a saved record


def _answer_back(record: dict[str, Any]) -> dict[str, Any]:
    """A version 3 record with the answer put back into the message it was left out of."""
    at, messages = record.get("answer_at") or {}, record.get("messages")
    rest = {k: v for k, v in record.items() if k != "answer_at"}
    if not at:
        return rest
    for key, index in at.items() if isinstance(at, dict) else [("answer_at", at)]:
        if not (key in _ANSWER and isinstance(index, int) and isinstance(messages, list)
                and 0 <= index < len(messages) and isinstance(messages[index], dict)):  # fmt: skip
            raise ValueError(f"answer_at: {key}: {index!r} is not the index of a message")
    filled = list(messages)  # type: ignore[arg-type]
    for key, index in at.items():
        filled[index] = {**filled[index], key: record.get(key, "")}
    return {**rest, "messages": filled}


def _capped_message(message: Any, limit: int) -> Any:
    """A message with its long texts capped, except the model's own words (the answer)."""
    if not (isinstance(message, dict) and message.get("role") == "assistant"):
        return _capped(message, limit)
    return {k: v if k in _ANSWER else _capped(v, limit) for k, v in message.items()}


def _capped(value: Any, limit: int) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}… [{len(value) - limit:,} more characters not saved; {len(value):,} in all]"
    if isinstance(value, dict):
        return {k: _capped(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_capped(v, limit) for v in value]
    return value


def _upgrade_v1(record: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept turns and tool rounds in two lists: merge them in time order."""
    trace = dict(record.get("trace") or {})
    turns = [{**t, "kind": "turn"} for t in trace.pop("turns", None) or [] if isinstance(t, dict)]
    rounds = [{**r, "kind": "round"} for r in trace.pop("rounds", None) or [] if isinstance(r, dict)]
    trace["entries"] = sorted(turns + rounds, key=lambda e: float(e.get("started_s") or 0))
    for turn in turns:
        if isinstance(turn.get("metrics"), dict):
            turn["metrics"] = {k: v for k, v in turn["metrics"].items() if k != "tokens_per_s"}
    metrics = record.get("metrics")
    if isinstance(metrics, dict):
        metrics = {k: v for k, v in metrics.items() if k != "tokens_per_s"}
    return {**record, "trace": trace, "metrics": metrics or {}, "version": FORMAT_VERSION}


__all__ = ["FORMAT_VERSION", "MIME", "ContextUse", "ModelTurn", "Notice", "RenderedPrompt", "Reply", "ToolRound",
           "Trace"]  # fmt: skip

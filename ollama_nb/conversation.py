"""Conversations that go on across cells, as plain Python objects.

A conversation is its messages (as Ollama takes them) and which cell asked each turn. Running a
cell again does not stack a copy of its turn: the conversation goes back to just before that
cell's earlier turn, as editing a message in a chat does, and the turns after it are dropped
(the caller says so). A turn that was interrupted or failed is kept, marked partial, so the next
request holds what the user saw, tool results included. One lock makes a conversation safe to
share between threads: turns recorded at the same time are both kept, in the order they end.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .errors import ConversationBusy
from .messages import Message, read_json
from .trace import Carried

FILE_VERSION = 1


@dataclass
class Turn:
    """Where one turn starts in the messages, which cell asked it (None: no cell, never
    replaced), whether it ended early, and for the context meter the size of its last prompt and
    the tokens it used of the context (0: not measured)."""

    cell: str | None
    start: int
    partial: bool = False
    prompt_tokens: int = 0
    used_tokens: int = 0
    carried: Carried | None = None  # what its last request sent besides messages (tools, system...)


Usage = tuple[int, int] | tuple[int, int, Carried | None]


@dataclass
class Conversation:
    """A named exchange with a model: inspect, edit, save and pass it on.

    >>> chat = Conversation("demo")
    >>> chat.messages                    # what the next turn sends before its prompt
    []
    """

    name: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    model: str | None = None  # the model of its last turn: the next cell may leave -m out
    # sent with its requests (X-Ollama-NB-Conversation) so that a load balancer keeps it on one
    # server: random, never the name, which may say something about the user
    id: str = field(default_factory=lambda: uuid.uuid4().hex, compare=False, repr=False)
    _lock: Any = field(default_factory=threading.RLock, init=False, repr=False, compare=False)
    _asking: set[int] = field(default_factory=set, init=False, repr=False, compare=False)  # threads mid-turn

    def claim(self) -> None:
        """Begin a turn on this thread (:meth:`release` ends it). A turn asked from inside another
        on the same thread (a tool whose code runs ``%%ollama --chat`` with this name) is refused:
        it would be recorded before the prompt that led to it. Turns from other threads go on
        together, kept as they end."""
        me = threading.get_ident()
        with self._lock:
            if me in self._asking:
                raise ConversationBusy(
                    f"Conversation {self.name!r} is waiting for the answer that called this tool: a "
                    "tool cannot add a turn to it. Use another --chat name inside the tool, or none."
                )
            self._asking.add(me)

    def release(self) -> None:
        with self._lock:
            self._asking.discard(threading.get_ident())

    def history_for(self, cell: str | None) -> tuple[list[dict[str, Any]], int]:
        """The messages to send before this cell's prompt, and how many turns a re-run drops."""
        with self._lock:
            position = self._asked_from(cell)
            if position is None:
                return list(self.messages), 0
            return self.messages[: self.turns[position].start], len(self.turns) - position - 1

    def used_before(self, cell: str | None) -> tuple[int | None, list[int]]:
        """For the context meter: the last prompt's size before this cell's turn, and the tokens
        each earlier turn used (what the model last read, then how the context filled)."""
        with self._lock:
            position = self._asked_from(cell)
            earlier = [t for t in self.turns[:position] if t.used_tokens]
        return (earlier[-1].prompt_tokens if earlier else None), [t.used_tokens for t in earlier]

    def carried_before(self, cell: str | None) -> Carried | None:
        """What the last measured turn before this cell's sent besides its messages, for the
        meter: a prompt shorter than that turn's may only mean less was sent."""
        with self._lock:
            position = self._asked_from(cell)
            earlier = [t for t in self.turns[:position] if t.used_tokens]
        return earlier[-1].carried if earlier else None

    def record(self, cell: str | None, messages: list[dict[str, Any]], *, partial: bool = False,
               usage: Usage | None = None, leading: int = 0) -> None:  # fmt: skip
        """Keep a turn: ``messages`` is its whole request list (history, the user's message, what
        came back). Only the turn's own messages are added, after any recorded meanwhile: from
        its prompt, and the ``leading`` messages sent just ahead of it (the notebook shown).
        ``usage``: its last prompt's size, the tokens it used of the context, and what its
        last request carried besides messages."""
        start = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=0)
        start = max(start - leading, 0)
        own = [dict(m) for m in messages[start:]]
        system = messages[0] if messages and messages[0].get("role") == "system" else None
        with self._lock:
            position = self._asked_from(cell)
            if position is not None:  # asked again from the same cell: its earlier turn goes
                del self.messages[self.turns[position].start :]
                del self.turns[position:]
            if system is not None:
                self._set_system(dict(system))
            self.turns.append(Turn(cell, len(self.messages), partial, *(usage or (0, 0))))
            self.messages.extend(own)

    def _asked_from(self, cell: str | None) -> int | None:
        if cell is None:
            return None
        return next((i for i, turn in enumerate(self.turns) if turn.cell == cell), None)

    def _set_system(self, system: dict[str, Any]) -> None:
        if self.messages and self.messages[0].get("role") == "system":
            self.messages[0] = system
            return
        self.messages.insert(0, system)
        for turn in self.turns:
            turn.start += 1

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self.turns.clear()

    def __len__(self) -> int:
        return len(self.turns)

    def text(self) -> str:
        """The exchange as readable text, one block per message; partial turns are marked."""
        with self._lock:
            messages, turns = list(self.messages), list(self.turns)
        ends = [turns[i + 1].start if i + 1 < len(turns) else len(messages) for i in range(len(turns))]
        partial_ends = Counter(end for turn, end in zip(turns, ends, strict=True) if turn.partial)
        lines = []
        for number, message in enumerate(messages, 1):
            lines += _message_lines(message)
            lines += ["[the turn above is partial: it was interrupted or failed]"] * partial_ends[number]
        return "\n\n".join(lines) or f"(conversation {self.name!r} is empty)"

    def __repr__(self) -> str:
        return f"<Conversation {self.name!r}: {len(self.turns)} turns, {len(self.messages)} messages>"

    def save(self, path: str | PathLike[str]) -> Path:
        target = Path(path)
        with self._lock:
            data = {"version": FILE_VERSION, "name": self.name, "messages": self.messages,
                    "turns": [asdict(turn) for turn in self.turns]}  # fmt: skip
            text = json.dumps(data, indent=1, ensure_ascii=False)
        target.write_text(text, encoding="utf-8")
        return target

    @classmethod
    def load(cls, path: str | PathLike[str]) -> Conversation:
        """A conversation saved with :meth:`save`. A file that is not one (not JSON, a newer
        version, a message without a role...) raises ``RecordError`` naming it and the problem."""
        saved: _File = read_json(path, _File, "a conversation saved by ollama_nb")
        turns = [
            Turn(t[0], t[1])
            if isinstance(t, tuple)
            else Turn(t.cell, t.start, t.partial, t.prompt_tokens, t.used_tokens, t.carried)
            for t in saved.turns
        ]
        return cls(saved.name, [m.to_dict() for m in saved.messages], turns)


conversations: dict[str, Conversation] = {}  # this kernel's conversations, by name


def conversation(name: str) -> Conversation:
    """The conversation called ``name``, created empty the first time."""
    return conversations.setdefault(name, Conversation(name))


class AskCounter:
    """Numbers the asks of one execution, so that two asks from one cell are two turns: the
    first keeps the cell's own key, later ones get ``#2``, ``#3``... The same asks from the next
    execution of the cell get the same keys again, and so replace their turns."""

    def __init__(self) -> None:
        self._run: object = None
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def key(self, cell: str, run: object) -> str:
        with self._lock:
            if run != self._run:
                self._run, self._counts = run, Counter()
            self._counts[cell] += 1
            count = self._counts[cell]
        return cell if count == 1 else f"{cell} #{count}"


def _message_lines(message: dict[str, Any]) -> list[str]:
    role, lines = message.get("role", "?"), []
    if message.get("tool_calls"):
        calls = ", ".join(f"{c['function']['name']}({json.dumps(c['function'].get('arguments'))})"
                          for c in message["tool_calls"])  # fmt: skip
        lines.append(f"{role}: [calls {calls}]")
    if message.get("content"):
        name = f" {message['tool_name']}" if message.get("tool_name") else ""
        lines.append(f"{role}{name}: {message['content']}")
    return lines


class _SavedTurn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    cell: str | None
    start: int
    partial: bool = False
    prompt_tokens: int = Field(0, ge=0)
    used_tokens: int = Field(0, ge=0)
    carried: Carried | None = None


class _File(BaseModel):
    """What :meth:`Conversation.save` writes (files from before ``version`` have none)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    version: Literal[1] = 1
    name: str
    messages: list[Message]
    turns: list[_SavedTurn | tuple[str | None, int]] = []

    @field_validator("version", mode="before")
    @classmethod
    def _known(cls, value: Any) -> Any:
        if value != FILE_VERSION:
            raise ValueError(f"version {value!r} is not one this ollama_nb reads (it reads {FILE_VERSION})")
        return value

    @model_validator(mode="after")
    def _turns_fit(self) -> _File:
        starts = [t[1] if isinstance(t, tuple) else t.start for t in self.turns]
        if starts != sorted(starts) or any(not 0 <= s <= len(self.messages) for s in starts):
            raise ValueError("turns: each start must be a message index, in order")
        return self

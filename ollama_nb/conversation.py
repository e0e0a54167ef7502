"""Conversations that go on across cells, as plain Python objects.

A conversation is its messages (as Ollama takes them) and which cell asked each turn. Running a
cell again does not stack a copy of its turn: the conversation goes back to just before that
cell's earlier turn, as editing a message in a chat does, and the turns after it are dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any


@dataclass
class Conversation:
    """A named exchange with a model: inspect, edit, save and pass it on.

    >>> chat = Conversation("demo")
    >>> chat.messages                    # what the next turn sends before its prompt
    []
    """

    name: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    turns: list[tuple[str, int]] = field(default_factory=list)  # (the asking cell, first message index)

    def history_for(self, cell: str) -> tuple[list[dict[str, Any]], int]:
        """The messages to send before this cell's prompt, and how many turns a re-run drops."""
        for position, (key, start) in enumerate(self.turns):
            if key == cell:
                return self.messages[:start], len(self.turns) - position - 1
        return list(self.messages), 0

    def record(self, cell: str, messages: list[dict[str, Any]]) -> None:
        """Keep the exchange of a turn: ``messages`` is its whole list, history included."""
        history, _ = self.history_for(cell)
        self.turns = [(k, s) for k, s in self.turns if s < len(history)] + [(cell, len(history))]
        self.messages = list(messages)

    def reset(self) -> None:
        self.messages.clear()
        self.turns.clear()

    def __len__(self) -> int:
        return len(self.turns)

    def text(self) -> str:
        """The exchange as readable text, one block per message."""
        lines = []
        for message in self.messages:
            role = message.get("role", "?")
            if message.get("tool_calls"):
                calls = ", ".join(f"{c['function']['name']}({json.dumps(c['function']['arguments'])})"
                                  for c in message["tool_calls"])  # fmt: skip
                lines.append(f"{role}: [calls {calls}]")
            if message.get("content"):
                name = f" {message['tool_name']}" if message.get("tool_name") else ""
                lines.append(f"{role}{name}: {message['content']}")
        return "\n\n".join(lines) or f"(conversation {self.name!r} is empty)"

    def __repr__(self) -> str:
        return f"<Conversation {self.name!r}: {len(self.turns)} turns, {len(self.messages)} messages>"

    def save(self, path: str | PathLike[str]) -> Path:
        target = Path(path)
        data = {"name": self.name, "messages": self.messages, "turns": self.turns}
        target.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
        return target

    @classmethod
    def load(cls, path: str | PathLike[str]) -> Conversation:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(data["name"], data["messages"], [tuple(t) for t in data.get("turns", [])])

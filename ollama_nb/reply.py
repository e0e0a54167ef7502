"""The value a ``%%ollama`` cell leaves behind in ``_ollama``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .stream import Metrics
from .trace import Trace


@dataclass
class Reply:
    """The model's answer and everything needed to inspect or continue it.

    ``content`` is the answer (thinking excluded), ``messages`` the whole exchange as sent to
    Ollama (ready to send again), ``metrics`` summed over the cell's model turns.
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

    @property
    def received(self) -> bool:
        """Whether anything arrived from the model (text, thinking or a tool call)."""
        return bool(self.content or self.thinking or self.trace.rounds)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.interrupted

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

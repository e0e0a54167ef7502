"""Where a model turn's time went: loading the model, reading the prompt, writing the answer.

The server's done line says how long each part took (``load_duration``, ``prompt_eval_duration``,
``eval_duration``, ``total_duration``, in nanoseconds); the stream says when the first piece
arrived. Laid on one clock from the turn's start, they show whether a slow answer was the model
loading, the prompt being read, or the answer being written. Pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .trace import ModelTurn
from .units import duration

Name = Literal["load", "wait", "prompt", "writing", "other"]
LABELS: dict[str, str] = {
    "load": "loading the model",
    "wait": "waiting for the server (other requests ahead, or busy)",
    "prompt": "reading the prompt",
    "writing": "writing the answer",
    "other": "the rest (template, sampling, the network)",
}


@dataclass(frozen=True)
class Phase:
    """A stretch of a turn, in seconds from the turn's start."""

    name: Name
    start_s: float
    duration_s: float
    tokens: int = 0

    @property
    def label(self) -> str:
        return LABELS[self.name]

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.duration_s if self.duration_s and self.tokens else 0.0


def phases(turn: ModelTurn) -> list[Phase]:
    """The turn's load, prompt and writing phases (none when the turn did not finish).

    Writing is placed at the end of the server's total time, where it happened; what the
    server's durations leave out (before the first token and after) is ``other``."""
    m = turn.metrics
    if m is None or not m.total_duration:
        return []
    load, prompt, writing, total = (m.load_duration / 1e9, m.prompt_eval_duration / 1e9,
                                    m.eval_duration / 1e9, max(m.total_duration / 1e9, turn.duration_s))  # fmt: skip
    found = []
    if load:
        found.append(Phase("load", 0.0, load))
    # Ollama queues a request for a free slot once its model is loaded: the wait comes next
    wait = turn.wait_s or 0.0
    if wait:
        found.append(Phase("wait", load, wait))
    if prompt:
        found.append(Phase("prompt", load + wait, prompt, m.prompt_eval_count))
    read = load + wait + prompt
    write_start = max(read, m.total_duration / 1e9 - writing)
    if write_start > read:
        found.append(Phase("other", read, write_start - read))
    if writing:
        found.append(Phase("writing", write_start, writing, m.eval_count))
    if total > write_start + writing:
        found.append(Phase("other", write_start + writing, total - write_start - writing))
    return found


def describe(turn: ModelTurn) -> str:
    """``loading the model 0.51 s · reading the prompt: 128 tokens in 18.3 s (7.0/s) · first
    token at 18.9 s · writing the answer: 5 tokens in 1.26 s (4.0/s)``"""
    parts = []
    for phase in phases(turn):
        if phase.name == "other":
            continue
        if phase.name == "writing" and turn.first_token_s is not None:
            parts.append(f"first token at {duration(turn.first_token_s)}")
        text = f"{phase.label}: {duration(phase.duration_s)}"
        if phase.tokens:
            tokens = f"{phase.tokens:,} token{'s' if phase.tokens != 1 else ''}"
            text = f"{phase.label}: {tokens} in {duration(phase.duration_s)}"
            text += f" ({phase.tokens_per_s:,.1f}/s)" if phase.tokens_per_s else ""
        parts.append(text)
    return " · ".join(parts)

"""Where a model turn's time went: loading the model, reading the prompt, writing the answer.

Two clocks meet here. This machine measured the turn: when the request went, when the first
piece arrived, when the last did (``ModelTurn.started_s``, ``first_token_s``, ``duration_s``).
The server reports its own durations in the done line (``load_duration``, ``prompt_eval_duration``,
``eval_duration``, ``total_duration``, nanoseconds). On a live server its work fits inside the
span measured here; a stand-in or a recording replayed faster reports more time than the turn
took. So the server's phases are laid on the measured span, from its start, scaled down by
:func:`scale` when they would not fit: every phase stays inside its turn and they add up to the
turn's span, never more. Words (:func:`describe`) say which figures are the server's own.

A phase is a name, a label and a place: a new kind (waiting for the server, say) is a
:data:`Name`, a :data:`LABELS` entry and a step in :func:`phases`. Pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .stream import Metrics
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
    """A stretch of a turn, in seconds from the turn's start on this machine's clock.
    ``reported_s`` is the server's own figure for it (``duration_s`` once scaled to fit)."""

    name: Name
    start_s: float
    duration_s: float
    tokens: int = 0
    reported_s: float = 0.0

    @property
    def label(self) -> str:
        return LABELS[self.name]

    @property
    def tokens_per_s(self) -> float:
        """The server's rate: its tokens over its own time for them."""
        spent = self.reported_s or self.duration_s
        return self.tokens / spent if spent and self.tokens else 0.0

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


def server_s(metrics: Metrics) -> float:
    """The server's own total for a turn, at least the sum of its parts."""
    parts = metrics.load_duration + metrics.prompt_eval_duration + metrics.eval_duration
    return max(metrics.total_duration, parts) / 1e9


def span(turn: ModelTurn) -> float:
    """The turn's length on the timeline: as measured here, or the server's total for a turn
    that has no measured length (a record from elsewhere)."""
    if turn.duration_s > 0:
        return turn.duration_s
    return server_s(turn.metrics) if turn.metrics is not None else 0.0


def scale(turn: ModelTurn) -> float:
    """What the server's durations are multiplied by to fit the measured span: 1, or less
    when the server reports more time than the turn took here."""
    reported = server_s(turn.metrics) if turn.metrics is not None else 0.0
    measured = span(turn)
    return measured / reported if reported > measured > 0 else 1.0


def phases(turn: ModelTurn) -> list[Phase]:
    """The turn's load, prompt and writing phases, tiling its span (none when it did not finish).

    Writing is placed at the end of the server's total time, where it happened; what the
    server's durations leave out (before the first token and after) is ``other``."""
    m = turn.metrics
    if m is None or not (m.total_duration or m.eval_duration):
        return []
    k, end = scale(turn), span(turn)
    load, prompt, writing = m.load_duration / 1e9, m.prompt_eval_duration / 1e9, m.eval_duration / 1e9
    # Ollama queues a request for a free slot once its model is loaded: the wait comes next (measured
    # here, in the server's total only)
    wait = turn.wait_s or 0.0
    read = load + wait + prompt
    write_start = max(read, server_s(m) - writing)
    found: list[Phase] = []

    def add(name: Name, start: float, stop: float, tokens: int = 0, reported: float = 0.0) -> None:
        start, stop = min(start * k, end), min(stop * k, end)
        if stop > start:
            found.append(Phase(name, start, stop - start, tokens, reported or (stop - start) / k))

    add("load", 0.0, load, reported=load)
    add("wait", load, load + wait, reported=wait)
    add("prompt", load + wait, read, m.prompt_eval_count, prompt)
    add("other", read, write_start)
    add("writing", write_start, write_start + writing, m.eval_count, writing)
    last = found[-1].end_s if found else 0.0
    if end > last:
        found.append(Phase("other", last, end - last))
    return found


def describe(turn: ModelTurn) -> str:
    """``loading the model 0.51 s · reading the prompt: 128 tokens in 18.3 s (7.0/s) · first
    token at 18.9 s · writing the answer: 5 tokens in 1.26 s (4.0/s)``

    When the server's figures do not fit the turn as measured here, the words say they are the
    server's own, and give the first token by this machine's clock after them."""
    found = [p for p in phases(turn) if p.name != "other"]
    if not found:
        return ""
    k = scale(turn)
    read = max((p.end_s for p in found if p.name in ("load", "prompt")), default=0.0)
    first = turn.first_token_s
    fits = k == 1.0 and (first is None or first >= read - 1e-3)  # no first token before the prompt was read
    parts = []
    for phase in found:
        if fits and phase.name == "writing" and first is not None:
            parts.append(f"first token at {duration(first)}")
        text = f"{phase.label}: {duration(phase.reported_s)}"
        if phase.tokens:
            tokens = f"{phase.tokens:,} token{'s' if phase.tokens != 1 else ''}"
            text = f"{phase.label}: {tokens} in {duration(phase.reported_s)}"
            text += f" ({phase.tokens_per_s:,.1f}/s)" if phase.tokens_per_s else ""
        parts.append(text)
    if fits:
        return " · ".join(parts)
    here = f"first token at {duration(first)} here" if first is not None else ""
    if k < 1.0:
        why = (
            f"times by the server's own clock: {duration(server_s(turn.metrics))} in all, more than the "  # type: ignore[arg-type]
            f"{duration(span(turn))} this turn took here (a stand-in or a replayed recording; the bars are "
            "scaled to fit)"
        )
    else:
        why = "times by the server's own clock (they put the first token later than it came here)"
    return " · ".join([*parts, why, *([here] if here else [])])

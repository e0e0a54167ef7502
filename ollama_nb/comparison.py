"""Models side by side: one prompt, several variants (models, thinking levels, option values).

``%%ollama -m llama3.2,qwen3 --think low,high -o temperature=0,1`` asks every combination, one
request per variant, one after the other by default (one local GPU serves one model at a time
well) or at once with ``parallel``. The :class:`Comparison` holds the replies and the figures that
compare them: time to first token, tokens per second, total time, tokens, tool calls, context use.
This module is the record (pure, saved under :data:`MIME`); :mod:`ollama_nb.sidebyside` runs
the variants, :mod:`ollama_nb.comparison_html` draws them.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pydantic

from .context import meter_text
from .errors import OptionError
from .reply import Reply

MAX_VARIANTS = 8
MIME = "application/vnd.ollama-nb.comparison+json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Variant:
    """One way of asking: a model, a thinking setting and option values."""

    model: str
    think: bool | str | None = None
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """``qwen3 · think high · temperature=0``"""
        parts = [self.model]
        if self.think is not None:
            parts.append(
                "think"
                if self.think is True
                else "no think"
                if self.think is False
                else f"think {self.think}"
            )
        parts += [f"{k}={json.dumps(v)}" for k, v in self.options]
        return " · ".join(parts)


def variants(
    models: Sequence[str],
    thinks: Sequence[bool | str | None] = (None,),
    options: Mapping[str, Sequence[Any]] = {},
) -> list[Variant]:
    """Every combination of the values given (a grid). Raises :class:`OptionError` past
    :data:`MAX_VARIANTS`."""
    keys = list(options)
    grid = [Variant(model, think, tuple(zip(keys, values, strict=True)))
            for model, think, values in itertools.product(models, thinks or (None,),
                                                          itertools.product(*(options[k] for k in keys)))]  # fmt: skip
    if len(grid) > MAX_VARIANTS:
        raise OptionError(
            f"That is {len(grid)} variants to compare; at most {MAX_VARIANTS} fit side by side: "
            "give fewer models or values."
        )
    return grid


@dataclass
class Row:
    """One line of the comparison table."""

    label: str
    first_token_s: float | None
    tokens_per_s: float
    total_s: float
    tokens: int
    tool_calls: int
    context: str
    outcome: str  # "ok", or the problem in a few words


@dataclass
class Comparison:
    """The replies of one prompt asked several ways; iterates and indexes as the list of replies.

    A variant that failed before anything arrived has ``None`` for its reply and its message in
    ``errors``."""

    prompt: str
    variants: list[Variant]
    replies: list[Reply | None] = field(default_factory=list)
    errors: list[str | None] = field(default_factory=list)
    parallel: bool = False
    interrupted: bool = False

    def __iter__(self) -> Iterator[Reply | None]:
        return iter(self.replies)

    def __len__(self) -> int:
        return len(self.replies)

    def __getitem__(self, index: int) -> Reply | None:
        return self.replies[index]

    def reply(self, label: str) -> Reply | None:
        """The reply of the variant with this label (or model name, when it is the only one)."""
        for variant, reply in zip(self.variants, self.replies, strict=False):
            if label in (variant.label, variant.model):
                return reply
        raise KeyError(label)

    def rows(self) -> list[Row]:
        """The comparison table: one row per variant, in the order asked."""
        return [_row(v, r, e) for v, r, e in zip(self.variants, self.replies, self.errors, strict=False)]

    def table(self) -> str:
        """The table as plain text (also the saved output's text fallback)."""
        head = ("variant", "first token", "tokens/s", "total", "tokens", "tool calls", "context", "")
        lines = [head] + [
            (r.label, _secs(r.first_token_s), f"{r.tokens_per_s:.1f}" if r.tokens_per_s else "–", _secs(r.total_s),
             str(r.tokens), str(r.tool_calls), r.context, "" if r.outcome == "ok" else r.outcome)
            for r in self.rows()
        ]  # fmt: skip
        widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
                         for line in lines)  # fmt: skip

    def __repr__(self) -> str:
        done = sum(1 for r in self.replies if r is not None)
        return f"<Comparison of {len(self.variants)} variants, {done} answered: {self.prompt[:40]!r}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    # -- the saved record ----------------------------------------------------------------------
    def to_record(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION, "prompt": self.prompt, "parallel": self.parallel,
            "interrupted": self.interrupted,
            "variants": [{"model": v.model, "think": v.think, "options": dict(v.options)} for v in self.variants],
            "replies": [r.to_record() if r is not None else None for r in self.replies],
            "errors": list(self.errors),
        }  # fmt: skip

    @classmethod
    def from_record(cls, record: Any) -> Comparison:
        """Rebuild from a saved record; raises ``ValueError`` saying what is wrong."""
        try:
            saved = _SavedComparison.model_validate(record)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "record"
            raise ValueError(f"comparison {where}: {first['msg']} ({exc.error_count()} problem(s))") from None
        found = [Variant(v.model, v.think, tuple(v.options.items())) for v in saved.variants]
        replies = [Reply.from_record(r) if r is not None else None for r in saved.replies]
        errors = list(saved.errors) + [None] * (len(found) - len(saved.errors))
        return cls(saved.prompt, found, replies, errors[: len(found)], saved.parallel, saved.interrupted)


class _SavedVariant(pydantic.BaseModel):
    model: str
    think: bool | str | None = None
    options: dict[str, Any] = {}


class _SavedComparison(pydantic.BaseModel):
    """The shape of a saved comparison (version 1); each reply is a reply record."""

    version: Literal[1]
    prompt: str = ""
    parallel: bool = False
    interrupted: bool = False
    variants: list[_SavedVariant]
    replies: list[dict[str, Any] | None]
    errors: list[str | None] = []


def _secs(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 1e3:.0f} ms" if value < 1 else f"{value:.2f} s"


def _row(variant: Variant, reply: Reply | None, error: str | None) -> Row:
    if reply is None or not reply.received:
        problem = error or (reply.error if reply is not None else None)
        return Row(variant.label, None, 0.0, 0.0, 0, 0, "–", problem or "no answer")
    first = next((t.first_token_s for t in reply.trace.turns if t.first_token_s is not None), None)
    use = reply.context
    if reply.interrupted:
        outcome = "interrupted"
    elif reply.error or error:
        outcome = reply.error or error or ""
    elif reply.truncated:
        outcome = "cut off (length)"
    else:
        outcome = "ok"
    return Row(variant.label, first, reply.metrics.tokens_per_s, reply.trace.duration_s, reply.metrics.eval_count,
               len(reply.trace), meter_text(use) if use else "–", outcome)  # fmt: skip

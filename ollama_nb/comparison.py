"""Models side by side: one prompt, several variants (models, thinking levels, option values).

``%%ollama -m llama3.2,qwen3 --think low,high -o temperature=0,1`` asks every combination, one
request per variant, one after the other by default (one local GPU serves one model at a time
well) or at once with ``parallel``. The :class:`Comparison` holds the replies and the figures that
compare them: time to first token, tokens per second, total time, tokens, tool calls, context use.
Nothing here knows Jupyter: each variant reports to a view the caller makes.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import api
from .context import meter_text
from .errors import Interrupted, OllamaNbError, OptionError
from .options import check, parse_options, parse_value
from .reply import Reply
from .viewbase import NullView, View

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


def split(text: str | None) -> list[str]:
    """``"llama3.2, qwen3"`` → ``["llama3.2", "qwen3"]``."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def option_values(pairs: Sequence[str]) -> dict[str, list[Any]]:
    """``-o`` pairs where a value may list several, comma-separated: ``temperature=0,1``. A value
    that is JSON as a whole is one value (``'stop=["a","b"]'``). Raises :class:`OptionError`."""
    found: dict[str, list[Any]] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key:
            raise OptionError(f"-o takes KEY=VALUE (e.g. -o temperature=0,1), not {pair!r}")
        try:
            json.loads(raw)
            pieces = [raw]
        except json.JSONDecodeError:
            pieces = [piece.strip() for piece in raw.split(",")]
        found[key] = [check(key, parse_value(piece)) for piece in pieces]
    return found


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


def from_cell(
    models: str, think: bool | str | None, pairs: Sequence[str]
) -> tuple[list[Variant], dict[str, Any], list[str]]:
    """What a cell asks for: its variants (``-m a,b``, ``--think low,high``, ``-o
    temperature=0,1``; one when nothing varies), the options they share, and notes on option
    names ollama_nb does not know. Raises :class:`OptionError`."""
    values = option_values(pairs)
    shared = {k: v[0] for k, v in values.items() if len(v) == 1}
    varying = {k: v for k, v in values.items() if len(v) > 1}
    _, notes = parse_options(f"{k}={json.dumps(v[0])}" for k, v in values.items())
    thinks: list[bool | str | None] = list(split(think)) if isinstance(think, str) else [think]
    return variants(split(models), thinks, varying), shared, notes


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
        rows = self.rows()
        problem = "problem" if any(r.outcome != "ok" for r in rows) else ""  # else the column is dropped
        head = ("variant", "first token", "tokens/s", "total", "tokens", "tool calls", "context", problem)
        lines = [head] + [
            (r.label, _secs(r.first_token_s), f"{r.tokens_per_s:.1f}" if r.tokens_per_s else "–", _secs(r.total_s),
             str(r.tokens), str(r.tool_calls), r.context, "" if r.outcome == "ok" else r.outcome)
            for r in rows
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
        if not isinstance(record, dict) or record.get("version") != FORMAT_VERSION:
            raise ValueError(f"not a comparison record of version {FORMAT_VERSION}")
        try:
            found = [Variant(v["model"], v.get("think"), tuple((v.get("options") or {}).items()))
                     for v in record["variants"]]  # fmt: skip
            replies = [Reply.from_record(r) if r is not None else None for r in record["replies"]]
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"a comparison record without {exc}") from None
        return cls(str(record.get("prompt", "")), found, replies, list(record.get("errors") or [None] * len(found)),
                   bool(record.get("parallel")), bool(record.get("interrupted")))  # fmt: skip


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


def run(
    prompt: str,
    chosen: Sequence[Variant],
    *,
    options: Mapping[str, Any] | None = None,
    make_view: Callable[[int, Variant], View] | None = None,
    parallel: bool = False,
    **chat: Any,
) -> Comparison:
    """Ask ``prompt`` once per variant through :func:`ollama_nb.chat` (``chat`` are its other
    arguments: tools, system, host...), each reporting to ``make_view(i, variant)``.

    A variant's failure is kept in the comparison and the others still run; an interrupt stops
    them all and raises :class:`Interrupted` carrying the comparison as ``.reply``."""
    if chat.get("chat") is not None:
        raise OllamaNbError(
            "A comparison cannot continue a conversation (--chat): compare in a cell of its own."
        )
    comparison = Comparison(prompt, list(chosen), [None] * len(chosen), [None] * len(chosen), parallel)
    cancel = threading.Event()

    def ask(index: int) -> None:
        variant = comparison.variants[index]
        view = make_view(index, variant) if make_view else NullView()
        try:
            comparison.replies[index] = api.chat(
                prompt, model=variant.model, think=variant.think if variant.think is not None else chat.get("think"),
                options={**(options or {}), **dict(variant.options)}, view=view, cancel=cancel,
                **{k: v for k, v in chat.items() if k != "think"},
            )  # fmt: skip
        except OllamaNbError as exc:
            comparison.replies[index], comparison.errors[index] = exc.reply, str(exc)
            if exc.reply is not None and not exc.reply.trace.turns:  # refused before sending: say it
                view.finish(exc.reply)  # in its column, which heard nothing yet
        except Interrupted as exc:  # what arrived is kept; a worker thread just ends
            comparison.replies[index], comparison.errors[index] = exc.reply, "interrupted"
            if not parallel:
                raise

    workers = [threading.Thread(target=ask, args=(i,), name=f"ollama_nb-compare-{i}", daemon=True)
               for i in range(len(chosen))] if parallel else []  # fmt: skip
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            while worker.is_alive():
                worker.join(0.1)  # short waits: an interrupt reaches this thread
        if not parallel:
            for index in range(len(chosen)):
                ask(index)
    except KeyboardInterrupt:
        cancel.set()
        for worker in workers:
            worker.join(5)  # each stops at its next chunk, keeping what arrived (a running tool may not)
        comparison.interrupted = True
        for index, reply in enumerate(comparison.replies):
            if reply is None and comparison.errors[index] is None:
                comparison.errors[index] = "not asked: interrupted"
        error = Interrupted("the comparison stopped; what arrived is kept in _ollama.")
        error.reply = comparison  # type: ignore[assignment]
        raise error from None
    return comparison


def compare(
    prompt: str,
    *,
    models: Sequence[str],
    think: Sequence[bool | str | None] = (None,),
    vary: Mapping[str, Sequence[Any]] | None = None,
    options: Mapping[str, Any] | None = None,
    parallel: bool = False,
    display: str = "auto",
    **chat: Any,
) -> Comparison:
    """Ask ``prompt`` of every combination of ``models``, ``think`` settings and ``vary``'s option
    values, shown side by side as they stream, then a table of figures::

        ollama_nb.compare("Why is the sky blue?", models=["llama3.2", "qwen3"], vary={"temperature": [0, 1]})

    ``options`` apply to all; ``chat`` are :func:`ollama_nb.chat`'s other arguments (``tools``,
    ``system``...). ``display``: ``"auto"`` (columns), ``"plain"`` (text) or ``"none"``."""
    grid = variants(list(models), list(think), {k: list(v) for k, v in (vary or {}).items()})
    if display == "none":
        return run(prompt, grid, options=options, parallel=parallel, **chat)
    from .comparisonview import compare_in_notebook

    return compare_in_notebook(prompt, grid, display_mode=display, parallel=parallel, options=options, **chat)

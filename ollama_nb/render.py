"""Pure functions from replies and traces to HTML and text. No widgets, no kernel.

Every piece of model or tool text goes through ``html.escape`` or the markdown renderer (which
escapes raw HTML), so nothing from the model becomes live HTML.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from html import escape
from importlib import resources
from typing import Any, Literal

from . import inside_html, nbcontext, phases
from .markdown import to_html
from .reply import MIME, TEXT_PREVIEW, Reply, clipped
from .stream import Metrics
from .trace import FromNotebook, ToolRound, Trace
from .units import duration

SHOWN_WAIT_S = 0.5  # a wait for the server shorter than this is not worth a word
WAITING = "other requests ahead, or the model loading"
ERROR_COLOUR = "#d32f2f"  # JupyterLab's light theme's; the stylesheet follows the theme
_ICONS = {"pending": "○", "running": "…", "ok": "✓", "error": "✗", "refused": "⊘", "interrupted": "■"}


@cache
def stylesheet(name: str = "style.css") -> str:
    """The CSS shared by the live widgets and the static output (``chat.css``: the chat box's),
    without comments and spare white space: it goes out with every cell."""
    css = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    css = re.sub(r"\s*([{};,>])\s*", r"\1", re.sub(r"\s+", " ", css))
    return re.sub(r":\s+", ":", css).replace(";}", "}").strip()  # "a: b" is only ever a declaration


def style_tag() -> str:
    return f"<style>{stylesheet()}</style>"


def wrapped(inner: str, *kinds: str, style: bool = True) -> str:
    """HTML inside the ``ollama-nb`` box that the stylesheet styles (``kinds``: more classes),
    the stylesheet first unless the page already has it."""
    classes = " ".join(("ollama-nb", *kinds))
    return f'<div class="{classes}">{style_tag() if style else ""}{inner}</div>'


def status_line(model: str, metrics: Metrics, rounds: int = 0, wall_s: float = 0.0,
                model_s: float | None = None) -> str:  # fmt: skip
    """``qwen3 · 120 tokens · 45.1 tokens/s · model 2.31 s · tools 2 calls · 3.10 s in all``

    "model" is the time the model turns took (``model_s``, measured here; else the server's own
    total), "in all" the wall clock from the first request to the end, tool calls and the way
    there and back included: the first never exceeds the second."""
    parts = [model]
    if metrics.total_duration:
        parts.append(f"{metrics.eval_count} tokens")
        if metrics.tokens_per_s:
            parts.append(f"{metrics.tokens_per_s:.1f} tokens/s")
        if metrics.wait_s >= SHOWN_WAIT_S:
            parts.append(f"waited {duration(metrics.wait_s)} for the server")
        spent = model_s if model_s is not None else metrics.total_s
        parts.append(f"model {duration(min(spent, wall_s) if wall_s else spent)}")
    else:
        parts.append("unfinished: no metrics")
    if rounds:
        parts.append(f"tools {rounds} call{'s' if rounds != 1 else ''}")
        if wall_s:
            parts.append(f"{duration(wall_s)} in all")
    return " · ".join(parts)


def reply_status(reply: Reply) -> str:
    trace = reply.trace
    model_s = sum(phases.span(t) for t in trace.turns if t.metrics is not None)
    line = status_line(reply.model, reply.metrics, len(trace), inside_html.timeline_end(trace), model_s)
    return f"{line} · cut short (num_predict or the context length)" if reply.truncated else line


def _value(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def call_text(round: ToolRound) -> str:  # noqa: A002
    """``add_two_numbers(a=3, b=1)``; an MCP server's tool after its server:
    ``clock › get_current_time(timezone="Asia/Tokyo")``"""
    arguments = round.arguments
    if isinstance(arguments, dict):
        inner = ", ".join(f"{k}={_value(v)}" for k, v in arguments.items())
    else:
        inner = _value(arguments)
    return f"{f'{round.server} › ' if round.server else ''}{round.name}({inner})"


def round_summary(round: ToolRound) -> str:  # noqa: A002
    """``✓ add_two_numbers(a=3, b=1) → 4 · 0.3 ms``"""
    text = f"{_ICONS[round.status]} {call_text(round)}"
    if round.status in ("ok", "error", "refused", "interrupted"):
        outcome = round.result if round.status == "ok" else (round.error or round.status)
        first = (outcome or "").strip().splitlines()[0] if (outcome or "").strip() else '""'
        text += f" → {first if len(first) <= 60 else first[:59] + '…'} · {duration(round.duration_s)}"
    elif round.status == "running":
        text += " running…"
    return text


def round_html(round: ToolRound, open_: bool = False) -> str:  # noqa: A002
    """One collapsible trace entry: summary line, then arguments, result and error."""
    body = [_section("arguments", json.dumps(round.arguments, indent=2, ensure_ascii=False, default=repr))]
    if round.coerced is not None and round.coerced != round.arguments:
        body.append(_section("as the function got them", _pretty(round.coerced)))
    if round.result is not None:
        body.append(_section("sent back to the model", round.result))
    if round.error:
        body.append(_section("error", round.error, error=True))
    body.append(f'<div class="ollama-nb-muted">status {round.status} · started at '
                f"{duration(round.started_s)} · took {duration(round.duration_s)}</div>")  # fmt: skip
    return (
        f'<details class="ollama-nb-round ollama-nb-{round.status}"{" open" if open_ else ""}>'
        f"<summary><code>{escape(round_summary(round))}</code></summary>{''.join(body)}</details>"
    )


def numbers(found: list[int]) -> str:
    """``In [1]–[4], [7]``: run numbers, runs of consecutive ones as ranges."""
    runs: list[list[int]] = []
    for n in sorted(found):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return "In " + ", ".join(f"[{r[0]}]" if len(r) == 1 else f"[{r[0]}]–[{r[-1]}]" for r in runs)


notebook_summary = nbcontext.summary  # the one line; the details below


def notebook_html(entry: FromNotebook, open_: bool = False) -> str:
    """What the model was shown of the notebook: collapsible, the cells by number with their
    token estimates, what was left out, skipped and masked (by name, never the value)."""
    rows = "".join(f"<tr><td>In [{c.number}]</td><td>~{c.tokens:,} tokens</td></tr>" for c in entry.cells)
    body = [f'<table class="ollama-nb-notebook-cells">{rows}</table>'] if rows else []
    if not entry.cells:
        body.append("<div>No cell was sent: none was recorded since %load_ext ollama_nb, or none fits.</div>")
    if entry.left_out:
        body.append(f"<div><b>left out</b> {escape(numbers(entry.left_out))}</div>")
    if entry.already:
        body.append(f"<div><b>in the conversation already</b> {escape(numbers(entry.already))}</div>")
    if entry.skipped:
        body.append(f"<div><b>skipped</b> (# ollama: skip) {escape(numbers(entry.skipped))}</div>")
    if entry.masked:
        masked = ", ".join(f"{name} ×{count}" if count > 1 else name for name, count in entry.masked.items())
        body.append(f"<div><b>masked</b> {escape(masked)}</div>")
    return (
        f'<details class="ollama-nb-notebook"{" open" if open_ else ""}>'
        f"<summary>{escape(notebook_summary(entry))}</summary>{''.join(body)}</details>"
    )


def _pretty(values: dict[str, Any]) -> str:
    return "\n".join(f"{k} = {v!r}" for k, v in values.items())


def _section(title: str, text: str, error: bool = False) -> str:
    """A titled block of text, cut at :data:`~ollama_nb.reply.SAVED_TEXT_LIMIT` characters with
    a visible note of how much more there is (the whole text stays in ``_ollama``)."""
    klass = ' class="ollama-nb-error-text"' if error else ""
    shown, more = clipped(text)
    return f"<div><b>{escape(title)}</b><pre{klass}>{escape(shown)}</pre>{inside_html.more_html(more)}</div>"


timeline_svg = inside_html.timeline_svg  # model turns split into load, prompt and writing; tool calls


def static_html(reply: Reply, *, style: bool = True, raised: bool = False) -> str:
    """The output a saved notebook keeps: readable in JupyterLab, nbconvert and on GitHub.
    ``style=False`` leaves out the stylesheet, for a page that has it once (the chat transcript).
    ``raised``: the cell also ends with the :class:`Interrupted` error, whose one line says the
    answer is partial, so the output does not say it again."""
    trace = reply.trace
    parts = [f'<div class="ollama-nb">{style_tag() if style else ""}']
    if reply.thinking:
        parts.append('<details class="ollama-nb-thinking"><summary>Thinking</summary>'
                     f'<div class="ollama-nb-thinking-text">{to_html(reply.thinking)}</div></details>')  # fmt: skip
    parts.append(f'<div class="ollama-nb-answer">{to_html(reply.content)}</div>')
    # the same order as the live view (answer, trace, status), so nothing moves when it is replaced
    parts.append('<div class="ollama-nb-trace">')
    parts.extend(notebook_html(n) for n in trace.of(FromNotebook))
    parts.extend(round_html(r) for r in trace.rounds)
    parts.extend(notice_html(n) for n in notices(reply))
    parts.append("</div>")
    parts.append(reply_status_html(reply, raised=raised))
    if reply.logprobs:
        parts.append(inside_html.logprobs_html(reply.logprobs, open_=False))
    parts.append(inside_html.time_html(trace))
    if trace.rendered is not None:
        parts.append(inside_html.rendered_html(trace.rendered))
    parts.append(prompt_html(trace))
    parts.append("</div>")
    return "".join(parts)


def notices(reply: Reply) -> list[str]:
    """The trace's notices (a conversation that went back, the tool-round limit), in order, so
    that what the live view said stays in the saved output."""
    texts = [notice.text for notice in reply.trace.notices]
    if reply.max_rounds_reached and not texts:  # a version 1 record: notices were not kept
        texts.append(
            "Tool-round limit reached: the model was asked to answer with what it had, without tools."
        )
    return texts


def notice_html(text: str) -> str:
    return f'<div class="ollama-nb-notice">{escape(text)}</div>'


def problem_html(reply: Reply, *, raised: bool = False) -> str:
    """One line in the error colour when the answer stopped early, else ''. An interrupt the
    cell raises is said by its error line only (``raised``)."""
    if reply.interrupted and raised:
        return ""
    if reply.interrupted:
        return '<div class="ollama-nb-problem">■ Interrupted: the answer above is partial.</div>'
    if reply.error:
        return f'<div class="ollama-nb-problem">✗ {escape(reply.error)}</div>'
    return ""


def reply_status_html(reply: Reply, *, raised: bool = False) -> str:
    """The problem line, if any, the status line (in the error colour when the call failed), and
    the context meter with any warning."""
    failed = " ollama-nb-failed" if (reply.error or reply.interrupted) else ""
    meter = inside_html.meter_html(reply.context, reply.chat) if reply.context is not None else ""
    return f'{problem_html(reply, raised=raised)}<div class="ollama-nb-status{failed}">{escape(reply_status(reply))}</div>{meter}'


def prompt_html(trace: Trace) -> str:
    inner = _section("prompt", trace.prompt)
    if trace.system:
        inner = _section("system", trace.system) + inner
    return f'<details class="ollama-nb-prompt"><summary>Prompt</summary>{inner}</details>'


Phase = Literal["queued", "waiting", "streaming", "tool", "stopping", "finishing", "done", "failed"]


@dataclass
class LiveStatus:
    """What the live status line says, kept as state and rendered afresh by :func:`status_html`."""

    model: str
    phase: Phase = "waiting"
    turn: int = 0  # the model turn under way, from 0
    tool: ToolRound | None = None  # the call about to run or running
    reply: Reply | None = None  # once done
    problem: str = ""  # why it failed before anything was sent
    waited_s: float = 0.0  # how long the request under way has had no byte back


def status_html(status: LiveStatus) -> str:
    if status.phase == "done" and status.reply is not None:
        return reply_status_html(status.reply)
    if status.phase == "failed":
        return f'<div class="ollama-nb-problem">✗ {escape(status.problem)}</div>'
    if status.phase == "stopping":
        return '<div class="ollama-nb-problem">■ Stopped: what arrived stays.</div>'
    if status.phase == "queued":
        return '<div class="ollama-nb-status">queued: sent when the reply above is done</div>'
    if status.phase == "tool" and status.tool is not None:
        doing = "about to call" if status.tool.status == "pending" else "running"
        text = f"{doing} {status.tool.name}…"
    else:
        turn = f" · turn {status.turn + 1}" if status.turn else ""
        doing = "streaming" if status.phase == "streaming" else "waiting for the model"
        text = f"{status.model}{turn} · {doing}…"
        if status.phase == "waiting" and status.waited_s >= 1:
            text = f"{status.model}{turn} · waiting for the server: {int(status.waited_s)} s: {WAITING}"
    return f'<div class="ollama-nb-status">{escape(text)}</div>'


def static_text(reply: Reply, *, raised: bool = False) -> str:
    """The text/plain fallback: the answer (its first :data:`TEXT_PREVIEW` characters: the HTML
    and the record keep it whole), problems, the status line and one line per tool call."""
    answer, more = clipped(reply.content.rstrip(), TEXT_PREVIEW)
    lines = [f"{answer} … {more:,} characters more" if more else answer]
    lines += notices(reply)
    if reply.interrupted:  # unless the cell's error line says it
        lines.append("" if raised else "[interrupted: the answer above is partial]")
    elif reply.error:
        lines.append(f"[error] {reply.error}")
    lines.append(reply_status(reply))
    lines += inside_html.inside_lines(reply)
    lines += [notebook_summary(n) for n in reply.trace.of(FromNotebook)]
    lines += [round_summary(r) for r in reply.trace.rounds]
    return "\n".join(line for line in lines if line)


def record(reply: Reply) -> dict[str, Any]:
    """The reply as plain JSON: what the saved output carries for machines."""
    return reply.to_record()


def static_bundle(reply: Reply, *, raised: bool = False) -> dict[str, Any]:
    """The MIME bundle of the output left in the notebook; the JSON part is for machines. The
    answer is kept whole twice: in the HTML people read and in the record ``load_replies``
    reads (in its messages); the text fallback holds its beginning."""
    return {"text/html": static_html(reply, raised=raised), "text/plain": static_text(reply, raised=raised),
            MIME: record(reply)}  # fmt: skip

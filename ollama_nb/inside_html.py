"""Pure HTML for seeing inside the model: the context meter, the rendered prompt, where a turn's
time went, token probabilities, and variants side by side. No widgets, no kernel.

Everything from the model, a tool or the template goes through ``html.escape`` (attributes
included) or the markdown renderer; nothing makes the browser fetch. The look is in the shared
stylesheet (``style.css``); what matters is written as text, so it still reads where styles are
stripped (GitHub, nbviewer): the bars are characters, the warnings words.
"""

from __future__ import annotations

import math
import re
from html import escape
from typing import TYPE_CHECKING, Any

from . import context, phases
from .trace import ContextUse, ModelTurn, RenderedPrompt, ToolRound, Trace
from .units import duration

if TYPE_CHECKING:
    from .reply import Reply

PHASE_COLOURS = {"load": "#9e9e9e", "wait": "#ffcc80", "prompt": "#90caf9", "other": "#e0e0e0",
                 "writing": "#1e88e5"}  # fmt: skip
ROUND_OK, ROUND_FAILED = "#fb8c00", "#d32f2f"


# -- the context meter ---------------------------------------------------------------------------
def meter_level(use: ContextUse) -> str:
    """``over`` when something was cut or overflowed, ``near`` when nearly full, else ``ok``."""
    if context.prompt_cut(use) or context.answer_cut(use) or (use.fraction or 0) > 1:
        return "over"
    return "near" if (use.fraction or 0) >= context.NEAR_FULL else "ok"


def meter_html(use: ContextUse, chat: str | None = None) -> str:
    """``context █████████░ 3,900 / 4,096 tokens · 95 %``, the conversation's trend, and any
    warning in words with what to do."""
    source = context.SOURCES.get(use.source, "unknown")
    trend = context.trend_text(use)
    parts = [
        f'<div class="ollama-nb-context" title="context length: {escape(source)}">context '
        f'<span class="ollama-nb-meter ollama-nb-meter-{meter_level(use)}">{context.bar(use.fraction)}</span> '
        f"{escape(context.meter_text(use))}"
    ]
    if trend:
        parts.append(f" · {escape(f'conversation {chat!r}' if chat else 'conversation')}: {escape(trend)}")
    parts.append("</div>")
    parts += [
        f'<div class="ollama-nb-warning">⚠ {escape(text)}</div>' for text in context.warnings(use, chat)
    ]
    return "".join(parts)


def meter_lines(use: ContextUse, chat: str | None = None) -> list[str]:
    """The meter as text lines (the saved output's text fallback, plain views)."""
    line = context.summary(use)
    if trend := context.trend_text(use):
        line += f" · conversation {chat!r}: {trend}" if chat else f" · conversation: {trend}"
    return [line] + [f"⚠ {text}" for text in context.warnings(use, chat)]


# -- under a reply's status line ----------------------------------------------------------------
def inside_html(reply: Reply) -> str:
    """What goes with a reply's status line: the context meter (and any warning in words), and
    the shaded answer when token probabilities came."""
    parts = [meter_html(reply.context, reply.chat)] if reply.context is not None else []
    if reply.logprobs:
        parts.append(logprobs_html(reply.logprobs, open_=False))
    return "".join(parts)


def inside_lines(reply: Reply) -> list[str]:
    """The meter and its warnings, as text."""
    return meter_lines(reply.context, reply.chat) if reply.context is not None else []


# -- the rendered prompt -------------------------------------------------------------------------
_MARKERS = re.compile(
    r"&lt;\|[^|\n]{1,40}\|&gt;"  # <|im_start|>, <|eot_id|>, <|start_header_id|>
    r"|&lt;/?(?:s|think|tools?|tool_call|tool_response|start_of_turn|end_of_turn|bos|eos)&gt;"
    r"|\[/?(?:INST|SYSTEM_PROMPT|AVAILABLE_TOOLS|TOOL_CALLS|TOOL_RESULTS)\]"
)


def rendered_html(entry: RenderedPrompt, open_: bool = False) -> str:
    """The prompt as the model reads it, template markers shaded, in a collapsible block."""
    marked = _MARKERS.sub(
        lambda m: f'<span class="ollama-nb-marker">{m.group(0)}</span>',
        escape(entry.text, quote=False),
    )
    lines = entry.text.count("\n") + 1
    images = f" · {entry.image_count} image(s)" if entry.image_count else ""
    return (
        f'<details class="ollama-nb-rendered"{" open" if open_ else ""}><summary>'
        f"What the model reads: the prompt as its template renders it ({len(entry.text):,} characters, "
        f"{lines:,} lines{images})</summary>"
        f"<pre>{marked}</pre></details>"
    )


# -- where the time went -------------------------------------------------------------------------
def timeline_end(trace: Trace) -> float:
    """Seconds from the cell's start to the end of its last turn or tool call."""
    ends = [t.started_s + phases.span(t) for t in trace.turns] + [
        r.started_s + r.duration_s for r in trace.rounds
    ]
    return max([trace.duration_s, *ends])


def timeline_svg(trace: Trace, width: int = 600) -> str:
    """Model turns (split into loading, reading the prompt, writing) and tool calls on one time
    axis, this machine's clock, with a tick at each turn's first token. The server's phases are
    scaled into their turn's measured span (see :mod:`ollama_nb.phases`): nothing leaves its turn."""
    total = timeline_end(trace) or 1e-9
    label, height = 150, 16
    scale = (width - label) / total
    rows: list[ModelTurn | ToolRound] = sorted(
        [*trace.turns, *trace.rounds], key=lambda entry: entry.started_s
    )
    shapes = []
    for i, entry in enumerate(rows):
        y = i * height
        x0 = label + entry.started_s * scale
        if isinstance(entry, ModelTurn):
            name = f"model turn {entry.index + 1}"
            span, k = phases.span(entry), phases.scale(entry)
            scaled = f" (the server's times scaled ×{k:.2f} to fit)" if k < 1 else ""
            shapes.append(_rect(x0, y, span * scale, "#bbdefb", f"{name}: {duration(span)}{scaled}", width))
            for phase in phases.phases(entry):
                tokens = f", {phase.tokens:,} tokens" if phase.tokens else ""
                said = f" (the server says {duration(phase.reported_s)})" if k < 1 else ""
                shapes.append(_rect(x0 + phase.start_s * scale, y, phase.duration_s * scale, PHASE_COLOURS[phase.name],
                                    f"{phase.label}: {duration(phase.duration_s)}{tokens}{said}", width))  # fmt: skip
            if entry.first_token_s is not None:
                x = min(x0 + min(entry.first_token_s, span) * scale, width - 1.0)
                shapes.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y}" y2="{y + height}" stroke="currentColor" '
                              f'stroke-width="1.5"><title>first token at {duration(entry.first_token_s)}</title></line>')  # fmt: skip
        else:
            name = entry.name
            colour = ROUND_OK if entry.status == "ok" else ROUND_FAILED
            shapes.append(
                _rect(x0, y, entry.duration_s * scale, colour, f"{name}: {duration(entry.duration_s)}", width)
            )
        shapes.insert(
            0, f'<text x="0" y="{y + 12}" font-size="11" fill="currentColor">{escape(name[:22])}</text>'
        )
    legend_y = len(rows) * height + 12
    legend = "".join(
        f'<rect x="{label + i * 95}" y="{legend_y - 9}" width="9" height="9" fill="{colour}"/>'
        f'<text x="{label + i * 95 + 12}" y="{legend_y}" font-size="10" fill="currentColor">{name}</text>'
        for i, (name, colour) in enumerate([*((n, PHASE_COLOURS[n]) for n in ("load", "wait", "prompt", "writing")),
                                            ("tool", ROUND_OK)])
    )  # fmt: skip
    return (
        f'<svg class="ollama-nb-timeline" width="{width}" height="{legend_y + 4}" xmlns="http://www.w3.org/2000/svg" '
        f'role="img" aria-label="timeline">{"".join(shapes)}{legend}'
        f'<text x="{width - 2}" y="{legend_y}" font-size="10" text-anchor="end" fill="currentColor">'
        f"{duration(total)}</text></svg>"
    )


def _rect(x: float, y: int, w: float, colour: str, title: str, width: int) -> str:
    """A bar at least a pixel wide, never past the drawing's right edge."""
    w = max(w, 1.0)
    x = min(x, width - w)
    return (f'<rect x="{x:.1f}" y="{y + 2}" width="{min(w, width - x):.1f}" height="12" fill="{colour}">'
            f"<title>{escape(title)}</title></rect>")  # fmt: skip


def phases_html(trace: Trace) -> str:
    """One line per model turn: load, prompt, first token, writing, in words (lines, not a list:
    the answer's own lists stay the only ones in the output)."""
    lines = [
        f"<div>turn {t.index + 1}: {escape(text)}</div>" for t in trace.turns if (text := phases.describe(t))
    ]
    return f'<div class="ollama-nb-phases">{"".join(lines)}</div>' if lines else ""


def time_html(trace: Trace) -> str:
    """The collapsible "where the time went" block: the timeline and the phases in words."""
    if not trace.turns:
        return ""
    return (f'<details class="ollama-nb-time"><summary>Timeline: where the time went</summary>'
            f"{timeline_svg(trace)}{phases_html(trace)}</details>")  # fmt: skip


# -- token probabilities -------------------------------------------------------------------------
def _probability(entry: dict[str, Any]) -> float | None:
    value = entry.get("logprob")
    return math.exp(value) if isinstance(value, (int, float)) else None


def _percent(p: float) -> str:
    return f"{100 * p:.0f} %" if p >= 0.01 else "<1 %"


def logprobs_html(logprobs: list[dict[str, Any]], open_: bool = True) -> str:
    """The answer token by token, each shaded by how unsure the model was (the less likely, the
    darker), its probability and top alternatives on hover. A teaching view."""
    spans, probabilities = [], []
    for entry in logprobs:
        if not isinstance(entry, dict):
            continue
        token, p = str(entry.get("token", "")), _probability(entry)
        if p is None:
            spans.append(escape(token))
            continue
        probabilities.append(p)
        others = [f"{t.get('token', '')!r} {_percent(q)}" for t in entry.get("top_logprobs") or []
                  if isinstance(t, dict) and (q := _probability(t)) is not None]  # fmt: skip
        title = f"{token!r}: {_percent(p)}" + (f" · alternatives: {', '.join(others)}" if others else "")
        alpha = round(0.75 * (1 - p), 2)
        spans.append(
            f'<span title="{escape(title)}" style="background:rgba(255,111,0,{alpha})">{escape(token)}</span>'
        )
    if not probabilities:
        return ""
    unsure = sum(1 for p in probabilities if p < 0.2)
    mean = sum(probabilities) / len(probabilities)
    summary = (f"Token probabilities: {len(probabilities):,} tokens, {_percent(mean)} on average, "
               f"{unsure:,} under 20 % (darker: less sure; hover for the alternatives)")  # fmt: skip
    return (f'<details class="ollama-nb-logprobs"{" open" if open_ else ""}><summary>'
            f'{escape(summary)}</summary><div class="ollama-nb-tokens">{"".join(spans)}</div>'
            "</details>")  # fmt: skip

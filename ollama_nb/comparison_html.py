"""Pure HTML and text for a comparison: the answers in columns and the figures table, and the
output a saved notebook keeps (HTML, text, and the record under the comparison's MIME type).
Everything from the model goes through ``html.escape`` or the markdown renderer."""

from __future__ import annotations

from html import escape
from typing import Any

from .comparison import MIME, Comparison
from .render import static_html, wrapped
from .units import duration


def comparison_html(comparison: Comparison) -> str:
    """The answers in columns (a table, so it holds without styles), then the figures table."""
    heads = "".join(f"<th>{escape(v.label)}</th>" for v in comparison.variants)
    cells = []
    for reply, error in zip(comparison.replies, comparison.errors, strict=False):
        inner = static_html(reply, style=False) if reply is not None and reply.received else ""
        if error and not (reply is not None and reply.error):
            inner += f'<div class="ollama-nb-problem">✗ {escape(error)}</div>'
        cells.append(f"<td>{inner}</td>")
    columns = (f'<table class="ollama-nb-columns"><tr>{heads}</tr>'
               f"<tr>{''.join(cells)}</tr></table>")  # fmt: skip
    return wrapped(columns + figures_html(comparison), "ollama-nb-comparison")


def figures_html(comparison: Comparison) -> str:
    """Time to first token, tokens/s, total time, tokens, tool calls, context use; the best
    time and speed in bold."""
    rows = comparison.rows()
    firsts = [r.first_token_s for r in rows if r.first_token_s is not None]
    speeds = [r.tokens_per_s for r in rows if r.tokens_per_s]
    totals = [r.total_s for r in rows if r.outcome == "ok"]

    def best(text: str, value: float | None, values: list[float], low: bool) -> str:
        winner = value is not None and len(values) > 1 and value == (min(values) if low else max(values))
        return f"<b>{text}</b>" if winner else text

    head = "".join(f"<th>{h}</th>" for h in ("variant", "first token", "tokens/s", "total", "tokens", "tool calls",
                                             "context", ""))  # fmt: skip
    body = []
    for r in rows:
        first = best(_cell(r.first_token_s), r.first_token_s, firsts, low=True)
        speed = best(f"{r.tokens_per_s:.1f}" if r.tokens_per_s else "–", r.tokens_per_s, speeds, low=False)
        total = best(
            _cell(r.total_s) if r.total_s else "–", r.total_s if r.outcome == "ok" else None, totals, low=True
        )
        outcome = (
            "" if r.outcome == "ok" else f'<span class="ollama-nb-error-text">{escape(r.outcome)}</span>'
        )
        body.append(f"<tr><td>{escape(r.label)}</td><td>{first}</td><td>{speed}</td>"
                    f"<td>{total}</td><td>{r.tokens:,}</td><td>{r.tool_calls}</td><td>{escape(r.context)}</td>"
                    f"<td>{outcome}</td></tr>")  # fmt: skip
    return f'<table class="ollama-nb-figures"><tr>{head}</tr>{"".join(body)}</table>'


def _cell(value: float | None) -> str:
    return "–" if value is None else duration(value)


def comparison_text(comparison: Comparison) -> str:
    """The text fallback: the figures table, then each variant's answer under its name."""
    parts = [comparison.table()]
    for variant, reply, error in zip(
        comparison.variants, comparison.replies, comparison.errors, strict=False
    ):
        parts.append(f"── {variant.label} ──")
        parts.append((reply.content.strip() if reply is not None else "") or f"[{error or 'no answer'}]")
    return "\n\n".join(parts)


def comparison_bundle(comparison: Comparison) -> dict[str, Any]:
    """The output a saved notebook keeps for a comparison: HTML, text, and the record."""
    return {"text/html": comparison_html(comparison), "text/plain": comparison_text(comparison),
            MIME: comparison.to_record()}  # fmt: skip

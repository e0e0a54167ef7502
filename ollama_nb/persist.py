"""What a saved notebook keeps, read back; and exports of a conversation to other formats."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from html import escape
from os import PathLike
from pathlib import Path
from typing import Any

import nbformat

from . import render
from .markdown import to_html
from .reply import Reply
from .stream import Metrics
from .trace import Trace


def _records(nb: nbformat.NotebookNode) -> Iterator[dict[str, Any]]:
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            record = output.get("data", {}).get(render.MIME)
            if record is not None:
                yield record


def reply_from_record(record: dict[str, Any]) -> Reply:
    """A :class:`Reply` rebuilt from the JSON a ``%%ollama`` output carries."""
    return Reply(
        model=record["model"], messages=record["messages"], trace=Trace.from_dict(record["trace"]),
        content=record["content"], thinking=record.get("thinking", ""),
        metrics=Metrics.from_dict(record.get("metrics") or {}), done_reason=record.get("done_reason", ""),
        error=record.get("error"), interrupted=record.get("interrupted", False),
    )  # fmt: skip


def load_replies(path: str | PathLike[str]) -> list[Reply]:
    """Every ``%%ollama`` reply kept in a saved notebook, in order."""
    return [reply_from_record(r) for r in _records(nbformat.read(path, as_version=4))]


def load_traces(path: str | PathLike[str]) -> list[Trace]:
    """The traces of the ``%%ollama`` cells that called tools, in order."""
    return [reply.trace for reply in load_replies(path) if reply.trace.rounds]


def load_conversation(path: str | PathLike[str]) -> list[dict[str, Any]]:
    """The messages of the notebook's last exchange, ready to send again (or to continue)."""
    replies = load_replies(path)
    return list(replies[-1].messages) if replies else []


def _user_prompt(reply: Reply) -> str:
    return reply.trace.prompt


def export(replies: Iterable[Reply], path: str | PathLike[str]) -> Path:
    """Write replies as a notebook, Markdown, HTML or JSON, chosen by the file's extension."""
    target = Path(path)
    replies = list(replies)
    writers = {".ipynb": _to_notebook, ".md": _to_markdown, ".html": _to_html, ".json": _to_json}
    writer = writers.get(target.suffix.lower())
    if writer is None:
        raise ValueError(
            f"cannot export to {target.suffix or 'a file without extension'}: use .ipynb, .md, .html or .json"
        )
    target.write_text(writer(replies), encoding="utf-8")
    return target


def _to_notebook(replies: list[Reply]) -> str:
    cells = []
    for reply in replies:
        cells.append(
            nbformat.v4.new_markdown_cell(f"**You** · {reply.model}\n\n{_quote(_user_prompt(reply))}")
        )
        cells.append(nbformat.v4.new_markdown_cell(reply.content or "*(no answer)*"))
        if reply.trace.rounds:
            trace = "".join(render.round_html(r) for r in reply.trace.rounds)
            output = nbformat.v4.new_output(
                "display_data",
                data={"text/html": f'<div class="ollama-nb-trace">{trace}</div>',
                      "text/plain": "\n".join(render.round_summary(r) for r in reply.trace.rounds),
                      render.MIME: render.record(reply)},  # so load_traces reads exports too
            )  # fmt: skip
            cell = nbformat.v4.new_code_cell("# the tool calls behind the answer above", outputs=[output])
            cells.append(cell)
    nb = nbformat.v4.new_notebook(cells=cells)
    nbformat.validate(nb)
    return nbformat.writes(nb)


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines()) or "> "


def _to_markdown(replies: list[Reply]) -> str:
    parts = []
    for reply in replies:
        parts.append(f"### You\n\n{_quote(_user_prompt(reply))}\n\n### {reply.model}\n\n{reply.content}\n")
        for trip in reply.trace.rounds:
            parts.append(render.round_html(trip) + "\n")
        parts.append(f"\n*{render.reply_status(reply)}*\n")
    return "\n".join(parts)


def _to_html(replies: list[Reply]) -> str:
    body = "".join(
        f"<section><h3>You</h3><blockquote>{to_html(_user_prompt(r))}</blockquote>"
        f"<h3>{escape(r.model)}</h3>{render.static_html(r)}</section>"
        for r in replies
    )
    return f'<!doctype html><html><head><meta charset="utf-8"><title>ollama_nb conversation</title></head><body>{body}</body></html>'


def _to_json(replies: list[Reply]) -> str:
    return json.dumps(
        {"version": render.FORMAT_VERSION, "replies": [render.record(r) for r in replies]}, indent=1
    )

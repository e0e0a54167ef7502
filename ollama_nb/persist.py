"""What a saved notebook keeps, read back; and exports of a conversation to other formats."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from html import escape
from os import PathLike
from pathlib import Path
from typing import Any

import nbformat

from . import records, render
from .errors import RecordError
from .markdown import safe_markdown, to_html
from .reply import FORMAT_VERSION, MIME, Reply
from .trace import Trace


def _read(path: str | PathLike[str]) -> nbformat.NotebookNode:
    try:
        return nbformat.read(path, as_version=4)
    except FileNotFoundError:
        raise RecordError(f"{path}: no such notebook.") from None
    except Exception as exc:  # nbformat raises many kinds for a file that is not a notebook
        raise RecordError(f"{path} is not a readable notebook: {str(exc).splitlines()[0][:200]}") from None


def _records(nb: nbformat.NotebookNode) -> Iterator[tuple[int, str, Any]]:
    for number, cell in enumerate(nb.get("cells", [])):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            data = output.get("data") if isinstance(output, dict) else None
            for mime in records.KINDS:
                if isinstance(data, dict) and mime in data:
                    yield number, mime, data[mime]


def read_replies(path: str | PathLike[str]) -> tuple[list[Reply], list[str]]:
    """The replies kept in a saved notebook (a comparison's answered variants included), and one
    line per output that could not be read (one bad output does not hide the others)."""
    replies, problems = [], []
    for number, mime, record in _records(_read(path)):
        try:
            replies += records.replies(mime, record, where=f"{path}, cell {number + 1}")
        except RecordError as exc:
            problems.append(str(exc))
    return replies, problems


def load_replies(path: str | PathLike[str]) -> list[Reply]:
    """Every ``%%ollama`` reply kept in a saved notebook, in order; raises :class:`RecordError`
    naming the file, the cell and the problem when an output is not a valid record."""
    replies, problems = read_replies(path)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise RecordError(f"{problems[0]}{more}. persist.read_replies returns the readable ones.")
    return replies


def load_traces(path: str | PathLike[str]) -> list[Trace]:
    """The traces of the ``%%ollama`` cells that called tools, in order."""
    return [reply.trace for reply in load_replies(path) if reply.trace.rounds]


def rebuild(replies: Iterable[Reply]) -> list[dict[str, Any]]:
    """The messages of the last reply's conversation, rebuilt from the cells' own parts (each
    saved reply keeps only its own turn and how many earlier messages it was sent with)."""
    replies = list(replies)
    if not replies:
        return []
    chat = replies[-1].chat
    messages: list[dict[str, Any]] = []
    for reply in replies if chat is not None else replies[-1:]:
        if reply.chat == chat:
            messages = messages[: reply.history] + reply.own_messages
    return messages


def load_conversation(path: str | PathLike[str]) -> list[dict[str, Any]]:
    """The messages of the notebook's last exchange, ready to send again (or to continue)."""
    return rebuild(load_replies(path))


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
            nbformat.v4.new_markdown_cell(
                f"**You** · {reply.model}\n\n{_quote(safe_markdown(_user_prompt(reply)))}"
            )
        )
        cells.append(nbformat.v4.new_markdown_cell(safe_markdown(reply.content) or "*(no answer)*"))
        if reply.trace.rounds:
            trace = "".join(render.round_html(r) for r in reply.trace.rounds)
            output = nbformat.v4.new_output(
                "display_data",
                data={"text/html": f'<div class="ollama-nb-trace">{trace}</div>',
                      "text/plain": "\n".join(render.round_summary(r) for r in reply.trace.rounds),
                      MIME: reply.to_record()},  # so load_traces reads exports too
            )  # fmt: skip
            cell = nbformat.v4.new_code_cell("# the tool calls behind the answer above", outputs=[output])
            cells.append(cell)
    nb = nbformat.v4.new_notebook(cells=cells)
    nbformat.validate(nb)
    return nbformat.writes(nb)


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines()) or "> "


def _to_markdown(replies: list[Reply]) -> str:
    """Plain markdown: the prompt quoted, the answer, the trace as bullets (no HTML)."""
    parts = []
    for reply in replies:
        prompt, answer = safe_markdown(_user_prompt(reply)), safe_markdown(reply.content)
        parts.append(f"### You\n\n{_quote(prompt)}\n\n### {reply.model}\n\n{answer}\n")
        if reply.trace.rounds:
            parts.append("Tool calls:\n")
            parts.extend(
                "- `" + render.round_summary(trip).replace("`", "'") + "`" for trip in reply.trace.rounds
            )
            parts.append("")
        parts.append(f"*{render.reply_status(reply)}*\n")
    return "\n".join(parts)


def _to_html(replies: list[Reply]) -> str:
    body = "".join(
        f"<section><h3>You</h3><blockquote>{to_html(_user_prompt(r))}</blockquote>"
        f"<h3>{escape(r.model)}</h3>{render.static_html(r)}</section>"
        for r in replies
    )
    return f'<!doctype html><html><head><meta charset="utf-8"><title>ollama_nb conversation</title></head><body>{body}</body></html>'


def _to_json(replies: list[Reply]) -> str:
    return json.dumps({"version": FORMAT_VERSION, "replies": [r.to_record() for r in replies]}, indent=1)

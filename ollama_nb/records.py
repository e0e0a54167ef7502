"""Saved records read back: one entry point for every kind a notebook keeps.

A saved output carries its record under a MIME type that says its kind: a reply
(:data:`ollama_nb.reply.MIME`, versions 1 and 2) or a comparison
(:data:`ollama_nb.comparison.MIME`, version 1, holding one reply record per variant). Each is
validated with pydantic on the way in; whatever is wrong is one :class:`RecordError`.
"""

from __future__ import annotations

from typing import Any

from . import comparison, reply
from .comparison import Comparison
from .errors import RecordError
from .reply import Reply

KINDS = {reply.MIME: "reply", comparison.MIME: "comparison"}


def load(mime: str, data: Any, *, where: str = "") -> Reply | Comparison:
    """The reply or comparison saved under ``mime``; raises :class:`RecordError` (prefixed by
    ``where``, e.g. the file and cell) saying what is wrong."""
    try:
        if mime == reply.MIME:
            return Reply.from_record(data)
        if mime == comparison.MIME:
            return Comparison.from_record(data)
    except ValueError as exc:
        raise RecordError(f"{where}: {exc}" if where else str(exc)) from None
    raise RecordError(f"{where + ': ' if where else ''}{mime} is not a record ollama_nb saves")


def replies(mime: str, data: Any, *, where: str = "") -> list[Reply]:
    """The replies in a record: the reply itself, or a comparison's answered variants."""
    found = load(mime, data, where=where)
    if isinstance(found, Comparison):
        return [r for r in found.replies if r is not None]
    return [found]

"""ollama_nb: a local Ollama model as a first-class citizen of the notebook.

``%load_ext ollama_nb``, then ``%%ollama -m MODEL`` cells; or :func:`chat` from code.
"""

from __future__ import annotations

from typing import Any

from .api import chat, conversation, defaults
from .chatwidget import ChatWidget
from .conversation import Conversation
from .errors import Interrupted, OllamaNbError
from .persist import export, load_conversation, load_replies, load_traces
from .reply import Reply
from .schema import SchemaError, ToolSpec
from .stream import Metrics
from .tools import Toolbox, tool
from .trace import ModelTurn, ToolRound, Trace
from .view import LiveView, StreamingMarkdown, TraceView

__all__ = [
    "ChatWidget",
    "Conversation",
    "Interrupted",
    "LiveView",
    "Metrics",
    "ModelTurn",
    "OllamaNbError",
    "Reply",
    "SchemaError",
    "StreamingMarkdown",
    "ToolRound",
    "ToolSpec",
    "Toolbox",
    "Trace",
    "TraceView",
    "chat",
    "conversation",
    "defaults",
    "export",
    "load_conversation",
    "load_ipython_extension",
    "load_replies",
    "load_traces",
    "tool",
]
__version__ = "0.1.0"


def load_ipython_extension(ipython: Any) -> None:
    from .magic import OllamaMagics

    ipython.register_magics(OllamaMagics)

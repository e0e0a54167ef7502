"""ollama_nb: a local Ollama model as a first-class citizen of the notebook.

``%load_ext ollama_nb``, then ``%%ollama -m MODEL`` cells; or :func:`chat` from code.

Importing the package loads no Jupyter package: the widgets (ipywidgets, IPython) and the
notebook readers (nbformat) are imported the first time one of their names is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .api import chat, connect, conversation, defaults, render_prompt
from .backend import Backend, ModelInfo
from .comparison import Comparison, Variant, compare
from .conversation import Conversation
from .errors import (
    ArgumentError,
    AuthError,
    CapabilityError,
    ConfirmUnavailable,
    ContextFull,
    FormatError,
    Interrupted,
    ModelNotFound,
    NotOllama,
    OllamaNbError,
    OptionError,
    PromptError,
    RecordError,
    SchemaError,
    ServerError,
    ServerUnreachable,
    StreamBroken,
    Unsupported,
)
from .reply import Reply
from .schema import ToolSpec
from .stream import Metrics
from .tools import Toolbox, tool
from .trace import ContextUse, ModelTurn, Notice, RenderedPrompt, ToolRound, Trace
from .viewbase import NullView, View

if TYPE_CHECKING:
    from .chatwidget import ChatWidget
    from .persist import export, load_conversation, load_replies, load_traces
    from .view import LiveView, PlainView, StreamingMarkdown, TraceView

_LAZY = {
    "ChatWidget": "chatwidget",
    "LiveView": "view",
    "PlainView": "view",
    "StreamingMarkdown": "view",
    "TraceView": "view",
    "export": "persist",
    "load_conversation": "persist",
    "load_replies": "persist",
    "load_traces": "persist",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ollama_nb' has no attribute {name!r}")


__all__ = [
    "ArgumentError",
    "AuthError",
    "Backend",
    "CapabilityError",
    "ChatWidget",
    "Comparison",
    "ConfirmUnavailable",
    "ContextFull",
    "ContextUse",
    "Conversation",
    "FormatError",
    "Interrupted",
    "LiveView",
    "Metrics",
    "ModelInfo",
    "ModelNotFound",
    "ModelTurn",
    "NotOllama",
    "Notice",
    "NullView",
    "OllamaNbError",
    "OptionError",
    "PlainView",
    "PromptError",
    "RecordError",
    "RenderedPrompt",
    "Reply",
    "SchemaError",
    "ServerError",
    "ServerUnreachable",
    "StreamBroken",
    "StreamingMarkdown",
    "ToolRound",
    "ToolSpec",
    "Toolbox",
    "Trace",
    "TraceView",
    "Unsupported",
    "Variant",
    "View",
    "chat",
    "compare",
    "connect",
    "conversation",
    "defaults",
    "export",
    "load_conversation",
    "load_ipython_extension",
    "load_replies",
    "load_traces",
    "render_prompt",
    "tool",
]
__version__ = "0.2.0"


def load_ipython_extension(ipython: Any) -> None:
    from .cells import install
    from .magic import OllamaMagics

    ipython.register_magics(OllamaMagics)
    install(ipython)  # the cells from now on, for --notebook and --fix

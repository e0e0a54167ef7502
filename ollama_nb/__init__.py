"""ollama_nb: a local Ollama model as a first-class citizen of the notebook.

``%load_ext ollama_nb``, then ``%%ollama -m MODEL`` cells; or :func:`chat` from code.

Importing the package loads no Jupyter package: the widgets (ipywidgets, IPython) and the
notebook readers (nbformat) are imported the first time one of their names is used. What is
exported here is what a user calls and the documented extension points (:class:`View`,
:class:`Backend`); everything else stays importable from its module.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from . import models  # pull, create, ps, show, unload, rm: ollama_nb.models.pull("llama3.2")
from .api import chat, compare, connect, conversation, defaults, render_prompt
from .backend import Backend, ModelInfo
from .comparison import Comparison, Variant
from .conversation import Conversation
from .errors import (
    ArgumentError,
    AuthError,
    CapabilityError,
    ConfirmUnavailable,
    ContextFull,
    FormatError,
    InputError,
    Interrupted,
    McpError,
    ModelNotFound,
    NotOllama,
    OllamaNbError,
    OptionError,
    PromptError,
    RecordError,
    SchemaError,
    ServerBusy,
    ServerError,
    ServerUnreachable,
    SharedServer,
    StreamBroken,
    ToolClash,
    Unsupported,
)
from .reply import Reply
from .settings import Settings
from .tools import tool
from .trace import Trace
from .viewbase import NullView, View

if TYPE_CHECKING:
    from .chatwidget import ChatWidget
    from .persist import export, load_conversation, load_replies, load_traces
    from .view import StreamingMarkdown, TraceView

_LAZY = {
    "ChatWidget": "chatwidget",
    "StreamingMarkdown": "view",
    "TraceView": "view",
    "export": "persist",
    "load_conversation": "persist",
    "load_replies": "persist",
    "load_traces": "persist",
}

try:
    __version__ = version("ollama_nb")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"


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
    "Conversation",
    "FormatError",
    "InputError",
    "Interrupted",
    "McpError",
    "ModelInfo",
    "ModelNotFound",
    "NotOllama",
    "NullView",
    "OllamaNbError",
    "OptionError",
    "PromptError",
    "RecordError",
    "Reply",
    "SchemaError",
    "ServerBusy",
    "ServerError",
    "ServerUnreachable",
    "Settings",
    "SharedServer",
    "StreamBroken",
    "StreamingMarkdown",
    "ToolClash",
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
    "models",
    "render_prompt",
    "tool",
]


def load_ipython_extension(ipython: Any) -> None:
    from .cells import install
    from .magic import OllamaMagics
    from .transformers import register

    ipython.register_magics(OllamaMagics)
    register(ipython)
    install(ipython)  # the cells from now on, for --notebook and --fix

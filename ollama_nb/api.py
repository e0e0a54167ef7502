"""``ollama_nb.chat``: the pipeline under the magic, usable from code, with or without display."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pydantic

from . import loop, transport
from .conversation import Conversation
from .errors import Interrupted, OllamaNbError, with_reply
from .reply import Reply
from .stream import ToolCall
from .tools import DEFAULT_MAX_RESULT_CHARS, Toolbox


@dataclass
class Defaults:
    """Settings used when a cell does not give them (``%ollama use NAME`` sets the model)."""

    model: str | None = None
    host: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    max_rounds: int = loop.DEFAULT_MAX_ROUNDS
    max_result_chars: int = DEFAULT_MAX_RESULT_CHARS


defaults = Defaults()
conversations: dict[str, Conversation] = {}
Display = Literal["auto", "widget", "plain", "none"]


def conversation(name: str) -> Conversation:
    """The conversation called ``name``, created empty the first time."""
    return conversations.setdefault(name, Conversation(name))


class CapabilityError(OllamaNbError):
    """The model says it cannot do what was asked (tools, thinking, images)."""


class FormatError(OllamaNbError):
    """A structured answer did not parse; the raw text stays in ``.reply.content``."""


def chat(
    prompt: str,
    *,
    model: str | None = None,
    host: str | None = None,
    system: str | None = None,
    think: bool | str | None = None,
    options: dict[str, Any] | None = None,
    format: str | dict[str, Any] | type[pydantic.BaseModel] | None = None,  # noqa: A002 - Ollama's name
    tools: Iterable[Callable[..., Any]] = (),
    history: Sequence[dict[str, Any]] = (),
    chat: str | Conversation | None = None,
    cell: str | None = None,
    images: Sequence[Any] = (),
    stream: bool = True,
    max_rounds: int | None = None,
    confirm: Callable[[ToolCall], bool] | None = None,
    display: Display = "auto",
    view: Any = None,
    cancel: threading.Event | None = None,
) -> Reply:
    """Ask ``model`` and return the :class:`Reply`; with ``display`` the answer streams into the
    notebook as in a ``%%ollama`` cell (``"none"`` shows nothing, for scripts and tests).

    ``chat`` continues a :class:`Conversation` (by name or object); ``cell`` identifies the
    asking cell, so that asking again from it replaces its earlier turn instead of adding one.
    ``view`` replaces the display (an observer with ``show`` and ``finish``); ``cancel`` stops
    the exchange when set from another thread.

    Raises a short :class:`OllamaNbError` (or ``Interrupted``) with the partial reply as ``.reply``.
    """
    model = model or defaults.model
    if not model:
        raise OllamaNbError(
            "No model given: pass model=... (or -m MODEL), or set a default with %ollama use NAME."
        )
    toolbox = Toolbox(tools, max_result_chars=defaults.max_result_chars)
    client = transport.client_for(host or defaults.host)
    _check_capabilities(
        client, model, tools=bool(toolbox), think=think not in (None, False), images=bool(images)
    )
    thread = conversation(chat) if isinstance(chat, str) else chat
    dropped = 0
    if thread is not None:
        history, dropped = thread.history_for(cell)
    messages = [*history]
    if system:
        messages = [m for m in messages if m.get("role") != "system"]
        messages.insert(0, {"role": "system", "content": system})
    user: dict[str, Any] = {"role": "user", "content": prompt}
    if images:
        user["images"] = [transport.encode_image(image) for image in images]
    messages.append(user)
    wire_format = format.model_json_schema() if _is_model(format) else format
    request = loop.Request(model, messages, think=think, format=wire_format,  # type: ignore[arg-type]
                           options={**defaults.options, **(options or {})}, stream=stream)  # fmt: skip
    view = view or _make_view(display, model)
    view.show()
    if dropped:
        view.notice(f"Asked again from the same cell: conversation {thread.name!r} went back to that turn "  # type: ignore[union-attr]
                    f"and dropped the {dropped} turn(s) after it.")  # fmt: skip
    try:
        reply = loop.run(client, request, toolbox=toolbox or None, observer=view,
                         max_rounds=max_rounds or defaults.max_rounds, confirm=confirm, cancel=cancel)  # fmt: skip
        if format is not None:
            _parse(reply, format)
    except (OllamaNbError, Interrupted) as exc:
        view.finish(exc.reply)  # type: ignore[attr-defined]
        if thread is not None:  # kept, marked partial: the next turn sends what the user saw
            thread.record(cell, exc.reply.messages, partial=True)  # type: ignore[attr-defined]
        raise
    if thread is not None:
        thread.record(cell, reply.messages)
    view.finish(reply)
    return reply


def _check_capabilities(client: Any, model: str, *, tools: bool, think: bool, images: bool) -> None:
    """Say plainly, before sending, what the model's own capabilities rule out."""
    if not (tools or think or images):
        return
    known = transport.capabilities(client, model)
    if known is None:  # an older server, or no such model: the server's answer will say
        return
    wanted = {"tools": tools, "thinking": think, "vision": images}
    missing = [name for name, asked in wanted.items() if asked and name not in known]
    if missing:
        raise CapabilityError(
            f"{model} cannot use {' or '.join(missing)} (its capabilities: {', '.join(sorted(known)) or 'none'}). "
            "Pick another model (%ollama models lists them) or drop the option."
        )


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, pydantic.BaseModel)


def _parse(reply: Reply, format: Any) -> None:  # noqa: A002
    try:
        reply.parsed = (
            format.model_validate_json(reply.content) if _is_model(format) else json.loads(reply.content)
        )
    except (ValueError, pydantic.ValidationError) as exc:
        reply.error = f"The answer is not valid for the requested format: {str(exc).splitlines()[0]}"
        raise with_reply(FormatError(reply.error + " The raw text is in _ollama.content."), reply) from None


def _make_view(display: Display, model: str) -> Any:
    from .view import NullView, PlainView, widgets_available

    if display == "none":
        return NullView()
    if display == "plain" or (display == "auto" and not widgets_available()):
        return PlainView(model)
    from .view import LiveView

    return LiveView(model)

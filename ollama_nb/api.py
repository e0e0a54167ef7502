"""``ollama_nb.chat``: the pipeline under the magic, usable from code, with or without display."""

from __future__ import annotations

import base64
import io
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeGuard

import pydantic

from . import context, loop, retry
from .backend import Backend
from .conversation import Conversation
from .errors import CapabilityError, FormatError, Interrupted, OllamaNbError, Unsupported
from .ollama_backend import OllamaBackend
from .reply import Reply
from .stream import ToolCall
from .tools import DEFAULT_MAX_RESULT_CHARS, Toolbox
from .trace import Notice, RenderedPrompt, Trace
from .viewbase import NullView, View


@dataclass
class Defaults:
    """Settings used when a cell does not give them (``%ollama use NAME`` sets the model)."""

    model: str | None = None
    host: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    max_rounds: int = loop.DEFAULT_MAX_ROUNDS
    max_result_chars: int = DEFAULT_MAX_RESULT_CHARS
    keep_alive: str | float | None = None
    api_key: str | None = None  # sent to any host; else OLLAMA_API_KEY goes to ollama.com only
    timeout: float | None = None  # seconds of silence before a stream is given up (None: wait)
    strict_context: bool = False  # refuse a prompt longer than the context instead of cutting it
    queue_timeout: float | None = None  # seconds before the first byte (queued, loading); None: wait
    retries: int = retry.DEFAULT_RETRIES  # busy answers (503, 429, 502, 504) asked again
    retry_max_wait: float = retry.DEFAULT_MAX_WAIT  # seconds of waiting between them, in all


defaults = Defaults()
conversations: dict[str, Conversation] = {}
Display = Literal["auto", "widget", "plain", "none"]


def conversation(name: str) -> Conversation:
    """The conversation called ``name``, created empty the first time."""
    return conversations.setdefault(name, Conversation(name))


def connect(host: str | None = None, api_key: str | None = None, conversation: str | None = None) -> Backend:
    """The backend for ``host`` (else the default host, else ``OLLAMA_HOST`` read now);
    ``conversation``: the id its requests carry, for a load balancer."""
    policy = retry.RetryPolicy(retries=defaults.retries, max_wait=defaults.retry_max_wait)
    return OllamaBackend(host or defaults.host, api_key=api_key or defaults.api_key, read_timeout=defaults.timeout,
                         queue_timeout=defaults.queue_timeout, retry=policy, conversation=conversation)  # fmt: skip


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
    view: View | None = None,
    cancel: threading.Event | None = None,
    api_key: str | None = None,
    keep_alive: str | float | None = None,
    truncate: bool | None = None,
    shift: bool | None = None,
    logprobs: bool | None = None,
    top_logprobs: int | None = None,
    extra: dict[str, Any] | None = None,
    strict_context: bool | None = None,
    render: bool = False,
) -> Reply:
    """Ask ``model`` and return the :class:`Reply`; with ``display`` the answer streams into the
    notebook as in a ``%%ollama`` cell (``"none"`` shows nothing, for scripts and tests).

    ``chat`` continues a :class:`Conversation` (by name or object); ``cell`` identifies the
    asking cell, so that asking again from it replaces its earlier turn instead of adding one.
    ``view`` replaces the display (any :class:`~ollama_nb.viewbase.View`); ``cancel`` stops
    the exchange when set from another thread. ``think`` is True/False or a level ("low",
    "medium", "high", "max"). ``keep_alive`` ("5m", seconds, 0 unloads, -1 keeps), ``truncate``
    and ``shift`` (False: the server refuses a prompt longer than the context instead of cutting
    it), ``logprobs``/``top_logprobs`` (kept in ``.logprobs``) go to the server as given;
    ``extra`` adds any other request field as it is.

    ``strict_context`` is ``truncate`` and ``shift`` False together (default:
    ``defaults.strict_context``); ``render`` first asks the server for the prompt as the model
    reads it, kept in the trace (``reply.rendered``), or one line saying why it cannot.

    Raises a short :class:`OllamaNbError` (or ``Interrupted``) with the partial reply as ``.reply``.
    """
    if strict_context if strict_context is not None else defaults.strict_context:
        truncate = False if truncate is None else truncate
        shift = False if shift is None else shift
    ready = _prepare(prompt, model=model, host=host, system=system, think=think, options=options,
                     format=format, tools=tools, history=history, chat=chat, cell=cell, images=images,
                     stream=stream, api_key=api_key, keep_alive=keep_alive,
                     extra=_fields(truncate=truncate, shift=shift, logprobs=logprobs,
                                   top_logprobs=top_logprobs, **(extra or {})))  # fmt: skip
    thread, model = ready.thread, ready.request.model
    view = view or _make_view(display, model)
    view.show()
    preface: list[str | RenderedPrompt] = []
    if ready.dropped and thread is not None:
        preface.append(f"Asked again from the same cell: conversation {thread.name!r} went back to that turn "
                       f"and dropped the {ready.dropped} turn(s) after it.")  # fmt: skip
    if render:
        preface.append(_rendered_or_why(ready))
    try:
        reply = loop.run(ready.backend, ready.request, toolbox=ready.toolbox or None, view=view, preface=preface,
                         max_rounds=max_rounds or defaults.max_rounds, confirm=confirm, cancel=cancel,
                         earlier=ready.earlier)  # fmt: skip
        reply.history, reply.chat = ready.kept, thread.name if thread is not None else None
        if format is not None:
            _parse(reply, format)
    except (OllamaNbError, Interrupted) as exc:
        if exc.reply is not None:
            exc.reply.history, exc.reply.chat = ready.kept, thread.name if thread is not None else None
            view.finish(exc.reply)
            # kept, marked partial: the next turn sends what the user saw
            if thread is not None and exc.reply.received:
                thread.record(cell, exc.reply.messages, partial=True, usage=_usage(exc.reply))
        raise
    if logprobs and reply.received and not reply.logprobs:
        reply.trace.add(Notice("The server sent no token probabilities: that needs Ollama 0.12.11 or newer."))
    if thread is not None:
        thread.record(cell, reply.messages, usage=_usage(reply))
        thread.model = model
    view.finish(reply)
    return reply


def _usage(reply: Reply) -> tuple[int, int] | None:
    use = reply.context
    return (use.prompt_tokens, use.used) if use is not None else None


def render_prompt(
    prompt: str,
    *,
    model: str | None = None,
    host: str | None = None,
    system: str | None = None,
    think: bool | str | None = None,
    options: dict[str, Any] | None = None,
    tools: Iterable[Callable[..., Any]] = (),
    history: Sequence[dict[str, Any]] = (),
    chat: str | Conversation | None = None,
    cell: str | None = None,
    images: Sequence[Any] = (),
    api_key: str | None = None,
) -> RenderedPrompt:
    """The text the model would read for this prompt, settings, tools and conversation, as the
    server's template renders it; nothing is generated. Raises :class:`Unsupported` (one line)
    when the server cannot render (Ollama before 0.11.5)."""
    ready = _prepare(prompt, model=model, host=host, system=system, think=think, options=options,
                     tools=tools, history=history, chat=chat, cell=cell, images=images, api_key=api_key)  # fmt: skip
    return _render(ready)


@dataclass
class _Prepared:
    """A request ready to send, with where it goes and the conversation it continues."""

    backend: Backend
    request: loop.Request
    toolbox: Toolbox
    thread: Conversation | None = None
    kept: int = 0  # messages from earlier cells, left out of this cell's record
    dropped: int = 0  # turns a re-run dropped from the conversation
    earlier: context.Earlier | None = None  # what the conversation used of the context so far


def _prepare(
    prompt: str,
    *,
    model: str | None,
    host: str | None,
    system: str | None,
    think: bool | str | None,
    options: dict[str, Any] | None,
    tools: Iterable[Callable[..., Any]],
    history: Sequence[dict[str, Any]],
    chat: str | Conversation | None,
    cell: str | None,
    images: Sequence[Any],
    api_key: str | None,
    format: Any = None,  # noqa: A002
    stream: bool = True,
    keep_alive: str | float | None = None,
    extra: dict[str, Any] | None = None,
) -> _Prepared:
    """The request for a prompt, settings, tools and conversation, checked against the model's
    capabilities before anything is sent."""
    thread = conversation(chat) if isinstance(chat, str) else chat
    model = model or (thread.model if thread is not None else None) or defaults.model
    if not model:
        raise OllamaNbError(
            "No model given: pass model=... (or -m MODEL), or set a default with %ollama use NAME."
        )
    toolbox = Toolbox(tools, max_result_chars=defaults.max_result_chars)
    # a conversation's requests carry its id; a cell on its own gets one of its own
    backend = connect(host, api_key, thread.id if thread is not None else uuid.uuid4().hex)
    dropped, earlier = 0, None
    if thread is not None:
        history, dropped = thread.history_for(cell)
        last_prompt, used = thread.used_before(cell)
        answer = history[-1].get("content", "") if history and history[-1].get("role") == "assistant" else ""
        added = (context.at_least_tokens(str(answer)) if answer else 0) + context.at_least_tokens(prompt)
        earlier = context.Earlier(last_prompt, added, tuple(used))
    messages = [*history]
    kept = len(messages)  # messages that came from earlier cells, left out of this cell's record
    if system:
        messages = [m for m in messages if m.get("role") != "system"]
        messages.insert(0, {"role": "system", "content": system})
        kept = 0
    user: dict[str, Any] = {"role": "user", "content": prompt}
    if images:
        user["images"] = [encode_image(image) for image in images]
    messages.append(user)
    wire_format = format.model_json_schema() if _is_model(format) else format
    request = loop.Request(model, messages, think=think, format=wire_format,
                           options={**defaults.options, **(options or {})}, stream=stream,
                           keep_alive=keep_alive if keep_alive is not None else defaults.keep_alive,
                           extra=dict(extra or {}))  # fmt: skip
    try:
        _check_capabilities(backend, model, tools=bool(toolbox), think=think not in (None, False),
                            images=bool(images))  # fmt: skip
    except (OllamaNbError, Interrupted) as exc:  # nothing sent: the reply says so, not an older one
        exc.reply = Reply(model, messages, Trace(model, prompt, system or ""), error=str(exc))
        raise
    return _Prepared(backend, request, toolbox, thread, kept, dropped, earlier)


def _render(ready: _Prepared) -> RenderedPrompt:
    body = ready.request.body(ready.request.messages, ready.toolbox.schemas() if ready.toolbox else None)
    info = ready.backend.render_prompt(body)
    count = info.get("image_count")
    return RenderedPrompt(info["rendered_template"], count if isinstance(count, int) else 0)


def _rendered_or_why(ready: _Prepared) -> RenderedPrompt | str:
    """For ``render=True``: the rendered prompt, or one line saying why the server cannot."""
    try:
        return _render(ready)
    except Unsupported as exc:
        return str(exc)


def _fields(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _check_capabilities(backend: Backend, model: str, *, tools: bool, think: bool, images: bool) -> None:
    """Say plainly, before sending, what the model's own capabilities rule out."""
    if not (tools or think or images):
        return
    known = backend.capabilities(model)
    if known is None:  # an older server, or no such model: the server's answer will say
        return
    wanted = {"tools": tools, "thinking": think, "vision": images}
    missing = [name for name, asked in wanted.items() if asked and name not in known]
    if missing:
        raise CapabilityError(
            f"{model} cannot use {' or '.join(missing)} (its capabilities: {', '.join(sorted(known)) or 'none'}). "
            "Pick another model (%ollama models lists them) or drop the option."
        )


def _is_model(value: Any) -> TypeGuard[type[pydantic.BaseModel]]:
    return isinstance(value, type) and issubclass(value, pydantic.BaseModel)


def _parse(reply: Reply, format: Any) -> None:  # noqa: A002
    try:
        reply.parsed = (
            format.model_validate_json(reply.content) if _is_model(format) else json.loads(reply.content)
        )
    except (ValueError, pydantic.ValidationError) as exc:
        reply.error = f"The answer is not valid for the requested format: {str(exc).splitlines()[0]}"
        if reply.truncated:
            reply.error += " (it was cut short: raise -o num_predict=... or -o num_ctx=...)"
        raise FormatError(reply.error + " The raw text is in _ollama.content.", reply=reply) from None


def encode_image(image: Any) -> str:
    """Base64 for a path, raw bytes, or anything with a PIL-style ``save``."""
    if isinstance(image, (bytes, bytearray)):
        data = bytes(image)
    elif isinstance(image, (str, Path)):
        data = Path(image).expanduser().read_bytes()
    elif hasattr(image, "save"):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        data = buffer.getvalue()
    else:
        raise TypeError(f"cannot send a {type(image).__name__} as an image")
    return base64.b64encode(data).decode()


def _make_view(display: Display, model: str) -> View:
    """The view for code that asked for ``display`` (the magic and the chat box choose their own)."""
    if display == "none":
        return NullView()
    from .kernel import widgets_available
    from .plain import PlainView

    if display == "plain" or (display == "auto" and not widgets_available()):
        return PlainView(model)
    from .view import CellView

    return CellView(model)

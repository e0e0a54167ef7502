"""One request, one pipeline: from :class:`Settings` and a prompt to a :class:`Reply`.

Every step a cell takes runs here, under one policy:

- before anything is sent (the model, the tools, the images, the host, the capability check) a
  failure raises a short :class:`OllamaNbError` carrying a reply that says so, so ``_ollama`` is
  always this cell's;
- the chat rounds and the tools run in :mod:`ollama_nb.loop`, which keeps what arrived;
- the extras (the rendered prompt, the context meter, token probabilities) are
  :class:`Extras`: their failure or an interrupt during them becomes a notice in the trace and
  never costs the answer; every request they make has a time limit;
- the view is finished with whatever there is, then the failure, if any, is raised.

It knows no Jupyter: the caller passes a :class:`~ollama_nb.viewbase.View`.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard, TypeVar

import pydantic

from . import context, loop, nbcontext, reload
from .backend import Backend
from .conversation import Conversation, conversation
from .errors import (
    CapabilityError,
    ConversationBusy,
    FormatError,
    InputError,
    Interrupted,
    OllamaNbError,
    SharedServer,
    Unsupported,
)
from .masking import Secret
from .nbcontext import Built, Notebook
from .ollama_backend import OllamaBackend
from .reply import Reply
from .retry import RetryPolicy
from .settings import Settings
from .tools import Toolbox
from .trace import Carried, FromNotebook, Notice, RenderedPrompt, Trace
from .viewbase import View

T = TypeVar("T")


def connect(settings: Settings, conversation: str | None = None) -> Backend:
    """The backend for the settings' host (else ``OLLAMA_HOST`` read now) and credentials;
    ``conversation`` is the id every request carries (for a load balancer)."""
    policy = RetryPolicy(retries=settings.retries, max_wait=settings.retry_max_wait)
    return OllamaBackend(settings.host, api_key=settings.api_key, read_timeout=settings.timeout,
                         queue_timeout=settings.queue_timeout, retry=policy, conversation=conversation)  # fmt: skip


_loads: dict[tuple[str, str], float] = {}  # (host, model): seconds the last load took, for the reload notice


@dataclass
class Prepared:
    """A request ready to send, with where it goes and the conversation it continues."""

    settings: Settings
    backend: Backend
    request: loop.Request
    toolbox: Toolbox
    thread: Conversation | None = None
    cell: str | None = None
    kept: int = 0  # messages from earlier cells, left out of this cell's record
    dropped: int = 0  # turns a re-run dropped from the conversation
    earlier: context.Earlier | None = None  # what the conversation used of the context so far
    warnings: tuple[str, ...] = ()  # said before the answer (the reload it causes for everyone)
    shown: FromNotebook | None = None  # what was sent of the notebook, ahead of the prompt
    leading: int = 0  # this turn's messages ahead of its prompt (the notebook's)


def prepare(
    settings: Settings,
    prompt: str,
    *,
    chat: str | Conversation | None = None,
    cell: str | None = None,
    history: Sequence[dict[str, Any]] = (),
    backend: Backend | None = None,
    notebook: Notebook | None = None,
) -> Prepared:
    """The request for a prompt, settings and conversation, checked before anything is sent.
    ``notebook``: the cells the kernel recorded, sent ahead of the prompt as ``settings.notebook``
    says. A failure raises with a reply that says so (``.reply``): nothing was sent."""
    thread = conversation(chat) if isinstance(chat, str) else chat
    model = settings.model or (thread.model if thread is not None else None) or ""
    messages: list[dict[str, Any]] = [*history, {"role": "user", "content": prompt}]
    try:
        if not model:
            raise InputError(
                "No model given: pass model=... (or -m MODEL), or set a default with %ollama use NAME."
            )
        settings = settings.replace(model=model)
        toolbox = Toolbox(
            settings.tools, max_result_chars=settings.max_result_chars, mcp_timeout=settings.mcp_timeout
        )
        if backend is None:  # a conversation's requests carry its id; a cell on its own, one of its own
            backend = connect(settings, thread.id if thread is not None else uuid.uuid4().hex)
        dropped, earlier = 0, None
        if thread is not None:
            history, dropped = thread.history_for(cell)
        shown = None
        if settings.notebook:
            shown = shown_notebook(settings, backend, notebook, history, thread.name if thread else None)
        if thread is not None:
            last_prompt, used = thread.used_before(cell)
            answer = (
                history[-1].get("content", "") if history and history[-1].get("role") == "assistant" else ""
            )
            added = (context.at_least_tokens(str(answer)) if answer else 0) + context.at_least_tokens(prompt)
            if shown is not None and shown.text:
                added += context.at_least_tokens(shown.text)
            earlier = context.Earlier(last_prompt, added, tuple(used), thread.carried_before(cell))
        messages = [*history]
        kept = len(messages)
        if settings.system:
            messages = [m for m in messages if m.get("role") != "system"]
            messages.insert(0, {"role": "system", "content": settings.system})
            kept = 0
        leading = 0
        if shown is not None and shown.text:
            messages.append({"role": "user", "content": shown.text})
            leading = 1
        user: dict[str, Any] = {"role": "user", "content": prompt}
        if settings.images:
            user["images"] = [encode_image(image) for image in settings.images]
        messages.append(user)
        fmt = settings.format
        wire = fmt.model_json_schema() if is_model(fmt) else fmt
        request = loop.Request(model, messages, format=wire,  # type: ignore[arg-type]  # str or dict left
                               stream=settings.stream, fields=settings.body_fields())  # fmt: skip
        check_capabilities(backend, model, tools=bool(toolbox), think=settings.think not in (None, False),
                           images=bool(settings.images))  # fmt: skip
        warnings = foresee_reload(backend, settings)
    except (OllamaNbError, Interrupted, KeyboardInterrupt) as exc:
        reply = Reply(model, messages, Trace(model, prompt, settings.system or ""), error=str(exc))
        if isinstance(exc, (OllamaNbError, Interrupted)):
            exc.reply = reply
            raise
        reply.error, reply.interrupted = None, True
        raise Interrupted("stopped before anything was sent.", reply=reply) from None
    return Prepared(settings, backend, request, toolbox, thread, cell, kept, dropped, earlier, warnings,
                    shown.entry if shown is not None else None, leading)  # fmt: skip


def shown_notebook(settings: Settings, backend: Backend, notebook: Notebook | None,
                   history: Sequence[dict[str, Any]], chat: str | None = None) -> Built:  # fmt: skip
    """The notebook's cells for ``settings.notebook``: the last N, as many as fit a quarter of
    the context, or the failing cell and what it depends on; not those the conversation holds."""
    if notebook is None:
        raise InputError(
            "The notebook's cells are recorded from %load_ext ollama_nb on, and it has not run in this "
            "kernel: run it, then the cells after it can be sent."
        )
    secrets = [*notebook.secrets, *([Secret("api_key", settings.api_key)] if settings.api_key else [])]
    choice, before = settings.notebook, nbcontext.shown_before(history)
    if isinstance(choice, int) and not isinstance(choice, bool):
        return nbcontext.build(notebook.cells, last=choice, secrets=secrets, before=before, chat=chat)
    limit, source = context.context_length(backend, str(settings.model), settings.options)
    if source == "model" and limit:  # not loaded yet: it will run with the server's default, not its maximum
        limit = min(limit, nbcontext.DEFAULT_CONTEXT)
    budget = nbcontext.default_budget(limit)
    if choice == "fix":
        built = nbcontext.build_fix(notebook.cells, budget=budget, secrets=secrets)
        if built is None:
            raise InputError("Nothing to fix: no cell has raised an error since %load_ext ollama_nb.")
        return built
    return nbcontext.build(notebook.cells, budget=budget, secrets=secrets, before=before, chat=chat)


def run(
    settings: Settings,
    prompt: str,
    view: View,
    *,
    chat: str | Conversation | None = None,
    cell: str | None = None,
    history: Sequence[dict[str, Any]] = (),
    cancel: threading.Event | None = None,
    backend: Backend | None = None,
    notebook: Notebook | None = None,
) -> Reply:
    """Ask, stream into ``view``, run the tools, and return this cell's :class:`Reply`.

    Raises :class:`OllamaNbError` or :class:`Interrupted` carrying the reply (``.reply``), which
    keeps what arrived; the view is finished first."""
    thread = conversation(chat) if isinstance(chat, str) else chat
    with _turn_of(thread, settings, prompt):
        ready = prepare(settings, prompt, chat=thread, cell=cell, history=history, backend=backend,
                        notebook=notebook)  # fmt: skip
        return answer(ready, view, cancel=cancel)


@contextmanager
def _turn_of(thread: Conversation | None, settings: Settings, prompt: str) -> Iterator[None]:
    """One turn at a time per conversation and thread: a turn asked from inside another on the
    same conversation (a tool whose code runs ``%%ollama --chat`` with its name) is refused with
    :class:`ConversationBusy` and a reply that says so; it would be recorded before its prompt."""
    if thread is None:
        yield
        return
    try:
        thread.claim()
    except ConversationBusy as exc:
        model = settings.model or thread.model or ""
        exc.reply = Reply(model, [{"role": "user", "content": prompt}], Trace(model, prompt), error=str(exc))
        raise
    try:
        yield
    finally:
        thread.release()


def answer(ready: Prepared, view: View, *, cancel: threading.Event | None = None) -> Reply:
    """Send a prepared request and see it through (see :func:`run`)."""
    settings, thread = ready.settings, ready.thread
    view.show()
    preface: list[str | RenderedPrompt | FromNotebook] = []
    preface.extend(ready.warnings)
    if ready.shown is not None:
        preface.append(ready.shown)
        view.notice(nbcontext.summary(ready.shown))
    if ready.dropped and thread is not None:
        preface.append(f"Asked again from the same cell: conversation {thread.name!r} went back to that turn "
                       f"and dropped the {ready.dropped} turn(s) after it.")  # fmt: skip
    extras = Extras()
    if settings.render:
        rendered = extras.run("The rendered prompt", lambda: render(ready))
        preface.append(rendered if rendered is not None else extras.notices.pop())
        if extras.interrupted:  # stopped before the question went out: nothing more is asked
            request = ready.request
            reply = Reply(request.model, request.messages, Trace(request.model, request.messages[-1]["content"],
                          settings.system or ""), interrupted=True)  # fmt: skip
            view.finish(reply)
            raise Interrupted("stopped before the question was sent.", reply=reply)
    failure: OllamaNbError | Interrupted | None = None
    try:
        reply = loop.run(ready.backend, ready.request, toolbox=ready.toolbox or None, view=view, preface=preface,
                         max_rounds=settings.max_rounds, confirm=settings.confirm, cancel=cancel)  # fmt: skip
    except (OllamaNbError, Interrupted) as exc:
        failure, reply = exc, exc.reply  # type: ignore[assignment]  # the loop always attaches it
    reply.history, reply.chat = ready.kept, thread.name if thread is not None else None
    _remember_load(ready, reply)
    _finish_extras(ready, reply, extras)
    if failure is None and settings.format is not None:
        failure = parse(reply, settings.format)
    for text in extras.notices:
        view.notice(reply.trace.add(Notice(text, reply.trace.duration_s, "warning")).text)
    if thread is not None and (failure is None or reply.received):
        # kept, marked partial when it ended early: the next turn sends what the user saw
        thread.record(ready.cell, reply.messages, partial=failure is not None, usage=_usage(reply),
                      leading=ready.leading)  # fmt: skip
        if failure is None:
            thread.model = ready.request.model
    view.finish(reply)
    if failure is not None:
        raise failure
    if extras.interrupted:
        raise Interrupted("the answer is complete and kept in _ollama.", reply=reply)
    return reply


class Extras:
    """Runs what is shown beside an answer: a failure, or an interrupt, becomes a notice."""

    def __init__(self) -> None:
        self.notices: list[str] = []
        self.interrupted = False

    def run(self, what: str, step: Callable[[], T]) -> T | None:
        try:
            return step()
        except KeyboardInterrupt:  # Interrupted included: the answer stays
            self.interrupted = True
            self.notices.append(f"{what} was skipped: interrupted.")
        except Unsupported as exc:
            self.notices.append(str(exc))
        except Exception as exc:  # any failure of an extra: said, never the answer's loss
            self.notices.append(f"{what} is not shown: {_one_line(exc)}")
        return None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, OllamaNbError) else f"{type(exc).__name__}: {text[:200]}"


def _finish_extras(ready: Prepared, reply: Reply, extras: Extras) -> None:
    """The context meter and the token probabilities' notice, once the rounds are over."""
    ended = [t for t in reply.trace.turns if t.metrics]
    if not ended:
        return
    options = ready.request.options

    def meter() -> None:
        limit, source = context.context_length(ready.backend, ready.request.model, options)
        end = max(t.started_s + t.duration_s for t in reply.trace.turns)
        carried = [t.carried for t in ended if t.carried is not None]
        use = context.measure(ended, limit, source, options=options, earlier=ready.earlier, started_s=end,
                              carried=carried)  # fmt: skip
        if use is None:
            return
        reply.trace.add(use)
        last = reply.last_request
        if last is not None and context.worth_checking(use, last):  # the signs point at dropped messages
            use.check, use.check_note = "unchecked", "the check did not finish"  # until the server has said
            use.check, use.check_note = context.check_dropped(ready.backend, last)

    extras.run("The context meter", meter)
    if ready.settings.logprobs and reply.received and not reply.logprobs:
        extras.notices.append("The server sent no token probabilities: that needs Ollama 0.12.11 or newer.")


def _usage(reply: Reply) -> tuple[int, int, Carried | None] | None:
    use = reply.context
    return (
        (use.prompt_tokens, use.used, use.carried[-1] if use.carried else None) if use is not None else None
    )


def render(ready: Prepared) -> RenderedPrompt:
    """The prompt as the model's template renders it (nothing is generated); raises
    :class:`Unsupported` in one line when the server cannot."""
    request = ready.request
    body = request.body(request.messages, ready.toolbox.schemas() if ready.toolbox else None)
    info = ready.backend.render_prompt(body)
    text, count = info.get("rendered_template"), info.get("image_count")
    if not isinstance(text, str):
        raise Unsupported(f"{ready.backend.host} answered without the rendered prompt: it cannot show it.")
    return RenderedPrompt(text, count if isinstance(count, int) and not isinstance(count, bool) else 0)


def foresee_reload(backend: Backend, settings: Settings) -> tuple[str, ...]:
    """Before sending: whether the cell's runner options reload the loaded model for everyone
    using the server (``/api/ps``, asked only when the cell sets one). With ``shared`` (and no
    ``force``) that is a refusal; else a notice. A server that cannot say is no reason to stop."""
    if not any(key in settings.options for key in reload.RUNNER_OPTIONS) or settings.model is None:
        return ()
    try:
        running = backend.running()
    except OllamaNbError:
        return ()
    found = reload.check(settings.model, settings.options, running, backend.host,
                         _loads.get((backend.host, settings.model)))  # fmt: skip
    if found is None:
        return ()
    if settings.shared and not settings.force:
        raise SharedServer(reload.refusal(found))
    return (found.text,)


def _remember_load(ready: Prepared, reply: Reply) -> None:
    """How long loading the model took, when a turn had to: the next reload notice says it."""
    loads = [t.metrics.load_duration / 1e9 for t in reply.trace.turns if t.metrics is not None]
    if loads and max(loads) >= LOAD_WORTH_SAYING_S:
        _loads[(ready.backend.host, ready.request.model)] = max(loads)


LOAD_WORTH_SAYING_S = 1.0  # a loaded model's requests report a few hundred ms of "load" on a busy server


def check_capabilities(backend: Backend, model: str, *, tools: bool, think: bool, images: bool) -> None:
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
            "Pick another model (%ollama models lists them) or drop the option.",
            model=model, missing=tuple(missing),
        )  # fmt: skip


def is_model(value: Any) -> TypeGuard[type[pydantic.BaseModel]]:
    """A pydantic model class (a structured answer's format)."""
    return isinstance(value, type) and issubclass(value, pydantic.BaseModel)


def parse(reply: Reply, format: Any) -> FormatError | None:  # noqa: A002
    """Decode a structured answer into ``reply.parsed``; the failure, if it does not parse."""
    try:
        reply.parsed = (
            format.model_validate_json(reply.content) if is_model(format) else json.loads(reply.content)
        )
    except (ValueError, pydantic.ValidationError) as exc:
        reply.error = f"The answer is not valid for the requested format: {str(exc).splitlines()[0]}"
        if reply.truncated:
            reply.error += " (it was cut short: raise -o num_predict=... or -o num_ctx=...)"
        return FormatError(reply.error + " The raw text is in _ollama.content.", reply=reply)
    return None


def encode_image(image: Any) -> str:
    """Base64 for a path, raw bytes, or anything with a PIL-style ``save``; one line otherwise."""
    if isinstance(image, (bytes, bytearray)):
        data = bytes(image)
    elif isinstance(image, (str, Path)):
        path = Path(image).expanduser()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(f"image {str(image)!r} cannot be read ({exc.strerror or exc}): give a file path, "
                             "bytes or a PIL image.") from None  # fmt: skip
    elif hasattr(image, "save"):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        data = buffer.getvalue()
    else:
        raise InputError(
            f"cannot send a {type(image).__name__} as an image: give a file path, bytes or a PIL image."
        )
    return base64.b64encode(data).decode()

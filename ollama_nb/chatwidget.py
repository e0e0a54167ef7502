"""A chat box for a notebook: history, input, Send and Stop, a model picker, streaming replies.

Replies run one after another in a background thread, so the kernel stays free to handle the
Stop button while an answer streams; messages sent meanwhile wait their turn in a queue. Stop
ends the reply in flight and keeps what arrived. The text area is a small anywidget (Ctrl+Enter
or Shift+Enter sends, Enter makes a new line: ipywidgets' Textarea has no key events), which
also keeps the history scrolled to the newest message.

Under the box, a plain HTML output keeps the title and the transcript, so a saved notebook shows
the conversation without any widget state; while the box itself is alive, the stylesheet hides
that copy.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets as widgets
import traitlets
from IPython.display import display

from . import api, pipeline, render
from .backend import ModelInfo
from .cells import current as recorded
from .conversation import Conversation
from .errors import Interrupted, OllamaNbError, ServerUnreachable
from .hosts import endpoint, mask
from .markdown import to_html
from .nbcontext import Notebook
from .reply import TEXT_PREVIEW, Reply, clipped
from .settings import Settings, defaults
from .view import BoxView, display_live


class ChatInput(anywidget.AnyWidget):
    """The box's text area; sends a ``{"type": "send", "text": ...}`` message on Ctrl/Shift+Enter.
    It carries the stylesheet of the box and of the replies in it."""

    _esm = Path(__file__).with_name("chatinput.js")
    _css = render.stylesheet() + render.stylesheet("chat.css")
    value = traitlets.Unicode("").tag(sync=True)
    placeholder = traitlets.Unicode("").tag(sync=True)


@dataclass
class _Message:
    """A message waiting for, or getting, its reply."""

    prompt: str
    model: str  # as picked when it was sent
    view: BoxView
    future: Future[Reply | None] = field(default_factory=Future)
    cancel: threading.Event = field(default_factory=threading.Event)
    use_notebook: bool = False
    cells: Notebook | None = None  # the notebook as it was when sent (None: not recorded)


class ChatWidget(widgets.VBox):
    """``ChatWidget(model="llama3.2", tools=[f], system="...")``; display it, or leave it last in
    a cell. ``.conversation`` is the exchange as a :class:`Conversation`; ``.replies`` the replies.
    """

    model = traitlets.Unicode(help="the model the next message goes to").tag(sync=False)
    busy = traitlets.Bool(False, help="a reply is streaming or waiting").tag(sync=False)

    def __init__(
        self,
        model: str | None = None,
        *,
        tools: Iterable[Callable[..., Any] | str] = (),  # str: "mcp:SERVER" or "mcp:SERVER/TOOL"
        system: str | None = None,
        host: str | None = None,
        conversation: Conversation | None = None,
        settings: Settings | None = None,
        **kwargs: Any,
    ) -> None:
        """``settings`` and any :class:`Settings` field among ``kwargs`` (``options``, ``think``,
        ``keep_alive``...) apply to every message, as in :func:`ollama_nb.chat`; the other
        ``kwargs`` go to the box (an ``ipywidgets.VBox``)."""
        changes = {k: kwargs.pop(k) for k in list(kwargs) if k in Settings.model_fields}
        self.settings = (settings or defaults.settings).merge(host=host, system=system, tools=list(tools) or None,
                                                               **changes)  # fmt: skip
        self.conversation = conversation or Conversation("chat widget")
        self.replies: list[Reply] = []
        self._queue: queue.Queue[_Message] = queue.Queue()
        self._pending: list[_Message] = []  # sent or queued, not yet answered
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._sent = 0  # messages sent: each one's key in the conversation
        self._no_tools: set[str] = set()  # models whose capabilities rule out the box's tools
        self.history = widgets.VBox()
        self.history.add_class("ollama-nb-history")
        wanted = model or self.settings.model
        self.picker = widgets.Dropdown(
            options=self._options([], wanted), description="Model", layout={"width": "320px"}
        )
        self.input = ChatInput(placeholder="Ask something (Ctrl+Enter sends)")
        self.send = widgets.Button(description="Send", button_style="primary", icon="paper-plane")
        self.stop = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.clear = widgets.Button(
            description="Clear", icon="trash", tooltip="Start afresh: forget this conversation"
        )
        self.use_notebook = widgets.Checkbox(
            value=bool(self.settings.notebook), description="Use the notebook", indent=False,
            tooltip="send the notebook's cells with each message (those the conversation has not seen)",
        )  # fmt: skip
        self.send.on_click(lambda _: self.ask(self.input.value))
        self.stop.on_click(lambda _: self.cancel())
        self.clear.on_click(lambda _: self.reset())
        self.input.on_msg(self._on_input)
        self.picker.observe(lambda change: setattr(self, "model", change["new"] or ""), "value")
        super().__init__(
            [
                self.picker,
                self.history,
                self.input,
                widgets.HBox([self.send, self.stop, self.clear, self.use_notebook]),
            ],
            **kwargs,
        )
        self.add_class("ollama-nb")
        self.add_class("ollama-nb-chat")
        self.model = self.picker.value or ""
        self._transcript: Any = None
        self.models_loaded: Future[None] = Future()  # done once the picker holds the server's models
        threading.Thread(
            target=self._fill_picker, args=(wanted,), name="ollama-nb-chat-models", daemon=True
        ).start()

    # -- settings -------------------------------------------------------------------------------
    @property
    def host(self) -> str | None:
        return self.settings.host

    @host.setter
    def host(self, value: str | None) -> None:
        self.settings = self.settings.replace(host=value)

    @property
    def tools(self) -> list[Any]:
        return list(self.settings.tools)

    @property
    def system(self) -> str | None:
        return self.settings.system

    # -- the model picker -----------------------------------------------------------------------
    def _fill_picker(self, wanted: str | None) -> None:
        """Fill the picker from the server, in the background: a server that is slow, or that
        accepts connections and never answers, does not hold up the box."""
        try:
            found = pipeline.connect(self.settings).models()
        except Exception:  # no server yet: the first message will say so plainly
            found = []
        try:
            chosen = self.picker.value
            self.picker.options = self._options(found, wanted)
            names = [name for _, name in self.picker.options]
            if chosen and chosen != wanted and chosen in names:  # picked by hand meanwhile: kept
                self.picker.value = chosen
            elif names:
                self.picker.value = names[0]
        finally:
            self.models_loaded.set_result(None)

    def _options(self, found: list[ModelInfo], wanted: str | None) -> list[tuple[str, str]]:
        """The server's models as (label, name), the wanted one first (also when the server
        does not list it); with tools, those that cannot use them are marked."""
        names = [m.name for m in found]
        capabilities = {m.name: m.capabilities for m in found}
        if wanted:
            match = next((n for n in names if n in (wanted, f"{wanted}:latest")), wanted)
            names = [match, *(n for n in names if n != match)]
        if self.tools and names:
            for name in names:
                known = capabilities.get(name)
                if known is not None and "tools" not in known:
                    self._no_tools.add(name)
        return [(f"{n} (cannot use tools)" if n in self._no_tools else n, n) for n in names]

    def _refusal(self, model: str) -> str | None:
        """Why the box cannot send to ``model``, in the box's own words, or None."""
        if not model:
            host = self._host()
            if not self.models_loaded.done():
                return f"No model to ask yet: the Model list above is still loading from {host}."
            return ("No model to ask: pick one in the Model list above. The list is empty when no "
                    f"Ollama answered at {host}.")  # fmt: skip
        if model in self._no_tools:
            names = ", ".join(getattr(t, "__name__", None) or str(t) for t in self.tools)
            return (f"{model} cannot use this box's tools ({names}): pick a model in the list "
                    "that is not marked 'cannot use tools'.")  # fmt: skip
        return None

    def _host(self) -> str:
        try:
            return str(endpoint(self.host))
        except OllamaNbError:
            return mask(self.host or "")

    # -- display ------------------------------------------------------------------------------
    def __repr__(self) -> str:  # the text a front end without the widget shows
        return f"ollama_nb chat box ({self.model or 'no model'}): the transcript is in the output below"

    def _ipython_display_(self) -> None:
        display_live(self, repr(self), handle=False)  # the widget itself (a saved file leaves it out)...
        self._transcript = display(self._transcript_bundle(), raw=True, display_id=True)  # ...what it keeps

    def _transcript_bundle(self) -> dict[str, str]:
        return {"text/html": self.transcript_html(), "text/plain": self.transcript_text()}

    def _title(self) -> str:
        count = len(self.replies)
        return f"ollama_nb chat · {self.model or 'no model'} · {count} repl{'y' if count == 1 else 'ies'}"

    def transcript_text(self) -> str:
        """The transcript as text: what a front end without HTML shows (each answer's beginning)."""
        parts = [self._title()]
        for reply in self.replies:
            prompt, more = clipped(reply.trace.prompt, TEXT_PREVIEW)
            parts += [
                f"You: {prompt}" + (f" … {more:,} characters more" if more else ""),
                render.static_text(reply),
            ]
        return "\n\n".join(parts)

    def transcript_html(self) -> str:
        """The box's title and conversation as static HTML: what a notebook shows without
        widget state (reopened, nbconvert, GitHub). While the box is alive it hides this copy."""
        title = f'<div class="ollama-nb-status">{escape(self._title())}</div>'
        parts = "".join(_bubble(r.trace.prompt) + render.static_html(r, style=False) for r in self.replies)
        return render.wrapped(title + parts, "ollama-nb-transcript")

    @traitlets.observe("busy")
    def _busy_changed(self, change: dict[str, Any]) -> None:
        self.stop.disabled = not change["new"]
        self.clear.disabled = change["new"]  # a reply in flight would land in the emptied box

    def reset(self) -> None:
        """Start afresh (the Clear button): stop what is in flight, then empty the history, the
        replies and the conversation, for the next group at the same box."""
        with self._lock:
            waiting = [message.future for message in self._pending]
        self.cancel()
        for future in waiting:  # each ends at its next chunk, keeping nothing of it here
            future.exception()
        self.conversation.reset()
        self.replies.clear()
        self.history.children = ()
        if self._transcript is not None:
            self._transcript.update(self._transcript_bundle(), raw=True)

    # -- sending --------------------------------------------------------------------------------
    def _on_input(self, _: Any, content: dict[str, Any], buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "send":
            self.ask(str(content.get("text", "")))

    def ask(self, prompt: str, wait: bool = False) -> Future[Reply | None]:
        """Send ``prompt`` (as the Send button does). The reply streams in from a background
        thread; a message sent while another is being answered waits its turn. Returns a future
        of the :class:`Reply` (None if it was stopped before it was sent); ``wait`` waits for it."""
        future: Future[Reply | None] = Future()
        if not prompt.strip():
            future.set_result(None)
            return future
        self.input.value = ""
        view = BoxView(self.model)
        message = _Message(prompt, self.model, view, future)
        if self.use_notebook.value:  # taken now, in the kernel's thread, as the cells stand
            found = recorded()
            message.use_notebook, message.cells = True, found.snapshot() if found is not None else None
        with self._lock:
            if self._pending:
                view.queued()
            self._pending.append(message)
            self.busy = True
        self.history.children = (*self.history.children, widgets.HTML(_bubble(prompt)), view.widget)
        self.input.send({"type": "sent"})
        self._queue.put(message)
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="ollama-nb-chat", daemon=True)
            self._worker.start()
        if wait:
            future.result()
        return future

    def _next(self) -> int:
        self._sent += 1
        return self._sent

    def cancel(self) -> None:
        """Stop the reply in flight (what streamed so far stays) and drop the queued ones."""
        with self._lock:
            stopped, self._pending = self._pending, []
            self.busy = False
        for message in stopped:
            message.cancel.set()
            message.view.stopped()

    def _work(self) -> None:
        while True:
            message = self._queue.get()
            if message.cancel.is_set():  # stopped before its turn came
                message.view.fail("Not sent: stopped before its turn.")
                message.future.set_result(None)
                continue
            try:
                message.future.set_result(self._answer(message))
            except BaseException as exc:  # never let the thread die silently
                message.future.set_exception(exc)
            finally:
                with self._lock:
                    if message in self._pending:
                        self._pending.remove(message)
                    self.busy = bool(self._pending)

    def _answer(self, message: _Message) -> Reply | None:
        view = message.view
        reply: Reply | None
        if (refusal := self._refusal(message.model)) is not None:
            view.fail(refusal)
            return None
        try:
            notebook = (self.settings.notebook or True) if message.use_notebook else None
            reply = api.chat(message.prompt, model=message.model, settings=self.settings.replace(notebook=notebook),
                             chat=self.conversation, cell=f"message {self._next()}", view=view,
                             cancel=message.cancel, cells=message.cells)  # fmt: skip
        except ServerUnreachable:  # said in the box's words: it has no --host option
            view.fail(f"No Ollama answered at {self._host()}. Start it with `ollama serve`, "
                      "or give the box another address: ChatWidget(host=...).")  # fmt: skip
            return None
        except (OllamaNbError, Interrupted) as exc:
            reply = exc.reply if isinstance(exc.reply, Reply) else None
            if reply is None or not reply.trace.turns:  # refused before anything was sent
                view.fail(str(exc))
                reply = None
        except BaseException as exc:  # not the server's doing: a bug, a bad tool list; one line
            reply = None
            view.fail(f"{type(exc).__name__}: {exc}".splitlines()[0])
        if reply is not None:
            self.replies.append(reply)
            if self._transcript is not None:
                self._transcript.update(self._transcript_bundle(), raw=True)
        return reply


def _bubble(text: str) -> str:
    return f'<div class="ollama-nb ollama-nb-user"><b>You</b>{to_html(text)}</div>'

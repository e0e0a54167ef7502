"""A chat box for a notebook: history, input, Send and Stop, a model picker, streaming replies.

Replies run in a background thread, so the kernel stays free to handle the Stop button while
an answer streams; Stop ends the reply between two chunks and keeps what arrived. Under the
box, a plain output keeps the transcript, so a saved notebook shows the conversation without
any widget state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import ipywidgets as widgets
import traitlets
from IPython.display import HTML, display

from . import api, render
from .conversation import Conversation
from .errors import Interrupted, OllamaNbError
from .markdown import to_html
from .reply import Reply
from .view import LiveView


class ChatWidget(widgets.VBox):
    """``ChatWidget(model="llama3.2", tools=[f], system="...")``; display it, or leave it last in
    a cell. ``.conversation`` is the exchange as a :class:`Conversation`; ``.replies`` the replies.
    """

    model = traitlets.Unicode(help="the model the next message goes to").tag(sync=False)
    busy = traitlets.Bool(False, help="a reply is streaming").tag(sync=False)

    def __init__(
        self,
        model: str | None = None,
        *,
        tools: Iterable[Callable[..., Any]] = (),
        system: str | None = None,
        host: str | None = None,
        conversation: Conversation | None = None,
        **kwargs: Any,
    ) -> None:
        self.tools, self.system, self.host = list(tools), system, host
        self.conversation = conversation or Conversation("chat widget")
        self.replies: list[Reply] = []
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self.history = widgets.VBox(layout=widgets.Layout(max_height="480px", overflow="auto"))
        self.picker = widgets.Dropdown(
            options=self._models(model), description="Model", layout={"width": "280px"}
        )
        self.input = widgets.Textarea(placeholder="Ask something, then press Send", rows=2,
                                      layout={"width": "100%"})  # fmt: skip
        self.send = widgets.Button(description="Send", button_style="primary", icon="paper-plane")
        self.stop = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.send.on_click(lambda _: self.ask(self.input.value))
        self.stop.on_click(lambda _: self.cancel())
        self.picker.observe(lambda change: setattr(self, "model", change["new"] or ""), "value")
        super().__init__(
            [self.picker, self.history, self.input, widgets.HBox([self.send, self.stop])], **kwargs
        )
        self.add_class("ollama-nb-chat")
        self.model = self.picker.value or ""
        self._transcript: Any = None

    def _models(self, wanted: str | None) -> list[str]:
        """The server's models, the wanted one first (also when the server does not list it)."""
        try:
            names = [m.name for m in api.connect(self.host).models()]
        except Exception:  # no server yet: the first message will say so plainly
            names = []
        wanted = wanted or api.defaults.model
        if wanted:
            match = next((n for n in names if n in (wanted, f"{wanted}:latest")), wanted)
            names = [match, *(n for n in names if n != match)]
        return names

    def _ipython_display_(self) -> None:
        display(self._repr_mimebundle_(), raw=True)  # the widget itself...
        self._transcript = display(
            HTML(self.transcript_html()), display_id=True
        )  # ...and what the file keeps

    @traitlets.observe("busy")
    def _busy_changed(self, change: dict[str, Any]) -> None:
        self.send.disabled, self.stop.disabled = change["new"], not change["new"]

    def ask(self, prompt: str, wait: bool = False) -> threading.Thread | None:
        """Send ``prompt`` (as the Send button does); the reply streams in from a thread."""
        if self.busy or not prompt.strip():
            return None
        self.input.value = ""
        self.history.children = (*self.history.children, widgets.HTML(_bubble(prompt)))
        view = LiveView(self.model, embedded=True)
        self.history.children = (*self.history.children, view.root)
        self._cancel.clear()
        self.busy = True
        self._thread = threading.Thread(target=self._reply, args=(prompt, view), daemon=True)
        self._thread.start()
        if wait:
            self._thread.join()
        return self._thread

    def cancel(self) -> None:
        """Stop the reply in flight; what streamed so far stays."""
        self._cancel.set()

    def _reply(self, prompt: str, view: LiveView) -> None:
        try:
            reply = api.chat(prompt, model=self.model, host=self.host, system=self.system, tools=self.tools,
                             chat=self.conversation, cell=f"message {len(self.replies)}", view=view,
                             cancel=self._cancel)  # fmt: skip
        except (OllamaNbError, Interrupted) as exc:
            reply = getattr(exc, "reply", None)
            if reply is None:  # refused before anything was sent (no model, a capability)
                view.status.value = f'<span style="color:{render.ERROR_COLOUR}">✗ {exc}</span>'
        finally:
            self.busy = False
        if reply is not None:
            self.replies.append(reply)
            if self._transcript is not None:
                self._transcript.update(HTML(self.transcript_html()))

    def transcript_html(self) -> str:
        """The conversation as static HTML: what a saved notebook shows without widget state."""
        if not self.replies:
            return f'<div style="{render.MUTED}">ollama_nb chat: no messages yet.</div>'
        parts = "".join(_bubble(r.trace.prompt) + render.static_html(r) for r in self.replies)
        return (f'<details class="ollama-nb-transcript"><summary style="{render.MUTED}">Chat transcript '
                f"({len(self.replies)} repl{'y' if len(self.replies) == 1 else 'ies'})</summary>{parts}</details>")  # fmt: skip


def _bubble(text: str) -> str:
    return (f'<div class="ollama-nb-user" style="margin:0.5em 0;padding:0.3em 0.6em;'
            f'border-left:3px solid #1e88e5"><b>You</b>{to_html(text)}</div>')  # fmt: skip

"""The live view of a running cell: widgets fed by the loop, redrawn at a bounded rate.

What to show is stored on every event; when to draw is decided by the clock (at most every
``interval`` seconds, and at once for the first text). Finished markdown blocks are sent to the
front end once, into an ``Output`` widget; only the open block is re-rendered, so the traffic
stays linear in the length of the answer. At the end the widgets are replaced by a static
output (HTML, text and JSON) that a saved notebook keeps without any widget state.
"""

from __future__ import annotations

import sys
import threading
import time
from html import escape
from typing import Any

import ipywidgets as widgets
from IPython.display import HTML, display

from . import render
from .markdown import BlockSplitter, to_html
from .reply import Reply
from .stream import Done, Event, TextDelta, ThinkingDelta
from .trace import ModelTurn, ToolRound
from .viewbase import NullView

Observer = NullView  # no-op defaults for the hooks a view does not need
DEFAULT_INTERVAL = 0.1  # seconds between redraws: ~10 per second, whatever the token rate


def _kernel() -> Any:
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None)


def kernel_parent() -> dict[str, Any]:
    """The message the kernel is answering now (header, metadata), or {} outside a kernel."""
    kernel = _kernel()
    return (kernel.get_parent() if kernel is not None and hasattr(kernel, "get_parent") else None) or {}


def _parent_msg_id() -> str:
    return kernel_parent().get("header", {}).get("msg_id", "")


class StreamingMarkdown(widgets.VBox):
    """A markdown text that grows: finished blocks are appended once, the open one redrawn.

    >>> view = StreamingMarkdown(); display(view)  # doctest: +SKIP
    >>> view.feed("# Hello\\n\\nWorld"); view.draw()  # doctest: +SKIP
    """

    def __init__(self, capture: bool = True, **kwargs: Any) -> None:
        # capture: finished blocks go out once as display messages into an Output widget, which
        # needs the kernel's current message; without it (a view fed from a thread, as in the
        # chat widget) each batch of finished blocks becomes a widget of its own.
        self._done = widgets.Output() if capture else widgets.VBox()
        self._tail = widgets.HTML()
        self._splitter = BlockSplitter()
        super().__init__([self._done, self._tail], **kwargs)

    def feed(self, text: str) -> None:
        self._splitter.feed(text)

    def draw(self, take: bool = True) -> None:
        """Show what was fed. ``take`` moves finished blocks into the append-only part; that
        needs the kernel's current message (the main thread), a timer thread passes False."""
        if take and (finished := self._splitter.take_finished()):
            if isinstance(self._done, widgets.Output):
                self.capture()
                display(HTML(to_html(finished)))
            else:
                self._done.children = (*self._done.children, widgets.HTML(to_html(finished)))
        html = to_html(self._splitter.tail)
        if html != self._tail.value:
            self._tail.value = html

    def capture(self) -> None:
        """Route this cell's displays into the append-only part until :meth:`release`.

        Held across draws rather than entered per draw (as ``with output:`` does), which
        would cost two more messages each time. Only one view may capture at a time.
        """
        if isinstance(self._done, widgets.Output) and not self._done.msg_id:
            self._done.msg_id = _parent_msg_id()

    def release(self) -> None:
        if isinstance(self._done, widgets.Output) and self._done.msg_id:
            self._done.msg_id = ""


class TraceView(widgets.VBox):
    """Tool round-trips as collapsible entries, each redrawn as its status changes.

    >>> trace = TraceView(); display(trace)  # doctest: +SKIP
    >>> for trip in reply.trace: trace.show_round(trip)  # doctest: +SKIP
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._entries: dict[int, widgets.HTML] = {}

    def show_round(self, round: ToolRound) -> None:  # noqa: A002
        entry = self._entries.get(id(round))
        if entry is None:
            entry = self._entries[id(round)] = widgets.HTML()
            self.children = (*self.children, entry)
        entry.value = render.round_html(round)

    def notice(self, text: str) -> None:
        self.children = (*self.children, widgets.HTML(f'<i style="{render.MUTED}">{escape(text)}</i>'))


class LiveView(Observer):
    """The widgets of one cell: thinking, answer, tool trace, status; one redraw clock."""

    def __init__(self, model: str, interval: float = DEFAULT_INTERVAL, embedded: bool = False) -> None:
        """``embedded``: a view inside another widget (the chat box), fed from a thread and
        kept as widgets at the end instead of being replaced by a static output."""
        self.interval, self.embedded = interval, embedded
        self.thinking: StreamingMarkdown | None = None  # made when thinking arrives: most answers have none
        self.thinking_box: widgets.Accordion | None = None
        self.answer = StreamingMarkdown(capture=not embedded)
        self.trace_box = TraceView()
        self.status = widgets.HTML(f'<span style="{render.MUTED}">{model} · waiting for the model…</span>')
        self.root = widgets.VBox([self.answer, self.trace_box, self.status])
        self.root.add_class("ollama-nb-live")
        self._dirty: set[StreamingMarkdown] = set()
        self._last_draw = float("-inf")
        self._interval = interval
        self._timer: threading.Timer | None = None
        self._lock = threading.RLock()
        self._handle: Any = None
        self._streaming = False

    def show(self) -> None:
        if not self.embedded:  # an embedded view is shown by the widget that holds it
            self._handle = display(self.root, display_id=True)

    # -- loop hooks -------------------------------------------------------------------------
    def event(self, event: Event) -> None:
        if not self._streaming and isinstance(event, (ThinkingDelta, TextDelta)):
            self._streaming = True
            self.status.value = self.status.value.replace("waiting for the model…", "streaming…")
        if isinstance(event, ThinkingDelta):
            if self.thinking is None or self.thinking_box is None:
                self.thinking = StreamingMarkdown(capture=not self.embedded)
                self.thinking_box = widgets.Accordion([self.thinking], titles=("Thinking",), selected_index=0)
                self.root.children = (self.thinking_box, *self.root.children)
            self._feed(self.thinking, event.text)
        elif isinstance(event, TextDelta):
            if self.thinking_box is not None and self.thinking_box.selected_index is not None:
                self.draw_now()
                self.thinking_box.selected_index = None  # the answer starts: fold the thinking away
            self._feed(self.answer, event.text)
        elif isinstance(event, Done):
            self.draw_now()

    def round(self, round: ToolRound) -> None:  # noqa: A002
        self.draw_now()
        self._release()  # what the tool prints goes to the cell, not into the answer
        self.trace_box.show_round(round)
        doing = {"pending": "about to call", "running": "running"}.get(round.status)
        if doing:
            self.status.value = f'<span style="{render.MUTED}">{doing} {escape(round.name)}…</span>'

    def turn(self, turn: ModelTurn) -> None:
        if not turn.duration_s:
            self._streaming = False
            self.status.value = f'<span style="{render.MUTED}">{render.turn_status(turn)}</span>'

    def notice(self, text: str) -> None:
        self.trace_box.notice(text)

    # -- drawing ----------------------------------------------------------------------------
    def _feed(self, part: StreamingMarkdown, text: str) -> None:
        with self._lock:
            part.feed(text)
            self._dirty.add(part)
            due = self._last_draw + self._interval - time.monotonic()
            if due <= 0:
                self._draw(take=True)
            elif self._timer is None:  # the stream may pause (a tool call is being buffered)
                self._timer = threading.Timer(due, self._draw, kwargs={"take": False})
                self._timer.daemon = True
                self._timer.start()

    def draw_now(self) -> None:
        with self._lock:
            self._draw(take=True)

    def _draw(self, take: bool) -> None:
        with self._lock:
            started = time.monotonic()
            if self._timer is not None and take:
                self._timer.cancel()
            self._timer = None
            for part in list(self._dirty):
                if take:
                    self._release(but=part)
                part.draw(take=take)
            self._dirty.clear()
            self._last_draw = time.monotonic()
            # a huge open block costs more to redraw: keep drawing under a tenth of the time
            self._interval = max(self.interval, 10 * (self._last_draw - started))

    def _release(self, but: StreamingMarkdown | None = None) -> None:
        for part in (self.thinking, self.answer):
            if part is None:
                continue
            if part is not but:
                part.release()

    def finish(self, reply: Reply) -> None:
        """Replace the live widgets by the static output the saved notebook keeps."""
        self.draw_now()
        self._release()
        if self.embedded:
            problem = render.problem_html(reply) if (reply.error or reply.interrupted) else ""
            self.status.value = (
                f'{problem}<span style="{render.MUTED}">{escape(render.reply_status(reply))}</span>'
            )
            return
        # nothing arrived (server down, unknown model): the error message says it all
        bundle = render.static_bundle(reply) if reply.received else {"text/plain": ""}
        if self._handle is not None:
            self._handle.update(bundle, raw=True)
        else:
            display(bundle, raw=True)
        _close(self.root)


def widgets_available() -> bool:
    """True in a Jupyter kernel (JupyterLab, Notebook, VS Code, Colab, nbclient); False in a
    terminal IPython or a plain interpreter."""
    return _kernel() is not None


def _close(widget: widgets.Widget) -> None:
    for child in getattr(widget, "children", ()):
        _close(child)
    widget.close()


class PlainView(Observer):
    """For front ends without widgets (terminal IPython, ``ipython -c``): text to stdout."""

    def __init__(self, model: str, out: Any = None) -> None:
        self.model = model
        self.out = out or sys.stdout
        self._mode = ""

    def _write(self, mode: str, text: str) -> None:
        if mode != self._mode:
            if self._mode:
                self.out.write("\n")
            self.out.write({"thinking": "[thinking] ", "answer": ""}.get(mode, ""))
            self._mode = mode
        self.out.write(text)
        self.out.flush()

    def show(self) -> None:
        pass

    def event(self, event: Event) -> None:
        if isinstance(event, ThinkingDelta):
            self._write("thinking", event.text)
        elif isinstance(event, TextDelta):
            self._write("answer", event.text)

    def round(self, round: ToolRound) -> None:  # noqa: A002
        if round.status not in ("pending", "running"):
            self._write("trace", "")
            self.out.write(f"  {render.round_summary(round)}\n")
            self._mode = ""

    def notice(self, text: str) -> None:
        self._write("notice", "")
        self.out.write(f"  {text}\n")
        self._mode = ""

    def finish(self, reply: Reply) -> None:
        if not reply.received:
            return  # nothing arrived: the error message says it all
        self._write("status", "")
        if reply.interrupted:
            self.out.write("[interrupted: the answer above is partial]\n")
        elif reply.error:
            self.out.write(f"[error] {reply.error}\n")
        self.out.write(render.reply_status(reply) + "\n")
        self.out.flush()
        if widgets_available():  # a kernel (nbconvert, --plain): the notebook keeps the output too
            display(render.static_bundle(reply), raw=True)

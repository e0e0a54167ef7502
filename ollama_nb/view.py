"""The live views of an answer: widgets fed by the loop, redrawn by a :class:`RedrawClock`.

What to show is stored on every event; when to draw is the clock's business. Finished markdown
blocks are sent to the front end once; only the open block is re-rendered, so the traffic stays
linear in the length of the answer. Two views share one base:

- :class:`CellView`, a ``%%ollama`` cell's: at the end it is replaced by a static output (HTML,
  text and JSON) that a saved notebook keeps without any widget state, and its widgets are closed.
- :class:`BoxView`, one reply in the chat box: fed from the box's thread, kept as widgets.

Both are laid out as the static output is and styled by the same stylesheet, so nothing moves
when the live view is replaced. This module imports ipywidgets: the front ends import it only
when they show widgets.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ipywidgets as widgets
from IPython import get_ipython
from IPython.display import HTML, display

from . import render
from .clock import DEFAULT_INTERVAL, RedrawClock
from .errors import Interrupted
from .kernel import kernel_parent, parent_msg_id, widgets_available
from .markdown import BlockSplitter, to_html
from .plain import PlainView
from .reply import Reply
from .saving import LIVE
from .stream import Done, Event, TextDelta, ThinkingDelta
from .trace import ModelTurn, ToolRound
from .viewbase import NullView

__all__ = [
    "BoxView",
    "CellView",
    "LiveView",
    "NullView",
    "PlainView",
    "StreamingMarkdown",
    "ThreadedMarkdown",
    "TraceView",
    "close_all",
    "interrupts_held",
    "kernel_parent",
    "widgets_available",
]


class StreamingMarkdown(widgets.VBox):
    """A markdown text that grows: finished blocks are sent to the front end once, the open
    block is redrawn. Feed it, then draw, from the cell that displayed it.

    >>> answer = StreamingMarkdown(); display(answer)  # doctest: +SKIP
    >>> answer.feed("# Notes\\n\\nSome *text*"); answer.draw()  # doctest: +SKIP

    Finished blocks go out as display messages into an ``Output`` widget, which routes the
    messages of the cell that is running: for text fed from another thread, use
    :class:`ThreadedMarkdown`.
    """

    def __init__(self, **kwargs: Any) -> None:
        self._splitter = BlockSplitter()
        self._done: Any = self._blocks()  # the finished blocks: an Output, or a VBox of HTML widgets
        self._tail = widgets.HTML()
        self._tail.add_class("jp-RenderedHTMLCommon")  # styled as JupyterLab styles the finished blocks
        super().__init__([self._done, self._tail], **kwargs)

    def _blocks(self) -> widgets.Widget:
        return widgets.Output()

    def feed(self, text: str) -> None:
        self._splitter.feed(text)

    def draw(self, *, hold: bool = False) -> None:
        """Show what was fed: finished blocks are appended once, the open block redrawn.

        ``hold`` keeps routing the cell's displays into this text after the draw, which saves two
        messages a draw: the live views hold it while text streams and :meth:`release` it
        before anything else may display."""
        if finished := self._splitter.take_finished():
            self._append(to_html(finished), hold)
        self.redraw_tail()

    def redraw_tail(self) -> None:
        """Redraw only the open part (with any blocks finished since the last draw), from any thread."""
        html = to_html(self._splitter.tail)
        if html != self._tail.value:
            self._tail.value = html

    def _append(self, html: str, hold: bool) -> None:
        assert isinstance(self._done, widgets.Output)
        if not self._done.msg_id:
            self._done.msg_id = parent_msg_id()  # held across draws, not entered per draw as `with` does
        display(HTML(html))
        if not hold:
            self.release()

    def release(self) -> None:
        """Stop routing the cell's displays into this text."""
        if isinstance(self._done, widgets.Output) and self._done.msg_id:
            self._done.msg_id = ""


class ThreadedMarkdown(StreamingMarkdown):
    """A :class:`StreamingMarkdown` fed from a background thread (the chat box): each batch of
    finished blocks becomes an HTML widget of its own, as an ``Output`` widget can only route
    the messages of the cell that is running."""

    def _blocks(self) -> widgets.Widget:
        return widgets.VBox()

    def _append(self, html: str, hold: bool) -> None:
        block = widgets.HTML(html)
        block.add_class("jp-RenderedHTMLCommon")
        self._done.children = (*self._done.children, block)

    def release(self) -> None:
        pass


class TraceView(widgets.VBox):
    """Tool round-trips as collapsible entries, each redrawn as its status changes.

    >>> trace = TraceView(); display(trace)  # doctest: +SKIP
    >>> for trip in reply.trace: trace.show_round(trip)  # doctest: +SKIP
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class("ollama-nb-trace")
        self._entries: dict[int, widgets.HTML] = {}
        self._shown: list[widgets.Widget] = []

    def show_round(self, round: ToolRound) -> None:  # noqa: A002
        entry = self._entries.get(id(round))
        if entry is None:
            entry = self._entries[id(round)] = widgets.HTML()
            self._add(entry)
        entry.value = render.round_html(round)

    def notice(self, text: str) -> None:
        self._add(widgets.HTML(render.notice_html(text)))

    def _add(self, entry: widgets.Widget) -> None:
        self._shown.append(entry)
        self.children = tuple(self._shown)


class _LiveView:
    """What both live views share: thinking (made when it arrives), answer, trace and status
    line in one ``ollama-nb`` box, the status kept as a :class:`render.LiveStatus`."""

    _markdown: type[StreamingMarkdown] = StreamingMarkdown

    def __init__(self, model: str, interval: float = DEFAULT_INTERVAL) -> None:
        self.status = render.LiveStatus(model)
        self.answer = self._markdown()
        self.answer.add_class("ollama-nb-answer")
        self.thinking: StreamingMarkdown | None = None  # most answers have none: made on demand
        self._thinking_box: widgets.Accordion | None = None
        self._thinking_turn = -1  # the model turn whose thinking was last opened
        self.trace = TraceView()
        self._status_line = widgets.HTML(render.status_html(self.status))
        self.widget = widgets.VBox([self.answer, self.trace, self._status_line])
        self.widget.add_class("ollama-nb")
        self.widget.add_class("ollama-nb-live")
        self._dirty: set[StreamingMarkdown] = set()
        self.clock = RedrawClock(self._draw, interval)
        self._stop_counting = threading.Event()

    # -- the View hooks ---------------------------------------------------------------------
    def show(self) -> None:
        pass

    def event(self, event: Event) -> None:
        if isinstance(event, (ThinkingDelta, TextDelta)) and self.status.phase != "streaming":
            self._set_status(phase="streaming", tool=None)
        if isinstance(event, ThinkingDelta):
            thinking = self._thinking()
            if self._thinking_turn != self.status.turn:  # a turn starts thinking: show it (again)
                self._thinking_turn = self.status.turn
                assert self._thinking_box is not None
                self._thinking_box.selected_index = 0
            self._feed(thinking, event.text)
        elif isinstance(event, TextDelta):
            if self._thinking_box is not None and self._thinking_box.selected_index is not None:
                self.clock.now()
                self._thinking_box.selected_index = None  # the answer starts: fold the thinking away
            self._feed(self.answer, event.text)
        elif isinstance(event, Done):
            self.clock.now()

    def round(self, round: ToolRound) -> None:  # noqa: A002
        self.clock.now()
        self._release()  # what the tool prints goes to the cell, not into the answer
        self.trace.show_round(round)
        if round.status in ("pending", "running"):
            self._set_status(phase="tool", tool=round)

    def turn(self, turn: ModelTurn) -> None:
        if not turn.duration_s:  # a turn starts
            self._set_status(phase="waiting", turn=turn.index, tool=None, waited_s=0.0)
            self._count_the_wait()

    def notice(self, text: str) -> None:
        self.trace.notice(text)

    def finish(self, reply: Reply) -> None:
        raise NotImplementedError

    # -- drawing ----------------------------------------------------------------------------
    def _thinking(self) -> StreamingMarkdown:
        if self.thinking is None or self._thinking_box is None:
            self.thinking = self._markdown()
            self.thinking.add_class("ollama-nb-thinking-text")
            self._thinking_box = widgets.Accordion([self.thinking], titles=("Thinking",), selected_index=0)
            self._thinking_box.add_class("ollama-nb-thinking")
            at = list(self.widget.children).index(self.answer)
            children = list(self.widget.children)
            self.widget.children = (*children[:at], self._thinking_box, *children[at:])
        return self.thinking

    def _feed(self, part: StreamingMarkdown, text: str) -> None:
        with self.clock.lock:
            part.feed(text)
            self._dirty.add(part)
        self.clock.tick()

    def _draw(self, on_timer: bool) -> None:
        """The clock's callback. From the timer thread only the open blocks are redrawn: moving
        finished blocks out needs the thread that feeds the view."""
        for part in list(self._dirty):
            if on_timer:
                part.redraw_tail()
                continue
            self._release(but=part)
            part.draw(hold=True)
        self._dirty.clear()

    def _release(self, but: StreamingMarkdown | None = None) -> None:
        for part in (self.thinking, self.answer):
            if part is not None and part is not but:
                part.release()

    def _final_draw(self) -> None:
        self._stop_counting.set()
        self.clock.stop()
        with self.clock.lock:
            self._draw(on_timer=False)
            self._release()

    def _set_status(self, **changes: Any) -> None:
        with self.clock.lock:  # the wait's counter sets it from its own thread
            for name, value in changes.items():
                setattr(self.status, name, value)
            html = render.status_html(self.status)
            if html != self._status_line.value:
                self._status_line.value = html

    def _count_the_wait(self) -> None:
        """Say every second how long the request has waited, until something comes back: a
        server busy with other requests (or loading the model) sends nothing meanwhile."""
        self._stop_counting.set()
        stop = self._stop_counting = threading.Event()
        started, turn = time.monotonic(), self.status.turn

        def count() -> None:
            while not stop.wait(1.0):
                with self.clock.lock:
                    if self.status.phase != "waiting" or self.status.turn != turn:
                        return
                    self._set_status(waited_s=time.monotonic() - started)

        threading.Thread(target=count, name="ollama_nb-wait", daemon=True).start()


class CellView(_LiveView):
    """The live view of a ``%%ollama`` cell, replaced at the end by the static output."""

    def __init__(self, model: str, interval: float = DEFAULT_INTERVAL) -> None:
        super().__init__(model, interval)
        style = widgets.HTML(render.style_tag())  # the stylesheet, sent once
        self.widget.children = (style, *self.widget.children)
        self._handle: Any = None
        self._cleared = _ClearWatch()

    def show(self) -> None:
        self._cleared.start()
        self._handle = display_live(
            self.widget,
            f"ollama_nb · {self.status.model} is answering: this output becomes its answer when done.",
        )

    def finish(self, reply: Reply) -> None:
        """Replace the live widgets by the static output the saved notebook keeps, and close
        them. An interrupt that lands meanwhile waits until that is done, then ends the cell
        with the reply attached, so that the output is never left as a dead widget."""
        with interrupts_held() as held:
            self.status.phase = "finishing"
            self._final_draw()
            # nothing arrived (server down, unknown model): the error message says it all
            # an interrupt is said once, by the line the cell ends with (Interrupted)
            bundle = (
                render.static_bundle(reply, raised=reply.interrupted)
                if reply.received
                else {"text/plain": ""}
            )
            if self._handle is not None and not self._cleared.stop():
                self._handle.update(bundle, raw=True)
            else:  # a tool cleared the cell's output (clear_output): the answer comes back below
                display(bundle, raw=True)
            close_all(self.widget)
            self.status.phase, self.status.reply = "done", reply
        if held:
            raise Interrupted("the answer is shown in full and kept in _ollama.", reply=reply)


LiveView = CellView  # the name before the cell and box views were told apart


class BoxView(_LiveView):
    """One reply in the chat box: fed from the box's thread, kept as widgets at the end.
    The box places :attr:`widget` in its history."""

    _markdown = ThreadedMarkdown

    def show(self) -> None:
        """Its turn came: the request goes out (the box placed :attr:`widget` when it was sent)."""
        self._set_status(phase="waiting")

    def queued(self) -> None:
        """Sent while another reply streams: it waits its turn."""
        self._set_status(phase="queued")

    def finish(self, reply: Reply) -> None:
        if not reply.received and reply.error:  # nothing arrived: the error says it all
            self.fail(reply.error)
            return
        self._final_draw()
        self._set_status(phase="done", reply=reply, tool=None)

    def fail(self, message: str) -> None:
        """End with one line in the error colour (nothing was sent, or the reply failed)."""
        self._final_draw()
        self._set_status(phase="failed", problem=message, tool=None)

    def stopped(self) -> None:
        """Stop was pressed: say so at once, whatever the thread is doing."""
        if self.status.phase not in ("done", "failed"):
            self._set_status(phase="stopping", tool=None)


def display_live(widget: widgets.Widget, text: str, handle: bool = True) -> Any:
    """Display a live view: its text fallback says what it is (a front end without widgets, a
    papermill log, show it), and its :data:`~ollama_nb.saving.LIVE` mark keeps it out of a
    notebook that Jupyter Server saves."""
    bundle = {**widget._repr_mimebundle_(), "text/plain": text}
    return display(bundle, raw=True, metadata=LIVE, display_id=handle or None)


class _ClearWatch:
    """Notices a ``clear_output`` sent while a cell's answer is live (a tool may call it), through
    the kernel's display-publisher hooks; where there are none (no kernel), notices nothing."""

    def __init__(self) -> None:
        self.seen = False
        self._publisher: Any = None

    def __call__(self, message: dict[str, Any]) -> dict[str, Any]:
        if message.get("header", {}).get("msg_type") == "clear_output":
            self.seen = True
        return message

    def start(self) -> None:
        publisher: Any = getattr(get_ipython(), "display_pub", None)
        if publisher is not None and hasattr(publisher, "register_hook"):
            publisher.register_hook(self)
            self._publisher = publisher

    def stop(self) -> bool:
        """Stop watching; whether the output was cleared meanwhile."""
        if self._publisher is not None:
            self._publisher.unregister_hook(self)
            self._publisher = None
        return self.seen


def close_all(widget: widgets.Widget) -> None:
    """Close a widget, its children, and the layout and style models each of them has, so
    that a finished cell leaves no widget model open in the kernel or the front end."""
    for child in getattr(widget, "children", ()):
        close_all(child)
    for part in (getattr(widget, "layout", None), getattr(widget, "style", None)):
        if isinstance(part, widgets.Widget):
            part.close()
    widget.close()


@contextmanager
def interrupts_held() -> Iterator[list[int]]:
    """Hold back SIGINT for the length of the block; the list it yields is non-empty when an
    interrupt came meanwhile. Only the main thread receives signals: elsewhere, a no-op."""
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    previous = signal.signal(signal.SIGINT, lambda number, frame: held.append(number))
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)

"""The view for front ends without widgets (terminal IPython, ``ipython -c``, ``--plain``): text
to stdout as it arrives. Imports no widget code."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from . import inside_html, render
from .kernel import widgets_available
from .reply import Reply
from .stream import Event, TextDelta, ThinkingDelta
from .trace import ModelTurn, ToolRound

PLAIN_WAIT_S = 2.0  # seconds without a byte before plain text says it is waiting (it cannot tick)


class PlainView:
    """Thinking, answer, one line per tool call and the status line, as plain text."""

    def __init__(self, model: str, out: TextIO | None = None) -> None:
        self.model = model
        self.out = out or sys.stdout
        self._mode = ""
        self._wait: threading.Timer | None = None

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
        if self._wait is not None:
            self._wait.cancel()
        if isinstance(event, ThinkingDelta):
            self._write("thinking", event.text)
        elif isinstance(event, TextDelta):
            self._write("answer", event.text)

    def round(self, round: ToolRound) -> None:  # noqa: A002
        if round.status not in ("pending", "running"):
            self._write("trace", "")
            self.out.write(f"  {render.round_summary(round)}\n")
            self._mode = ""

    def turn(self, turn: ModelTurn) -> None:
        if self._wait is not None:
            self._wait.cancel()
        if not turn.duration_s:  # a turn starts: say so if nothing comes back for a while
            self._wait = threading.Timer(PLAIN_WAIT_S, self._say_waiting)
            self._wait.daemon = True
            self._wait.start()

    def _say_waiting(self) -> None:
        self.notice(f"waiting for the server ({render.WAITING})…")

    def notice(self, text: str) -> None:
        self._write("notice", "")
        self.out.write(f"  {text}\n")
        self.out.flush()
        self._mode = ""

    def finish(self, reply: Reply) -> None:
        if self._wait is not None:
            self._wait.cancel()
        if not reply.received:
            return  # nothing arrived: the error message says it all
        self._write("status", "")
        if reply.interrupted:
            self.out.write("[interrupted: the answer above is partial]\n")
        elif reply.error:
            self.out.write(f"[error] {reply.error}\n")
        self.out.write(render.reply_status(reply) + "\n")
        self.out.writelines(f"{line}\n" for line in inside_html.inside_lines(reply))
        self.out.flush()
        if widgets_available():  # a kernel (nbconvert, --plain): the notebook keeps the output too
            from IPython.display import display

            display(render.static_bundle(reply), raw=True)

"""What the loop reports to: the :class:`View` protocol, and a view that shows nothing.

Front ends (the cell view, the chat box, plain text) implement it and choose which one a
request uses; the loop only calls these six methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .reply import Reply
    from .stream import Event
    from .trace import ModelTurn, ToolRound


@runtime_checkable
class View(Protocol):
    def show(self) -> None:
        """Put the (empty) view on screen, before the request goes out."""

    def event(self, event: Event) -> None:
        """A streamed piece of text, thinking, a tool call, or the end of a turn."""

    def round(self, round: ToolRound) -> None:  # noqa: A002 - the trace's own word
        """A tool round-trip was created or changed status."""

    def turn(self, turn: ModelTurn) -> None:
        """A model turn started (no duration yet) or ended."""

    def notice(self, text: str) -> None:
        """Something the user should know that is not the model's words."""

    def finish(self, reply: Reply) -> None:
        """The exchange ended (well or not): show what stays."""


class NullView:
    """Shows nothing: for scripts and tests that only want the reply."""

    def show(self) -> None:
        pass

    def event(self, event: Event) -> None:
        pass

    def round(self, round: ToolRound) -> None:  # noqa: A002
        pass

    def turn(self, turn: ModelTurn) -> None:
        pass

    def notice(self, text: str) -> None:
        pass

    def finish(self, reply: Reply) -> None:
        pass

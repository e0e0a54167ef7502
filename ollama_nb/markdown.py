"""Model text to safe HTML, and the split of a growing text into finished and open blocks.

Raw HTML in model text is escaped (markdown-it with ``html`` off), ``javascript:`` links are
refused by markdown-it's link validation, so model output never becomes live HTML or script.
"""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt


@lru_cache(maxsize=1)
def _md() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])


def to_html(text: str) -> str:
    """Render markdown to HTML with any raw HTML escaped."""
    return _md().render(text)


class BlockSplitter:
    """Feed a growing markdown text; take back the blocks that can no longer change.

    A top-level block is final once another top-level block starts after it: text appended
    later can only change the last block. Only the open tail is ever parsed again, so the work
    is linear in the length of the answer.
    """

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._tail = ""

    def feed(self, text: str) -> None:
        self._parts.append(text)

    def take_finished(self) -> str:
        """The markdown of the blocks finished since the last call ("" when none)."""
        if self._parts:
            self._tail += "".join(self._parts)
            self._parts.clear()
        starts = [t.map[0] for t in _md().parse(self._tail) if t.level == 0 and t.map and t.nesting >= 0]
        if len(starts) < 2:
            return ""
        lines = self._tail.splitlines(keepends=True)
        done = "".join(lines[: starts[-1]])
        self._tail = "".join(lines[starts[-1] :])
        return done

    @property
    def tail(self) -> str:
        """The open block, as it stands (includes text fed since the last take)."""
        if self._parts:
            self._tail += "".join(self._parts)
            self._parts.clear()
        return self._tail

"""Model text to safe HTML, and the split of a growing text into finished and open blocks.

Raw HTML in model text is escaped (markdown-it with ``html`` off), ``javascript:`` links are
refused by markdown-it's link validation, so model output never becomes live HTML or script.
A markdown image would make the browser fetch its address by itself, live or when a saved
notebook is merely opened: a prompt-injected model could send data out with no click. So a
remote image becomes a link that names its address (``data:`` images, which fetch nothing,
stay images), in the HTML here and, through :func:`safe_markdown`, in markdown written out.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from html import escape
from typing import Any, NamedTuple

from markdown_it import MarkdownIt
from markdown_it.rules_inline import html_inline as html_inline_rule
from markdown_it.rules_inline import image as image_rule
from markdown_it.rules_inline.state_inline import StateInline
from markdown_it.token import Token

SHOWN_URL_CHARS = 100
_SPECIAL = frozenset("\\`*_[]<>&!~|")  # what could make link text markup again


def _new_md() -> MarkdownIt:
    # breaks: a model's single line breaks are meant (a haiku, an address), as in chat apps
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True}).enable(
        ["table", "strikethrough"]
    )


@lru_cache(maxsize=1)
def _md() -> MarkdownIt:
    md = _new_md()
    md.add_render_rule("image", _render_image)
    return md


def is_remote(src: str) -> bool:
    """Would the browser fetch this image address? Everything but ``data:`` does (``//host``,
    relative paths and an empty ``src`` included)."""
    return not src.strip().lower().startswith("data:")


def _label(alt: str, src: str) -> str:
    shown = src if len(src) <= SHOWN_URL_CHARS else src[: SHOWN_URL_CHARS - 1] + "…"
    return f"🖼 {alt or 'image'} (not loaded: {shown})"


def _render_image(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    if not is_remote(src):
        return self.image(tokens, idx, options, env)
    alt = self.renderInlineAsText(token.children or [], options, env)
    return (f'<a class="ollama-nb-image" href="{escape(src)}" rel="noopener noreferrer nofollow" '
            f'target="_blank">{escape(_label(alt, src))}</a>')  # fmt: skip


def to_html(text: str) -> str:
    """Render markdown to HTML with any raw HTML escaped and remote images as links."""
    return _md().render(text)


def code_blocks(text: str) -> list[str]:
    """The fenced code blocks of a model's answer, in order, as markdown-it reads them (a fence
    left open runs to the end; indented blocks are not taken: models fence their code)."""
    return [token.content for token in _md().parse(text) if token.type == "fence"]


def answer_code(text: str, every: bool = False) -> str | None:
    """The answer's first fenced code block, or all of them joined by a blank line; None if none."""
    blocks = code_blocks(text)
    if not blocks:
        return None
    return "\n\n".join(b.rstrip("\n") for b in blocks) + "\n" if every else blocks[0]


def safe_markdown(text: str) -> str:
    """``text`` made safe for markdown renderers elsewhere (exports, markdown cells, GitHub):
    every remote image becomes a link naming its address, and raw HTML (which those renderers
    would make live: ``<img src=...>``) is escaped. Everything else is left as written.

    >>> safe_markdown("See ![chart](http://host/c.png) <img src=http://host/x>")
    'See [🖼 chart (not loaded: http://host/c.png)](<http://host/c.png>) &lt;img src=http://host/x>'
    """
    if "![" not in text and "<" not in text:  # neither an image nor HTML can start without these
        return text
    source = text.replace("\r\n", "\n").replace("\r", "\n").replace("\0", "\ufffd")  # as markdown-it reads it
    safe = source
    for edits in (_html_edits, _image_edits):  # HTML first: an escaped HTML block may hold an image
        found = edits(safe)
        safe = _blunt(source) if found is None else _splice(safe, found)
    if _unsafe(safe):  # a layout the offsets could not follow
        safe = _blunt(source)
    return text if safe == source else safe


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


# --- where images and HTML are: markdown-it knows, it only has to be asked ----------------------


@lru_cache(maxsize=1)
def _finder() -> MarkdownIt:
    """A parser as other renderers read markdown (HTML on), noting where each image and piece
    of inline HTML is in its block's inline text."""
    md = MarkdownIt("commonmark", {"html": True, "linkify": False}).enable(["table", "strikethrough"])

    def inline(state: Any) -> None:  # markdown-it's own core rule, noting which block is parsed
        for token in state.tokens:
            if token.type == "inline":
                token.children = token.children or []
                state.env["block"] = token
                state.md.inline.parse(token.content, state.md, state.env, token.children)

    def noting(rule: Any, kind: str) -> Any:
        def note(state: StateInline, silent: bool) -> bool:
            start = state.pos
            if not rule(state, silent):
                return False
            block = state.env.get("block")
            if not silent and block is not None and state.src is block.content:  # not nested in alt text
                state.env[kind].append(_Found(block, start, state.pos, state.tokens[-1], state.linkLevel > 0))
            return True

        return note

    md.core.ruler.at("inline", inline)
    md.inline.ruler.at("image", noting(image_rule, "images"))
    md.inline.ruler.at("html_inline", noting(html_inline_rule, "html"))
    return md


class _Found(NamedTuple):
    block: Token  # the inline token of the block
    start: int  # where it starts and ends in the block's inline text
    end: int
    token: Token
    in_link: bool


def _scan(source: str) -> tuple[list[Token], dict[str, list[_Found]]]:
    env: dict[str, Any] = {"images": [], "html": []}
    tokens = _finder().parse(source, env)
    env["images"] = [f for f in env["images"] if is_remote(str(f.token.attrGet("src") or ""))]
    return tokens, env


def _unsafe(source: str) -> bool:
    tokens, found = _scan(source)
    return bool(found["images"] or found["html"] or any(t.type == "html_block" for t in tokens))


Edits = list[tuple[int, int, str]]


def _html_edits(source: str) -> Edits | None:
    """``<`` becomes ``&lt;`` where it opens inline HTML, and everywhere in an HTML block."""
    tokens, found = _scan(source)
    places = _places(source, found["html"])
    if places is None:
        return None
    edits = [(at, at + 1, "&lt;") for at, _ in places]
    starts = _line_starts(source)
    for token in tokens:
        if token.type == "html_block" and token.map:
            first, last = starts[token.map[0]], min(starts[token.map[1]], len(source))
            edits += [(i, i + 1, "&lt;") for i in range(first, last) if source[i] == "<"]
    return edits


def _image_edits(source: str) -> Edits | None:
    _, found = _scan(source)
    places = _places(source, found["images"])
    if places is None:
        return None
    pairs = zip(places, found["images"], strict=True)
    return [(at, until, _link_markdown(f.token, f.in_link)) for (at, until), f in pairs]


def _line_starts(source: str) -> list[int]:
    starts = [0]
    for line in source.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    return starts


def _places(source: str, found: list[_Found]) -> list[tuple[int, int]] | None:
    """Each span's start and end in ``source``; None when one cannot be placed for sure."""
    lines, starts = source.split("\n"), _line_starts(source)
    cursor: dict[int, int] = {}  # per line, where the last placed block text ended (table cells)
    placed: dict[int, list[int]] = {}  # id(block) -> offset in source of each line of its text
    spans = []
    for block, start, end, _, _ in found:
        if id(block) not in placed:
            offsets = []
            for number, part in enumerate(block.content.split("\n")):
                line = (block.map or [0])[0] + number
                column = lines[line].find(part, cursor.get(line, 0)) if line < len(lines) else -1
                if column < 0:
                    return None
                cursor[line] = column + len(part)
                offsets.append(starts[line] + column)
            placed[id(block)] = offsets
        at, until = (
            _place(block.content, placed[id(block)], start),
            _place(block.content, placed[id(block)], end),
        )
        if source[at:until] != block.content[start:end]:  # the span crosses a ``>`` or an indent
            return None
        spans.append((at, until))
    return spans


def _place(content: str, offsets: list[int], position: int) -> int:
    line = content.count("\n", 0, position)
    return offsets[line] + position - (content.rfind("\n", 0, position) + 1)


def _splice(source: str, edits: Edits) -> str:
    parts, last = [], 0
    for start, end, replacement in sorted(edits):
        parts += [source[last:start], replacement]
        last = end
    return "".join(parts) + source[last:]


def _link_markdown(token: Token, in_link: bool) -> str:
    """The link that stands for an image; just its text inside a link (links do not nest)."""
    src = str(token.attrGet("src") or "")
    alt = _finder().renderer.renderInlineAsText(token.children or [], _finder().options, {})  # type: ignore[attr-defined]  # RendererHTML has it
    text = "".join("\\" + c if c in _SPECIAL else c for c in _label(alt, src).replace("\n", " "))
    return text if in_link else f"[{text}](<{src}>)"  # src is normalised: no space, < or > in it


def _blunt(source: str) -> str:
    """The fallback: no ``![`` opens an image, no ``<`` opens HTML (code then shows the escapes)."""
    return source.replace("<", "&lt;").replace("![", "!\\[")

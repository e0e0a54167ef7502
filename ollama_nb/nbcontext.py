"""The notebook as context: recorded cells → one message ahead of the prompt, and what was sent.

Pure functions, no Jupyter import (:mod:`ollama_nb.cells` records the cells in the kernel).
:func:`build` sends the last ``N`` cells, or as many as fit a token budget, newest first and
whole cells only; :func:`build_fix` sends the failing cell and the cells it depends on. Both
mask what must not leave the notebook by accident (:mod:`ollama_nb.masking`: ``OLLAMA_API_KEY``,
variables named like ``*key*``, ``*token*``, ``*password*``, ``*secret*``, passwords in URLs)
wherever it appears, never send a ``# ollama: skip`` cell, and describe what they did as a
:class:`~ollama_nb.trace.FromNotebook` trace entry.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .depends import dependencies
from .masking import Masker, Secret
from .trace import FromNotebook, SentCell

SKIP = re.compile(r"#\s*ollama\s*:\s*skip\b", re.IGNORECASE)
ASKS = re.compile(r"\s*%%?ollama\b")
# on the high side, so that a budget is kept with a small vocabulary: SmolLM2 reads notebook text
# at 2.2 to 2.9 characters a token, a digit being a token of its own; Llama 3 near 3.5
CHARS_PER_TOKEN = 2.6
_NO_DIGITS = str.maketrans("", "", "0123456789")
DEFAULT_CONTEXT = 4096  # Ollama's default context length, when the real one is unknown

NOTEBOOK_HEADER = (
    "Cells of the user's Jupyter notebook, in the order they ran (In [n] is the run number; "
    "Output is what a cell printed or displayed, Out[n] the value it returned). "
    "The user's message follows."
)
FIX_HEADER = (
    "A cell of the user's Jupyter notebook raised an error. Explain in a few sentences what went "
    "wrong and why, then propose a corrected version of the failing cell as one ```python code block."
)


@dataclass(frozen=True)
class Cell:
    """One executed cell as the kernel saw it: its run number, code, what it printed or
    displayed, the value it returned and the error it raised (each already text, bounded)."""

    number: int
    code: str
    output: str = ""
    result: str = ""
    error: str = ""

    @property
    def skipped(self) -> bool:
        """Its first line is ``# ollama: skip``: never sent."""
        return bool(SKIP.match(self.code.lstrip().partition("\n")[0]))


@dataclass(frozen=True)
class Notebook:
    """What the kernel recorded, handed to a request: the cells in run order (not the asking
    one) and the values to mask."""

    cells: tuple[Cell, ...] = ()
    secrets: tuple[Secret, ...] = ()


@dataclass(frozen=True)
class Built:
    """The text to send ahead of the prompt, and the trace entry saying what it holds."""

    text: str
    entry: FromNotebook


def estimate_tokens(text: str) -> int:
    """A token count on the high side, so that a budget is kept: a token per digit, and one per
    :data:`CHARS_PER_TOKEN` other characters (measured with SmolLM2's small vocabulary)."""
    others = len(text.translate(_NO_DIGITS))
    return len(text) - others + math.ceil(others / CHARS_PER_TOKEN)


def default_budget(context_length: int | None) -> int:
    """A quarter of the context (of Ollama's default when its length is unknown)."""
    return (context_length or DEFAULT_CONTEXT) // 4


# -- cells as text ------------------------------------------------------------------------------
def _fenced(text: str, info: str = "") -> str:
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    return f"{fence}{info}\n{text.rstrip()}\n{fence}"


def cell_text(cell: Cell) -> str:
    """``In [3]:`` and the code, then what it printed, returned and raised, each fenced."""
    parts = [f"In [{cell.number}]:", _fenced(cell.code, "python")]
    if cell.output.strip():
        parts += ["Output:", _fenced(cell.output)]
    if cell.result.strip():
        parts += [f"Out[{cell.number}]:", _fenced(cell.result)]
    if cell.error.strip():
        parts += ["Error:", _fenced(cell.error)]
    return "\n".join(parts)


def _join(header: str, texts: Sequence[str]) -> str:
    return "\n\n".join([header, *texts])


# -- the context ------------------------------------------------------------------------------------
def build(cells: Sequence[Cell], *, last: int | None = None, budget: int | None = None,
          secrets: Iterable[Secret] = (), before: Iterable[int] = (), chat: str | None = None) -> Built:  # fmt: skip
    """The notebook's cells (in run order) as one message: the last ``last`` cells, or as many
    as fit ``budget`` tokens (both when both are given), newest first, whole cells only, sent
    in run order. A conversation (``chat``) already holds the cells it was shown (run numbers
    ``before``) and its own asks: those are not sent again. Nothing fits: the text is empty and
    the entry says why."""
    mask = Masker(secrets)
    seen, asks = set(before), _asks_in(chat)
    skipped = [c.number for c in cells if c.skipped]
    candidates = [c for c in cells if not c.skipped]
    older: list[Cell] = []
    if last is not None:
        older, candidates = candidates[: max(len(candidates) - last, 0)], candidates[-last:]
    if seen:  # a conversation goes on from what it was shown: cells that ran before that stay out
        newest = max(seen)
        older += [c for c in candidates if c.number < newest and c.number not in seen]
        candidates = [c for c in candidates if c.number >= newest or c.number in seen]
    already = [c.number for c in candidates if c.number in seen or (asks and asks.match(c.code))]
    fresh = [c for c in candidates if c.number not in already]
    used = estimate_tokens(NOTEBOOK_HEADER) + 1
    chosen: list[_Piece] = []
    for cell in reversed(fresh):
        piece = _Piece.of(cell, mask)
        if budget is not None and used + piece.tokens > budget:
            break
        chosen.append(piece)
        used += piece.tokens
    chosen.reverse()
    left_out = [c.number for c in older] + [c.number for c in fresh[: len(fresh) - len(chosen)]]
    text = _join(NOTEBOOK_HEADER, [p.text for p in chosen]) if chosen else ""
    entry = FromNotebook(
        cells=[SentCell(p.cell.number, p.tokens) for p in chosen], tokens=used if chosen else 0,
        budget=budget, last=last, left_out=sorted(left_out), skipped=skipped, already=already,
        masked=_masked(chosen),
    )  # fmt: skip
    return Built(text, entry)


def _asks_in(chat: str | None) -> re.Pattern[str] | None:
    """A cell that asked in conversation ``chat`` (``%%ollama ... --chat NAME``): the
    conversation holds its prompt and answer already."""
    if not chat:
        return None
    return re.compile(rf"\s*%%?ollama\b[^\n]*--chat[= ]+['\"]?{re.escape(chat)}['\"]?(\s|$)")


@dataclass(frozen=True)
class _Piece:
    """A cell as sent: masked text, its token estimate and what was masked in it."""

    cell: Cell
    text: str
    tokens: int
    masked: Counter[str]

    @classmethod
    def of(cls, cell: Cell, mask: Masker) -> _Piece:
        text, masked = mask(cell_text(cell))
        return cls(cell, text, estimate_tokens(text) + 1, masked)


def _masked(pieces: Iterable[_Piece]) -> dict[str, int]:
    """What was masked in the cells sent (a cell measured and then left out counts for nothing)."""
    return dict(sum((p.masked for p in pieces), Counter()))


def shown_before(messages: Iterable[Mapping[str, Any]]) -> set[int]:
    """The run numbers of the cells earlier messages of a conversation showed the model."""
    found: set[int] = set()
    for message in messages:
        text = message.get("content")
        if message.get("role") == "user" and isinstance(text, str) and text.startswith(NOTEBOOK_HEADER):
            found.update(int(n) for n in re.findall(r"^In \[(\d+)\]:$", text, re.M))
    return found


def is_shown(message: Mapping[str, Any]) -> bool:
    """A message that holds notebook cells (the notebook shown, or a failing cell to fix)."""
    text = message.get("content")
    return isinstance(text, str) and text.startswith((NOTEBOOK_HEADER, FIX_HEADER))


def failing(cells: Sequence[Cell]) -> Cell | None:
    """The last cell of the user's code that raised (not ``# ollama: skip``, not an ``%ollama``
    ask that failed)."""
    return next((c for c in reversed(cells) if c.error and not c.skipped and not ASKS.match(c.code)), None)


def build_fix(
    cells: Sequence[Cell], *, budget: int | None = None, secrets: Iterable[Secret] = ()
) -> Built | None:
    """The last failing cell (code, exception, the user's frames) and, as far as ``budget``
    allows, the earlier cells defining the names it uses (and those they use), the nearest
    first; with the request to explain and propose a corrected cell. None: nothing failed."""
    broken = failing(cells)
    if broken is None:
        return None
    mask = Masker(secrets)
    before = [c for c in cells[: cells.index(broken)] if not c.skipped]
    own = _Piece.of(broken, mask)
    used = estimate_tokens(FIX_HEADER) + own.tokens + 1
    chosen = [own]
    needed = [before[i] for i in dependencies(broken.code, [c.code for c in before])]
    for cell in needed:
        piece = _Piece.of(cell, mask)
        if budget is not None and used + piece.tokens > budget:
            break
        chosen.append(piece)
        used += piece.tokens
    sent_deps = sorted(chosen[1:], key=lambda p: before.index(p.cell))
    parts = ["The failing cell:", own.text]
    if sent_deps:
        parts += ["The cells it depends on, in the order they ran:", *(p.text for p in sent_deps)]
    entry = FromNotebook(
        cells=[SentCell(p.cell.number, p.tokens) for p in [own, *sent_deps]], tokens=used, budget=budget,
        left_out=[c.number for c in needed[len(chosen) - 1 :]], skipped=[c.number for c in cells if c.skipped],
        masked=_masked(chosen), purpose="fix",
    )  # fmt: skip
    return Built(_join(FIX_HEADER, parts), entry)


def summary(entry: FromNotebook) -> str:
    """``From the notebook: 12 cells · ~840 tokens · 188 left out for the budget · 2 values masked``"""
    what = "for the fix" if entry.purpose == "fix" else ""
    count = len(entry.cells)
    sent = f"{count} cell{'s' if count != 1 else ''} · ~{entry.tokens:,} tokens" if count else "no cell sent"
    parts = [f"From the notebook{' ' + what if what else ''}: {sent}"]
    if entry.budget is not None:
        parts[-1] += f" of a {entry.budget:,}-token budget" if count else f" (budget {entry.budget:,} tokens)"
    if entry.left_out:
        last = entry.last is not None and entry.budget is None
        why = f"(only the last {entry.last} asked for)" if last else "for the budget"
        parts.append(f"{len(entry.left_out)} left out {why}")
    if entry.already:
        parts.append(f"{len(entry.already)} in the conversation already")
    if entry.skipped:
        parts.append(f"{len(entry.skipped)} skipped (# ollama: skip)")
    if masked := sum(entry.masked.values()):
        parts.append(f"{masked} value{'s' if masked != 1 else ''} masked")
    return " · ".join(parts)

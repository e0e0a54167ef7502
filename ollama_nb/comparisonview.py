"""A comparison on screen: one live column per variant in the same cell, the figures table filling
in as each finishes, and at the end a static output (columns and table) that a saved notebook
keeps without widget state. Without widgets, each variant streams as text under its name.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from html import escape
from typing import Any, Protocol

import ipywidgets as widgets
from IPython.display import display

from . import render
from .comparison import Comparison, Variant
from .comparison_html import comparison_bundle, comparison_text, figures_html
from .kernel import widgets_available
from .plain import PlainView
from .reply import Reply
from .stream import Event
from .trace import ModelTurn, ToolRound
from .view import BoxView, close_all
from .viewbase import NullView, View


class Screen(Protocol):
    """Where a comparison shows: a view per variant, then the whole comparison at the end."""

    def show(self) -> None: ...

    def view(self, index: int, variant: Variant) -> View: ...

    def finish(self, comparison: Comparison) -> None: ...


class _Column:
    """One variant's live view; tells the comparison when it finished."""

    def __init__(self, owner: ComparisonView, index: int, inner: View) -> None:
        self.owner, self.index, self.inner = owner, index, inner

    def show(self) -> None:
        self.inner.show()

    def event(self, event: Event) -> None:
        self.inner.event(event)

    def round(self, round: ToolRound) -> None:  # noqa: A002
        self.inner.round(round)

    def turn(self, turn: ModelTurn) -> None:
        self.inner.turn(turn)

    def notice(self, text: str) -> None:
        self.inner.notice(text)

    def finish(self, reply: Reply) -> None:
        self.inner.finish(reply)
        self.owner.finished(self.index, reply)


class ComparisonView:
    """Columns of live views side by side (wrapping on a narrow screen), one figures table."""

    def __init__(self, prompt: str, chosen: Sequence[Variant]) -> None:
        self.sofar = Comparison(prompt, list(chosen), [None] * len(chosen), [None] * len(chosen))
        self.views = [BoxView(v.model) for v in chosen]
        columns = [widgets.VBox([widgets.HTML(f"<b>{escape(v.label)}</b>"), view.widget])
                   for v, view in zip(chosen, self.views, strict=True)]  # fmt: skip
        self.figures = widgets.HTML()
        row = widgets.HBox(columns, layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"))
        self.root = widgets.VBox([widgets.HTML(render.style_tag()), row, self.figures])
        self.root.add_class("ollama-nb")
        self.root.add_class("ollama-nb-live-comparison")
        self._handle: Any = None

    def show(self) -> None:
        self._handle = display(self.root, display_id=True)

    def view(self, index: int, variant: Variant) -> View:
        return _Column(self, index, self.views[index])

    def finished(self, index: int, reply: Reply) -> None:
        self.sofar.replies[index] = reply
        self.figures.value = figures_html(self.sofar)  # styled by the stylesheet above

    def finish(self, comparison: Comparison) -> None:
        bundle = comparison_bundle(comparison)
        if self._handle is not None:
            self._handle.update(bundle, raw=True)
        else:
            display(bundle, raw=True)
        close_all(self.root)


class PlainComparison:
    """For front ends without widgets: each variant streams under its name (or, asked at once,
    all answers at the end), then the table."""

    def __init__(self, quiet: bool = False, out: Any = None) -> None:
        self.quiet, self.out = quiet, out or sys.stdout

    def show(self) -> None:
        pass

    def view(self, index: int, variant: Variant) -> View:
        if self.quiet:  # variants asked at once would interleave their text
            return NullView()
        self.out.write(f"── {variant.label} ──\n")
        return PlainView(variant.model, self.out)

    def finish(self, comparison: Comparison) -> None:
        if widgets_available():  # a kernel (nbconvert, --plain): the notebook keeps figures and record
            bundle = comparison_bundle(comparison)
            if not self.quiet:  # the answers are already in the output, each with its record
                bundle = {
                    **bundle,
                    "text/html": render.wrapped(figures_html(comparison)),
                    "text/plain": comparison.table(),
                }
            display(bundle, raw=True)
        else:
            self.out.write("\n" + (comparison_text(comparison) if self.quiet else comparison.table()) + "\n")
        self.out.flush()

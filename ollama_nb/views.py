"""Where output goes, asked once: the fronts call :func:`choose_view` (one answer) or
:func:`choose_screen` (a comparison), and hand the result to the pipeline, which never imports a
view. The widget modules are imported only when widgets are shown, so a script or a terminal
IPython never loads ipywidgets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from .kernel import widgets_available
from .viewbase import NullView, View

if TYPE_CHECKING:
    from .comparison import Variant
    from .comparisonview import Screen
    from .progress import ProgressView

Display = Literal["auto", "widget", "plain", "none"]


def choose_view(display: Display, model: str) -> View:
    """``"none"`` shows nothing; ``"plain"`` (or no widgets: a terminal, a script) streams text;
    ``"auto"`` and ``"widget"`` stream into live widgets, left as a static output at the end."""
    if display == "none":
        return NullView()
    if display == "plain" or not widgets_available():
        from .plain import PlainView

        return PlainView(model)
    from .view import CellView

    return CellView(model)


def choose_screen(
    display: Display, prompt: str, chosen: Sequence[Variant], *, parallel: bool
) -> Screen | None:
    """The columns of a comparison (``"auto"``), text under each variant's name (``"plain"`` or
    no widgets), or nothing (``"none"``)."""
    if display == "none":
        return None
    from .comparisonview import ComparisonView, PlainComparison

    if display == "plain" or not widgets_available():
        return PlainComparison(quiet=parallel)
    return ComparisonView(prompt, chosen)


def choose_progress(display: Display) -> ProgressView | None:
    """The progress of a pull or a create: widget bars (``"auto"``), a text bar (``"plain"`` or
    no widgets), or nothing (``"none"``); each ends in the one line that stays."""
    if display == "none":
        return None
    if display == "plain" or not widgets_available():
        from .progress import TextBar

        return TextBar()
    from .progressview import ProgressBarView

    return ProgressBarView()

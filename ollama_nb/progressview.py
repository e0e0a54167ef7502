"""The notebook's view of a pull or a create: live progress bars, then one line that stays.

Live: the overall bar with bytes, speed and time left, and a bar per layer. At the end the
widgets are replaced (through their display handle) by a static line, HTML with a text
fallback, such as ``pulled llama3.2 · 2.0 GB in 1 m 12 s``, and closed: the saved notebook
keeps the line, never a dead widget. This module imports ipywidgets (the view layer).
"""

from __future__ import annotations

import html
import time
from typing import Any

import ipywidgets as widgets
from IPython.display import display

from .progress import Progress, ending, size
from .view import close_all, interrupts_held

MIME = "application/vnd.ollama-nb.progress+json"  # the outcome, for tests and tools reading the notebook


class ProgressBarView:
    """Widgets for :func:`ollama_nb.models.pull` and :func:`~ollama_nb.models.create`
    (``progress=ProgressBarView()``), redrawn at most every ``interval`` seconds (four messages
    a redraw: a few a second is plenty for a download)."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.headline = widgets.HTML("")
        self.overall = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="60%"))
        self.layers = widgets.VBox([])
        self.widget = widgets.VBox([self.headline, self.overall, self.layers])
        self._bars: dict[str, tuple[widgets.HTML, widgets.FloatProgress]] = {}
        self._handle: Any = None
        self._last = 0.0

    def update(self, progress: Progress) -> None:
        if self._handle is None:
            self._handle = display(self.widget, display_id=True)
        now = time.monotonic()
        if now - self._last < self.interval and not progress.done:
            return
        self._last = now
        self._draw(progress)

    def _draw(self, progress: Progress) -> None:
        doing = html.escape(f"{progress.action} {progress.name}: {progress.status}")
        self.headline.value = (
            f"<b>{doing}</b> · {html.escape(progress.figures())}" if progress.total else f"<b>{doing}</b>"
        )
        self.overall.value = progress.fraction
        for digest, layer in progress.layers.items():
            if digest not in self._bars:
                label = widgets.HTML("")
                bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="40%"))
                self._bars[digest] = (label, bar)
                self.layers.children = (*self.layers.children, widgets.HBox([bar, label]))
            label, bar = self._bars[digest]
            bar.value = layer.fraction
            resumed = f" (resumed from {size(layer.resumed)})" if 0 < layer.resumed < layer.total else ""
            label.value = html.escape(
                f"{layer.short} · {size(layer.completed)} / {size(layer.total)}{resumed}"
            )

    def close(self, progress: Progress, problem: str | None) -> None:
        """Replace the widgets by the line that stays, and close them (an interrupt waits)."""
        line = ending(progress, problem)
        colour = "" if problem is None else ' style="color: var(--jp-error-color1, #c62828)"'
        bundle: dict[str, Any] = {
            "text/plain": line,
            "text/html": f'<div class="ollama-nb-progress"{colour}>{html.escape(line)}</div>',
            MIME: {"action": progress.action, "name": progress.name, "done": problem is None,
                   "bytes": progress.total, "fetched": progress.fetched, "seconds": round(progress.elapsed, 3),
                   "line": line},
        }  # fmt: skip
        if not line:  # it failed before anything moved: the error alone says it
            bundle = {"text/plain": ""}
        with interrupts_held():
            if self._handle is not None:
                self._handle.update(bundle, raw=True)
            else:
                display(bundle, raw=True)
            close_all(self.widget)

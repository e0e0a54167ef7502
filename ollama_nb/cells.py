"""The kernel side of the notebook context: every executed cell recorded, in run order.

IPython keeps each cell's code (``In``) and shown value (``Out``) but neither what a cell printed
nor what it displayed. From ``%load_ext ollama_nb`` on, a :class:`Recorder` listens to IPython's
``pre_run_cell`` and ``post_run_cell`` events and, while a cell runs, copies what is written to
``sys.stdout``/``sys.stderr`` and what is published with ``display()`` (bounded). It does so by
wrapping the ``write`` of the stream object the kernel set (and the display publisher's
``publish``) for that one cell, then putting back what was there: the kernel's own output goes
out as before, and nothing is swapped that other code may hold. A stream that takes no
attribute (a terminal's ``TextIOWrapper``) is left alone: its text is not recorded.

Cells are keyed by the front end's cell id (JupyterLab, Notebook 7, VS Code send one), else by
run number: the last run of a cell counts, at its place in the run order. Of a ``# ollama: skip``
cell only its number and first line are kept. :mod:`ollama_nb.nbcontext` turns the record into text.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from .masking import Secret, find_secrets
from .nbcontext import ASKS, Cell, Notebook
from .prompt import error_text
from .values import bounded

OUTPUT_LIMIT = 2_000  # characters of what one cell printed or displayed (its start and its end)
RESULT_LIMIT = 2_000  # characters of the value a cell returned
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif", "application/pdf")
WIDGET = "application/vnd.jupyter.widget-view+json"
_MISSING = object()


class Bounded:
    """Text kept to its first and last ``limit / 2`` characters, with a count of the rest."""

    def __init__(self, limit: int = OUTPUT_LIMIT) -> None:
        self.half = limit // 2
        self.head, self.tail, self.dropped = "", "", 0

    def add(self, text: str) -> None:
        if len(self.head) < self.half:
            room = self.half - len(self.head)
            self.head, text = self.head + text[:room], text[room:]
        if text:
            self.tail += text
            if len(self.tail) > 2 * self.half:  # trim now and then, not on every write
                self.dropped += len(self.tail) - self.half
                self.tail = self.tail[-self.half :]

    def text(self) -> str:
        tail, dropped = self.tail, self.dropped
        if len(tail) > self.half:
            dropped += len(tail) - self.half
            tail = tail[-self.half :]
        gap = f"\n… [{dropped:,} characters left out] …\n" if dropped else ""
        return self.head + gap + tail


class _Tap:
    """Puts a wrapper around one object's method for one cell, then puts back what was there."""

    def __init__(
        self, target: Any, method: str, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]
    ) -> None:
        self.target, self.method = target, method
        self.saved = getattr(target, "__dict__", {}).get(method, _MISSING)
        self.wrapped = wrap(getattr(target, method))
        try:
            setattr(target, method, self.wrapped)
            self.on = True
        except (AttributeError, TypeError):  # a C type (a terminal's stream): left as it is
            self.on = False

    def close(self) -> None:
        if not self.on or getattr(self.target, "__dict__", {}).get(self.method) is not self.wrapped:
            return  # someone replaced it since: theirs stays
        if self.saved is _MISSING:
            delattr(self.target, self.method)
        else:
            setattr(self.target, self.method, self.saved)


@dataclass
class _Run:
    """The cell running now."""

    key: str
    code: str
    printed: Bounded = field(default_factory=Bounded)
    displayed: dict[str, str] = field(default_factory=dict)  # by display id, so an update replaces
    taps: list[_Tap] = field(default_factory=list)
    paused: bool = False  # while IPython writes Out[n] itself (a terminal): the value is kept apart
    reply: Any = None  # _ollama before the cell: a cell that asked the model leaves a new one

    def copying(self, copy: Callable[..., None]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """A wrapper that calls the original, then copies its arguments (never failing)."""

        def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
            def tapped(*args: Any, **kwargs: Any) -> Any:
                done = original(*args, **kwargs)
                if not self.paused:
                    with contextlib.suppress(Exception):  # recording must never cost the user's output
                        copy(*args, **kwargs)
                return done

            return tapped

        return wrap

    def pausing(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def paused(*args: Any, **kwargs: Any) -> Any:
            self.paused = True
            try:
                return original(*args, **kwargs)
            finally:
                self.paused = False

        return paused

    def write(self, text: Any, *_: Any, **__: Any) -> None:
        self.printed.add(text if isinstance(text, str) else str(text))

    def publish(self, data: Any, *_: Any, transient: Any = None, update: bool = False, **__: Any) -> None:
        shown = rich_text(data) if isinstance(data, dict) else ""
        display_id = (transient or {}).get("display_id") if isinstance(transient, dict) else None
        if update and display_id not in self.displayed:
            return  # an update of a display from another cell
        if shown is not None or display_id:  # a widget shows nothing, but an update may replace it
            self.displayed[display_id or f"#{len(self.displayed)}"] = shown or ""


def rich_text(data: dict[str, Any]) -> str | None:
    """A display's text form: an image is a placeholder line, a widget nothing (None), anything
    else its ``text/plain``."""
    image = next((mime for mime in IMAGE_TYPES if mime in data), None)
    if image:
        return f"[an image ({image}){': ' + str(data['text/plain']) if 'text/plain' in data else ''}]"
    if WIDGET in data:
        return None
    return bounded(str(data.get("text/plain", "")), RESULT_LIMIT)


class Recorder:
    """The cells run in one shell since ``%load_ext ollama_nb``, as :class:`~ollama_nb.nbcontext.Cell`."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self._cells: dict[str, Cell] = {}  # in run order: a re-run moves to the end
        self._run: _Run | None = None
        self._depth = 0  # a cell that runs cells (run_cell from code) records only itself

    def install(self) -> None:
        self.shell.events.register("pre_run_cell", self.pre_run_cell)
        self.shell.events.register("post_run_cell", self.post_run_cell)

    def uninstall(self) -> None:
        for event, callback in (("pre_run_cell", self.pre_run_cell), ("post_run_cell", self.post_run_cell)):
            with contextlib.suppress(ValueError):
                self.shell.events.unregister(event, callback)
        self._stop()

    def cells(self) -> list[Cell]:
        """Every recorded cell in run order, but the one running now (the one asking)."""
        running = self._run.key if self._run is not None else None
        return [cell for key, cell in self._cells.items() if key != running]

    @property
    def current_key(self) -> str | None:
        return self._run.key if self._run is not None else None

    def secrets(self, extra: list[Secret] | None = None) -> list[Secret]:
        """What to mask from this notebook: see :func:`ollama_nb.masking.find_secrets`."""
        return find_secrets(self.shell.user_ns, os.environ, extra or [])

    def snapshot(self) -> Notebook:
        """The cells and the values to mask, as they are now (taken in the kernel's thread)."""
        return Notebook(tuple(self.cells()), tuple(self.secrets()))

    # -- IPython's events ------------------------------------------------------------------------
    def pre_run_cell(self, info: Any) -> None:
        self._depth += 1
        if self._depth > 1:
            return
        run = _Run(self._key(info, self.shell.execution_count), str(getattr(info, "raw_cell", "") or ""))
        run.reply = self.shell.user_ns.get("_ollama")
        for stream in (sys.stdout, sys.stderr):
            run.taps.append(_Tap(stream, "write", run.copying(run.write)))
        publisher = getattr(self.shell, "display_pub", None)
        if publisher is not None:
            run.taps.append(_Tap(publisher, "publish", run.copying(run.publish)))
        hook = getattr(self.shell, "displayhook", None)
        for method in ("write_output_prompt", "write_format_data"):
            if hook is not None and hasattr(hook, method):
                run.taps.append(_Tap(hook, method, run.pausing))
        self._run = run

    def post_run_cell(self, result: Any) -> None:
        self._depth = max(self._depth - 1, 0)
        if self._depth:
            return
        run = self._run or _Run(
            self._key(result.info, result.execution_count), str(result.info.raw_cell or "")
        )
        self._stop()
        number = result.execution_count if result.execution_count is not None else self.shell.execution_count
        cell = Cell(
            number=int(number or 0), code=run.code.rstrip(), output=self._answer(run) or self._output(run, displays=not ASKS.match(run.code)),
            result=self._result(result.result), error=self._error(result),
        )  # fmt: skip
        self._cells.pop(run.key, None)
        # a skip cell keeps its number only, so that what was left out can be said
        self._cells[run.key] = Cell(cell.number, cell.code.partition("\n")[0]) if cell.skipped else cell

    # -- helpers ----------------------------------------------------------------------------------
    def _stop(self) -> None:
        if self._run is not None:
            for tap in reversed(self._run.taps):
                tap.close()
            self._run.taps.clear()
        self._run = None

    @staticmethod
    def _key(info: Any, number: Any) -> str:
        cell_id = getattr(info, "cell_id", None)  # the front end's, passed on by ipykernel
        return f"id {cell_id}" if cell_id else f"run {number}"

    def _answer(self, run: _Run) -> str | None:
        """The model's answer, for a cell that asked (``%%ollama``, ``chat()``): not its
        status lines, nor its text twice (plain view and static output)."""
        reply = self.shell.user_ns.get("_ollama")
        content = getattr(reply, "content", None)
        if reply is run.reply or not isinstance(content, str):
            return None
        return bounded(content, 2 * OUTPUT_LIMIT)

    @staticmethod
    def _output(run: _Run, displays: bool = True) -> str:
        """What the cell printed and displayed; an ``%ollama`` line that asked nothing (render,
        models, history) keeps only what it printed: its displays are prompts and tables."""
        shown = [text for text in run.displayed.values() if text] if displays else []
        printed = run.printed.text()
        return bounded("\n".join([printed.rstrip("\n"), *shown] if printed else shown), 2 * OUTPUT_LIMIT)

    def _result(self, value: Any) -> str:
        if value is None:
            return ""
        try:
            data, _ = self.shell.display_formatter.format(value, include={"text/plain", *IMAGE_TYPES})
        except Exception as exc:  # the notebook's own repr may raise
            return f"[its text form failed: {type(exc).__name__}]"
        return rich_text(data) or ""

    def _error(self, result: Any) -> str:
        error = result.error_in_exec or result.error_before_exec
        if error is None:
            return ""
        return bounded(error_text(error, error.__traceback__, self._cell_name), 2 * OUTPUT_LIMIT)

    def _cell_name(self, file: str) -> str | None:
        """``In [5]`` for the file IPython compiled cell 5 into (a temporary path in a kernel)."""
        try:
            found = self.shell.compile.format_code_name(file)
        except Exception:  # an older IPython, another compiler
            return None
        return found[1].replace("In[", "In [") if found else None


_recorders: WeakKeyDictionary[Any, Recorder] = WeakKeyDictionary()


def install(shell: Any) -> Recorder:
    """Start recording ``shell``'s cells (again, after ``%reload_ext``: the record is kept)."""
    found = _recorders.get(shell)
    if found is not None:
        found.uninstall()
    recorder = Recorder(shell)
    if found is not None:
        recorder._cells = found._cells
    recorder.install()
    _recorders[shell] = recorder
    return recorder


def recorder(shell: Any) -> Recorder | None:
    """The shell's recorder, or None before ``%load_ext ollama_nb``."""
    return _recorders.get(shell)


def current() -> Recorder | None:
    """The recorder of the shell this process runs (there is one in a kernel), found without
    importing IPython: None where ``%load_ext ollama_nb`` never ran."""
    found = list(_recorders.values())
    return found[-1] if found else None

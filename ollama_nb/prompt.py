"""Pulling notebook values into a prompt, with a syntax that code in a prompt never trips.

Only ``{{ ... }}`` around a name is replaced: ``{{df}}``, ``{{df.columns}}``, ``{{In[3]}}``,
``{{Out[3]}}``, and ``{{error}}`` (the last error with its traceback); a value goes as its text
form (:mod:`ollama_nb.values`: a DataFrame compact, anything else bounded). Single braces, as in
code, and anything else between double braces, go out as written.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
import traceback
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any

from .errors import PromptError
from .values import text_form

PLACEHOLDER = re.compile(r"\{\{\s*(In\[\d+\]|Out\[\d+\]|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _describe(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:  # an exception whose own __str__ fails
        return type(exc).__name__


def last_error() -> str:
    """The last exception shown in the notebook, as plain text, or "" when there was none.

    Only the user's frames: IPython's own (``run_code``, the magic machinery) that lead to the
    user's code are left out, as IPython itself leaves them out of what it shows.
    """
    value = getattr(sys, "last_value", None)
    if value is None:
        return ""
    return error_text(value, getattr(sys, "last_traceback", None))


def error_text(
    value: BaseException, tb: TracebackType | None, cell_name: Callable[[str], str | None] | None = None
) -> str:
    """An exception and the user's frames of its traceback, as plain text: no IPython frames, no
    colours, and a library's frames (pandas, the standard library) as one line naming it.
    ``cell_name`` names a cell's file as IPython shows it (``In [5]``), so that the text does not
    change with the kernel's temporary file names."""
    shell = _shell_files()
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(shell):
        tb = tb.tb_next
    try:
        found = traceback.TracebackException(type(value), value, tb)
        lines = ["Traceback (most recent call last):\n"] if found.stack else []
        libraries: list[str] = []
        for frame in found.stack:
            if library := _library(frame.filename):
                libraries.append(library)
                continue
            lines += _in_libraries(libraries)
            lines += traceback.StackSummary.from_list([frame]).format()
        lines += _in_libraries(libraries)
        text = "".join(lines + list(found.format_exception_only()))
    except Exception:  # an exception whose own __str__ fails
        text = "".join(traceback.format_tb(tb)) + _describe(value)
    if cell_name is not None:
        for file in set(re.findall(r'^\s*File "([^"]+)"', text, re.M)):
            if name := cell_name(file):
                text = text.replace(f'File "{file}"', f"Cell {name}")
    return _ANSI.sub("", text).strip()


def _library(file: str) -> str | None:
    """The installed package (or "the standard library") a frame's file belongs to, else None."""
    for root, name in _library_roots():
        if file.startswith(root):
            return name or file[len(root) :].split(os.sep)[0].removesuffix(".py")
    return None


@cache
def _library_roots() -> tuple[tuple[str, str], ...]:
    paths = sysconfig.get_paths()
    packages = {paths[k] for k in ("purelib", "platlib") if k in paths}
    standard = {paths[k] for k in ("stdlib", "platstdlib") if k in paths} - packages
    return tuple((p.rstrip(os.sep) + os.sep, "") for p in packages) + tuple(
        (p.rstrip(os.sep) + os.sep, "the standard library") for p in standard
    )


def _in_libraries(names: list[str]) -> list[str]:
    """``  [3 frames in pandas]``, for the library frames just passed; empties ``names``."""
    if not names:
        return []
    count, which = len(names), ", ".join(dict.fromkeys(names))
    names.clear()
    return [f"  [{count} frame{'s' if count != 1 else ''} in {which}]\n"]


def _shell_files() -> tuple[str, ...]:
    """Where IPython's and ipykernel's own files are."""
    modules = (sys.modules.get(name) for name in ("IPython", "ipykernel"))
    return tuple(str(Path(m.__file__).parent) + os.sep for m in modules if m is not None and m.__file__)


def resolve(prompt: str, namespace: Mapping[str, Any]) -> str:
    """Replace every placeholder; an undefined one raises :class:`PromptError` naming it."""

    def value(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression == "error" and "error" not in namespace:
            found = last_error()
            if not found:
                raise PromptError("{{error}}: no error has happened in this notebook yet")
            return found
        head, _, rest = expression.partition("[") if "[" in expression else expression.partition(".")
        if head not in namespace:
            raise PromptError(f"{{{{{expression}}}}}: {head!r} is not defined in the notebook")
        item = namespace[head]
        try:
            if "[" in expression:
                item = item[int(rest.rstrip("]"))]
            elif rest:
                for attribute in rest.split("."):
                    item = getattr(item, attribute)
            return text_form(item)
        except Exception as exc:  # the notebook's own code (a property, __str__) may raise anything
            raise PromptError(f"{{{{{expression}}}}}: {_describe(exc)}") from None

    return PLACEHOLDER.sub(value, prompt)

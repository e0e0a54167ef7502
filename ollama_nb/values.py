"""A notebook value as text a model can use: what ``{{name}}`` and the notebook context send.

A DataFrame (pandas or polars) becomes its shape, its columns with their types, its first rows
and ``describe()`` of its numbers, instead of whatever ``str()`` prints; another object its
``_repr_markdown_`` when it has one, else its ``str()`` (``repr`` unless the class wrote a text
form of its own). Everything but a string the user named is bounded. Neither pandas nor polars
is imported here: a frame is known by its type's module, so neither is ever required.
"""

from __future__ import annotations

from typing import Any

LIMIT = 4_000  # characters of one value's text form
ROWS = 5  # first rows of a frame shown


def bounded(text: str, limit: int = LIMIT) -> str:
    """``text``, or its start and a note of how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… [{len(text) - limit:,} more characters left out]"


def _library(value: Any) -> str:
    return type(value).__module__.split(".")[0]


def is_frame(value: Any) -> bool:
    """A pandas DataFrame or Series, or a polars DataFrame."""
    name = type(value).__name__
    return (_library(value) == "pandas" and name in ("DataFrame", "Series")) or (
        _library(value) == "polars" and name == "DataFrame"
    )


def text_form(value: Any, limit: int = LIMIT) -> str:
    """What a model is sent for ``value``. A string goes whole (the user named it); anything
    else is bounded. The notebook's own code may raise here (a ``__str__``, a property)."""
    if isinstance(value, str):
        return value
    if is_frame(value):
        return bounded(frame_text(value), limit)
    markdown = getattr(value, "_repr_markdown_", None)
    if callable(markdown) and not isinstance(value, type):
        found = markdown()
        if isinstance(found, tuple):  # (text, metadata), as IPython allows
            found = found[0]
        if isinstance(found, str):
            return bounded(found, limit)
    return bounded(str(value), limit)


def frame_text(frame: Any) -> str:
    """Shape, columns with dtypes, the first rows and ``describe()`` for the numbers."""
    if _library(frame) == "polars":
        return _polars_text(frame)
    if type(frame).__name__ == "Series":
        lines = [f"pandas Series {frame.name!r}: {len(frame):,} values, dtype {frame.dtype}"]
        lines += ["first values:", frame.head(ROWS).to_string()]
        if frame.dtype.kind in "biufc":
            lines += ["describe():", frame.describe().to_string()]
        return "\n".join(lines)
    rows, columns = frame.shape
    lines = [f"pandas DataFrame: {rows:,} rows × {columns:,} columns"]
    lines.append("columns: " + ", ".join(f"{name} ({dtype})" for name, dtype in frame.dtypes.items()))
    lines += [f"first {min(rows, ROWS)} rows:", frame.head(ROWS).to_string(max_cols=20, max_colwidth=40)]
    numbers = frame.select_dtypes("number")
    if numbers.shape[1] and rows:
        lines += ["describe() of the numeric columns:", numbers.describe().to_string(max_cols=20)]
    return "\n".join(lines)


def _polars_text(frame: Any) -> str:
    rows, columns = frame.shape
    lines = [f"polars DataFrame: {rows:,} rows × {columns:,} columns"]
    lines.append("columns: " + ", ".join(f"{name} ({dtype})" for name, dtype in frame.schema.items()))
    lines += [f"first {min(rows, ROWS)} rows:", str(frame.head(ROWS))]
    numeric = [name for name, dtype in frame.schema.items() if dtype.is_numeric()]
    if numeric and rows:
        lines += ["describe() of the numeric columns:", str(frame.select(numeric).describe())]
    return "\n".join(lines)

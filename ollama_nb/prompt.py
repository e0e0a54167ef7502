"""Pulling notebook values into a prompt, with a syntax that code in a prompt never trips.

Only ``{{ ... }}`` around a name is replaced: ``{{df}}``, ``{{df.columns}}``, ``{{In[3]}}``,
``{{Out[3]}}``, and ``{{error}}`` (the last error with its traceback). Single braces, as in
code, and anything else between double braces, go out as written.
"""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Mapping
from typing import Any

from .errors import PromptError

PLACEHOLDER = re.compile(r"\{\{\s*(In\[\d+\]|Out\[\d+\]|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def last_error() -> str:
    """The last exception shown in the notebook, as plain text, or "" when there was none."""
    value = getattr(sys, "last_value", None)
    if value is None:
        return ""
    text = "".join(traceback.format_exception(type(value), value, getattr(sys, "last_traceback", None)))
    return _ANSI.sub("", text).strip()


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
        except (KeyError, IndexError, AttributeError) as exc:
            raise PromptError(f"{{{{{expression}}}}}: {type(exc).__name__}: {exc}") from None
        return item if isinstance(item, str) else str(item)

    return PLACEHOLDER.sub(value, prompt)

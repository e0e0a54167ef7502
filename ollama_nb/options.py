"""``-o KEY=VALUE`` options: typed values, checked against the client's own ``Options`` model."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import ollama
import pydantic


class OptionError(ValueError):
    pass


def parse_value(text: str) -> Any:
    """``32000`` → int, ``0.2`` → float, ``["a"]``/``true`` → JSON, anything else → the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_options(pairs: Iterable[str]) -> dict[str, Any]:
    """Parse and check ``KEY=VALUE`` pairs; raise :class:`OptionError` naming the bad one."""
    options: dict[str, Any] = {}
    known = ollama.Options.model_fields
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise OptionError(f"-o takes KEY=VALUE (e.g. -o num_ctx=32000), not {pair!r}")
        if key not in known:
            near = [k for k in known if key[:4] in k] or sorted(known)[:6]
            raise OptionError(f"unknown option {key!r}; did you mean one of: {', '.join(near)}?")
        options[key] = parse_value(raw.strip())
    try:
        ollama.Options.model_validate(options, strict=False)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        raise OptionError(f"option {first['loc'][0]!r}: {first['msg'].lower()}") from None
    return options

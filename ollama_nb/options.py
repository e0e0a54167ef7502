"""``-o KEY=VALUE`` model options: typed as the server types them, unknown ones passed through.

The types follow Ollama's own ``api.Options`` and ``api.Runner`` (a value of the wrong JSON type
is refused there with ``option "num_ctx" must be of type integer``, so it is refused here first,
before anything is sent). Options newer than this table are sent as written, with a notice:
servers ignore keys they do not know.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import pydantic

from .errors import OptionError

_INT, _FLOAT, _BOOL, _STRINGS = int, float, bool, list[str]
KNOWN: dict[str, Any] = {
    # runner
    "num_ctx": _INT, "num_batch": _INT, "num_gpu": _INT, "main_gpu": _INT, "use_mmap": _BOOL,
    "num_thread": _INT,
    # sampling and generation
    "num_keep": _INT, "seed": _INT, "num_predict": _INT, "top_k": _INT, "top_p": _FLOAT,
    "min_p": _FLOAT, "typical_p": _FLOAT, "repeat_last_n": _INT, "temperature": _FLOAT,
    "repeat_penalty": _FLOAT, "presence_penalty": _FLOAT, "frequency_penalty": _FLOAT,
    "stop": _STRINGS, "draft_num_predict": _INT,
    # older servers' options, still accepted (newer ones ignore them)
    "mirostat": _INT, "mirostat_tau": _FLOAT, "mirostat_eta": _FLOAT, "tfs_z": _FLOAT,
    "penalize_newline": _BOOL, "numa": _BOOL, "low_vram": _BOOL, "use_mlock": _BOOL,
}  # fmt: skip
_ADAPTERS = {t: pydantic.TypeAdapter(t) for t in (_INT, _FLOAT, _BOOL, _STRINGS)}
_NAMES = {_INT: "a whole number", _FLOAT: "a number", _BOOL: "true or false", _STRINGS: "a list of strings"}


def parse_value(text: str) -> Any:
    """``32000`` → int, ``0.2`` → float, ``["a"]``/``true`` → JSON, anything else → the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def check(key: str, value: Any) -> Any:
    """``value`` as the JSON type the server wants for ``key`` (unknown keys: as given)."""
    kind = KNOWN.get(key)
    if kind is None:
        return value
    if kind is _STRINGS and isinstance(value, str):
        value = [value]  # -o stop=END means one stop word
    if kind is _INT and isinstance(value, float) and value.is_integer():
        value = int(value)
    strict = kind is not _FLOAT  # 1 is a fine temperature; 1.5 is not a context length
    try:
        return _ADAPTERS[kind].validate_python(value, strict=strict)
    except pydantic.ValidationError:
        raise OptionError(f"option {key!r} takes {_NAMES[kind]}, not {json.dumps(value)}",
                          key=key, expected=_NAMES[kind], value=value) from None  # fmt: skip


def parse_options(pairs: Iterable[str]) -> tuple[dict[str, Any], list[str]]:
    """Parse and type ``KEY=VALUE`` pairs. Returns the options and notices for unknown keys;
    raises :class:`OptionError` naming a malformed pair or a value of the wrong type."""
    options: dict[str, Any] = {}
    notices: list[str] = []
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise OptionError(f"-o takes KEY=VALUE (e.g. -o num_ctx=32000), not {pair!r}")
        options[key] = check(key, parse_value(raw.strip()))
        if key not in KNOWN:
            near = [k for k in KNOWN if key[:4] in k]
            hint = f" (did you mean {', '.join(near)}?)" if near else ""
            notices.append(f"Option {key!r} is not one ollama_nb knows: sent as written{hint}; "
                           "a server that does not know it ignores it.")  # fmt: skip
    return options, notices


def split(text: str | None) -> list[str]:
    """``"llama3.2, qwen3"`` → ``["llama3.2", "qwen3"]`` (several values to compare)."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def option_values(pairs: Sequence[str]) -> dict[str, list[Any]]:
    """``-o`` pairs where a value may list several, comma-separated: ``temperature=0,1``. A value
    that is JSON as a whole is one value (``'stop=["a","b"]'``). Raises :class:`OptionError`."""
    found: dict[str, list[Any]] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key:
            raise OptionError(f"-o takes KEY=VALUE (e.g. -o temperature=0,1), not {pair!r}")
        try:
            json.loads(raw)
            pieces = [raw]
        except json.JSONDecodeError:
            pieces = [piece.strip() for piece in raw.split(",")]
        found[key] = [check(key, parse_value(piece)) for piece in pieces]
    return found


def keep_alive(value: str | float | None) -> str | float | None:
    """Ollama reads a number as seconds and text as a Go duration ("5m"): "-1" or "300" as text
    would be refused ("missing unit in duration"), so numbers written as text go as numbers."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value.strip() or None
        return int(number) if number.is_integer() else number
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value

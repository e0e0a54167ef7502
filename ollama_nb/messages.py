"""Ollama chat messages as a schema, for reading what a file or a notebook claims they are.

A conversation file or a saved output is untrusted input: it is validated here, once, with
pydantic (strict types, no coercion), so that nothing of the wrong type is accepted only to fail
later in a request. Fields this version does not know are kept, as Ollama adds some now and then.
"""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .errors import RecordError

_OPEN = ConfigDict(extra="allow", strict=True)


class FunctionCall(BaseModel):
    """What a tool call asks for. ``arguments`` is an object (JSON text of one is decoded)."""

    model_config = _OPEN
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    index: int | None = None

    @field_validator("arguments", mode="before")
    @classmethod
    def _decoded(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value  # refused by the type check, with pydantic's message
        return value


class ToolCall(BaseModel):
    model_config = _OPEN
    id: str | None = None
    function: FunctionCall


class Message(BaseModel):
    """One message as ``/api/chat`` takes it."""

    model_config = _OPEN
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    thinking: str | None = None
    images: list[str] | None = None  # base64
    tool_calls: list[ToolCall] | None = None
    tool_name: str | None = None
    tool_call_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The message as a plain dict with only the fields it came with."""
        return self.model_dump(mode="json", exclude_unset=True)


def problem(error: pydantic.ValidationError) -> str:
    """The first problem pydantic found, in one line, and how many more there are."""
    errors = error.errors(include_url=False, include_input=False)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")  # our own validators' words stand alone
    text = f"{where}: {message}" if where else message
    more = len(errors) - 1
    return text + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


def read_json(path: str | PathLike[str], model: type[pydantic.BaseModel], what: str) -> Any:
    """``path`` read and validated as ``model``; a :class:`~ollama_nb.errors.RecordError` naming the file and the
    first problem otherwise (no such file, not JSON, not UTF-8, too deep, a wrong field)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise RecordError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        return model.model_validate_json(data)
    except pydantic.ValidationError as exc:
        raise RecordError(f"{path}: not {what}: {problem(exc)}") from None

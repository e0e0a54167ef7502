"""The functions a model may call: only those the user named, run safely, results as text."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import pydantic_core

from .schema import ArgumentError, SchemaError, ToolSpec, build, tool_spec

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_MAX_RESULT_CHARS = 20_000


def tool(function: F | None = None, *, name: str | None = None) -> Any:
    """Mark a function as a tool: its schema is built (and checked) now, once.

    Use as ``@tool`` or ``@tool(name="other_name")``; the function itself is returned unchanged,
    so it can still be called from the notebook.
    """

    def mark(fn: F) -> F:
        fn.__ollama_tool__ = build(fn, name)  # type: ignore[attr-defined]
        return fn

    return mark(function) if function is not None else mark


@dataclass
class Outcome:
    """What became of one call: the text for the model, and what happened."""

    content: str
    status: str  # ok / error / refused
    coerced: dict[str, Any] | None = None
    error: str | None = None


class Toolbox:
    """The named functions a model may call in one cell, with their schemas."""

    def __init__(self, functions: Iterable[Callable[..., Any] | ToolSpec] = (), *,
                 max_result_chars: int = DEFAULT_MAX_RESULT_CHARS) -> None:  # fmt: skip
        self.specs: dict[str, ToolSpec] = {}
        problems = []
        for function in functions:
            try:
                spec = function if isinstance(function, ToolSpec) else tool_spec(function)
            except SchemaError as exc:
                problems.append(str(exc))
                continue
            self.specs[spec.name] = spec
        if problems:
            raise SchemaError("; ".join(problems))
        self.max_result_chars = max_result_chars

    def __bool__(self) -> bool:
        return bool(self.specs)

    def schemas(self) -> list[dict[str, Any]]:
        return [spec.schema for spec in self.specs.values()]

    def prepare(self, name: str, arguments: Any) -> tuple[ToolSpec, dict[str, Any]] | Outcome:
        """Find and validate a call; an :class:`Outcome` with the error when it cannot run."""
        spec = self.specs.get(name)
        if spec is None:
            available = ", ".join(self.specs) or "none"
            return Outcome(f"Error: there is no tool named {name!r}. Available tools: {available}.",
                           "error", error=f"unknown tool {name!r}")  # fmt: skip
        try:
            return spec, spec.validate(arguments)
        except ArgumentError as exc:
            return Outcome(f"Error: invalid arguments for {name}: {exc}. Nothing was run; "
                           "call it again with corrected arguments.", "error", error=str(exc))  # fmt: skip

    def run(self, spec: ToolSpec, values: dict[str, Any]) -> Outcome:
        """Call the function. An exception becomes an error message for the model."""
        coerced = dict(values)
        try:
            result = _call(spec, dict(values))
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            return Outcome(f"Error: {error}", "error", coerced, error)
        return Outcome(self.format(result), "ok", coerced)

    def format(self, value: Any) -> str:
        """``str`` as is; JSON when the value serializes; else ``repr``; long results cut with a note."""
        if isinstance(value, str):
            text = value
        else:
            try:
                text = pydantic_core.to_json(value).decode()
            except Exception:  # pydantic_core raises its own error types for odd objects
                text = repr(value)
        limit = self.max_result_chars
        if len(text) > limit:
            text = f"{text[:limit]}\n[truncated: {len(text):,} characters in all, the first {limit:,} shown]"
        return text


def _call(spec: ToolSpec, values: dict[str, Any]) -> Any:
    result = spec.call(values)
    if inspect.isawaitable(result):
        result = _await(result)
    return result


def _await(awaitable: Any) -> Any:
    """Run a coroutine to its end, also inside the kernel's own running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_wrap(awaitable))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _wrap(awaitable)).result()


async def _wrap(awaitable: Any) -> Any:
    return await awaitable

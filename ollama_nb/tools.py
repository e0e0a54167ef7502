"""The functions a model may call: only those the user named, run safely, results as text."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pydantic_core

from . import mcp
from .errors import ToolClash, ToolFailed
from .mcp import McpTool
from .schema import ArgumentError, SchemaError, ToolSpec, build, tool_spec

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_MAX_RESULT_CHARS = 20_000
CANCEL_GRACE_S = 2.0  # how long an interrupted async tool gets to finish cancelling


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


Entry = ToolSpec | McpTool  # a notebook function's tool, or an MCP server's
Offered = Callable[..., Any] | ToolSpec | McpTool | str  # str: "mcp:SERVER" or "mcp:SERVER/TOOL"


class Toolbox:
    """The named tools a model may call in one cell (notebook functions and MCP servers' tools),
    with their schemas. Two different tools under one name are refused, naming both."""

    def __init__(self, functions: Iterable[Offered] = (), *, max_result_chars: int = DEFAULT_MAX_RESULT_CHARS,
                 mcp_timeout: float | None = None) -> None:  # fmt: skip
        self.specs: dict[str, Entry] = {}
        # seconds an MCP server may take to start or to answer (None: the server's or the default)
        self.mcp_timeout = mcp_timeout
        problems = []
        for function in functions:
            try:
                entries = _entries(function, mcp_timeout)
            except SchemaError as exc:
                problems.append(str(exc))
                continue
            for entry in entries:
                other = self.specs.setdefault(entry.name, entry)
                if not _same(other, entry):
                    raise ToolClash(_clash(other, entry))
        if problems:
            raise SchemaError("; ".join(problems))
        self.max_result_chars = max_result_chars

    def __bool__(self) -> bool:
        return bool(self.specs)

    def server_of(self, name: str) -> str | None:
        """The MCP server a tool comes from (None for a notebook function or an unknown name)."""
        entry = self.specs.get(name)
        return entry.server if isinstance(entry, McpTool) else None

    def schemas(self) -> list[dict[str, Any]]:
        return [spec.schema for spec in self.specs.values()]

    def prepare(self, name: str, arguments: Any) -> tuple[Entry, dict[str, Any]] | Outcome:
        """Find and validate a call; an :class:`Outcome` with the error when it cannot run.

        ``arguments`` is what the model sent: an object, or JSON text of one (small models send
        that); anything else (``null``, a list, a number) is an error for the model to fix.
        """
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

    def run(self, spec: Entry, values: dict[str, Any]) -> Outcome:
        """Call the function (or the MCP server) and turn its result into text. Whatever the
        tool's code raises (``sys.exit()`` included) becomes an error message for the model; an
        interrupt stops."""
        coerced = dict(values)
        try:
            result = (
                spec.call(dict(values), self.mcp_timeout)
                if isinstance(spec, McpTool)
                else _call(spec, dict(values))
            )
        except ToolFailed as exc:  # its own words: an MCP server's error text, a crash, a timeout
            return _failed(as_text(str(exc), self.max_result_chars), coerced)
        except (Exception, SystemExit, asyncio.CancelledError) as exc:
            return _failed(_describe(exc), coerced)
        try:
            return Outcome(self.format(result), "ok", coerced)
        except (Exception, SystemExit, asyncio.CancelledError) as exc:  # a generator's own code runs here
            return _failed(f"the result could not be turned into text: {_describe(exc)}", coerced)

    def format(self, value: Any) -> str:
        """``str`` as is; JSON when the value serializes; else ``repr``; long results cut with a note.

        Iterators (generators, ``map``, ``itertools.count()``...) are read lazily and only as far
        as the limit: a tool may return an endless one.
        """
        return as_text(value, self.max_result_chars)


def _entries(offered: Offered, mcp_timeout: float | None) -> list[Entry]:
    if isinstance(offered, (ToolSpec, McpTool)):
        return [offered]
    if isinstance(offered, str):
        if mcp.is_entry(offered):
            return list(mcp.resolve(offered, mcp_timeout))
        raise SchemaError(f"{offered!r} is not a tool: pass a function, or 'mcp:SERVER' (all of an MCP "
                          "server's tools) or 'mcp:SERVER/TOOL' (one)")  # fmt: skip
    return [tool_spec(offered)]


def _same(a: Entry, b: Entry) -> bool:
    if isinstance(a, McpTool) and isinstance(b, McpTool):
        return (a.server, a.name) == (b.server, b.name)
    return a is b or (isinstance(a, ToolSpec) and isinstance(b, ToolSpec) and a.function is b.function)


def _origin(entry: Entry) -> str:
    if isinstance(entry, McpTool):
        return f"a tool of the MCP server {entry.server}"
    return f"the notebook function {getattr(entry.function, '__qualname__', entry.name)}"


def _clash(first: Entry, second: Entry) -> str:
    """One line naming both tools and how to offer only one."""
    servers = [e for e in (first, second) if isinstance(e, McpTool)]
    if len(servers) == 2:
        how = (f"mcp:{first.server}/{first.name} or mcp:{second.server}/{second.name}, "  # type: ignore[union-attr]
               "with the servers' other tools named one by one")  # fmt: skip
    elif servers:
        how = (f"name the other tools of {servers[0].server} one by one (mcp:{servers[0].server}/TOOL), "
               "or rename the function with @tool(name=...)")  # fmt: skip
    else:
        how = "rename one of the functions with @tool(name=...)"
    return (
        f"Two tools are named {first.name!r}: {_origin(first)} and {_origin(second)}. Offer only one: {how}."
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"SystemExit: the tool called sys.exit({exc.code!r}); nothing exited, the kernel runs on"
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:  # an exception whose own __str__ fails
        return f"{type(exc).__name__} (its message could not be read)"


def _failed(error: str, coerced: dict[str, Any]) -> Outcome:
    return Outcome(f"Error: {error}", "error", coerced, error)


def as_text(value: Any, limit: int) -> str:
    """A result as the text the model gets, at most ``limit`` characters plus a note."""
    if isinstance(value, str):
        text, cut = value, False
    else:
        budget = _Budget(limit)
        value = budget.take(value)
        try:
            text = pydantic_core.to_json(value).decode()
        except Exception:  # pydantic_core raises its own error types for odd objects
            text = repr(value)
        cut = budget.exhausted
    if cut:
        return f"{text[:limit]}\n[truncated: more than {limit:,} characters, the first {limit:,} shown]"
    if len(text) > limit:
        return f"{text[:limit]}\n[truncated: {len(text):,} characters in all, the first {limit:,} shown]"
    return text


class _Budget:
    """Copy a result's lists, dicts and iterators only as far as ``limit`` characters of JSON
    can reach (every item takes at least one): an endless iterator is never drained."""

    MAX_DEPTH = 100

    def __init__(self, limit: int) -> None:
        self.left = limit
        self.exhausted = False

    def take(self, value: Any, depth: int = 0) -> Any:
        if isinstance(value, str):
            self.left -= len(value) + 2
        elif isinstance(value, dict) and depth < self.MAX_DEPTH:
            taken = {}
            for key, item in value.items():
                self.left -= len(str(key)) + 4
                if self._spent():
                    break
                taken[key] = self.take(item, depth + 1)
            return taken
        elif isinstance(value, (list, tuple, set, frozenset, range, Iterator)) and depth < self.MAX_DEPTH:
            items = []
            self.left -= 1
            for item in value:
                if self._spent():
                    break
                items.append(self.take(item, depth + 1))
                self.left -= 1
            return items
        else:
            self.left -= 1
        self._spent()
        return value

    def _spent(self) -> bool:
        self.exhausted = self.exhausted or self.left < 0
        return self.exhausted


def _call(spec: ToolSpec, values: dict[str, Any]) -> Any:
    result = spec.call(values)
    if inspect.isawaitable(result):
        result = _await(result)
    return result


def _await(awaitable: Any) -> Any:
    """Run a coroutine to its end in an event loop of its own, on a worker thread (the kernel's
    own loop is busy running this cell). The first interrupt cancels it and ends the wait."""
    started: concurrent.futures.Future[tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]]
    finished: concurrent.futures.Future[Any]
    started, finished = concurrent.futures.Future(), concurrent.futures.Future()

    async def main() -> Any:
        task = asyncio.ensure_future(awaitable)
        started.set_result((asyncio.get_running_loop(), task))
        return await task

    def work() -> None:
        try:
            finished.set_result(asyncio.run(main()))
        except BaseException as exc:  # handed to the waiting thread, which raises it
            finished.set_exception(exc)

    worker = threading.Thread(target=work, name="ollama_nb async tool", daemon=True)
    worker.start()
    try:
        # short waits let the main thread notice an interrupt (also from interrupt_main); not
        # result(timeout=...), which cannot tell its own timeout from a TimeoutError the tool raised
        while not finished.done():
            concurrent.futures.wait([finished], timeout=0.05)
        return finished.result()
    except KeyboardInterrupt:
        try:
            loop, task = started.result(timeout=CANCEL_GRACE_S)
            loop.call_soon_threadsafe(task.cancel)
        except (concurrent.futures.TimeoutError, RuntimeError):  # it never started, or is over already
            pass
        worker.join(CANCEL_GRACE_S)  # a coroutine that ignores cancellation is left behind
        raise

"""Tools from Model Context Protocol servers, offered to a model beside notebook functions.

A server is registered by name (:func:`add`) and started on first use. The official ``mcp``
SDK (the optional extra ``ollama_nb[mcp]``) runs on one daemon thread with an event loop of its
own; each server is owned by one long-lived task there, which enters and leaves the SDK's
context managers. The kernel's thread calls in with ``run_coroutine_threadsafe`` and waits in
short steps, so an interrupt cancels the call. A server's stderr goes to a log file
(:func:`log`), never into a cell. Whatever a server does (crash, hang, garbage, a huge answer),
a call ends in a result or a :class:`~ollama_nb.errors.ToolFailed` of one line; servers are
stopped on :func:`remove` and when the interpreter exits.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import functools
import json
import logging
import re
import shlex
import sys
import tempfile
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import pydantic

from .errors import ArgumentError, McpError, ToolFailed
from .schema import argument_object, decoded_values, tidy
from .settings import DEFAULT_MCP_TIMEOUT, defaults

if TYPE_CHECKING:
    from mcp import ClientSession
    from mcp.types import CallToolResult, Tool

PREFIX = "mcp:"
INSTALL = "pip install 'ollama_nb[mcp]'"
STOP_GRACE_S = 6.0  # the SDK closes stdin, waits 2 s, sends SIGTERM, waits 2 s, then kills
POLL_S = 0.05  # how often a waiting kernel thread looks up, so that an interrupt reaches it
LOG_TAIL_CHARS = 20_000
State = Literal["not started", "starting", "running", "stopped", "failed"]
T = TypeVar("T")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def _sdk() -> Any:
    """The ``mcp`` package, or one line saying how to install it."""
    try:
        import mcp
    except ImportError:
        raise McpError(f"MCP tool servers need the mcp package: {INSTALL}") from None
    return mcp


class _Runner:
    """The SDK's thread and event loop, started on first use and stopped at exit."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="ollama_nb mcp", daemon=True).start()
                self._loop = loop
                atexit.register(_shutdown)
            return self._loop

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop())

    def call_soon(self, callback: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(callback)


_runner = _Runner()


def _wait(future: concurrent.futures.Future[T], limit: float) -> T:
    """Wait for ``future`` in short steps (an interrupt reaches Python between them and cancels
    it); past ``limit`` seconds it is cancelled and ``TimeoutError`` raised."""
    waited = 0.0
    try:
        while not future.done():
            concurrent.futures.wait([future], timeout=POLL_S)
            waited += POLL_S
            if waited > limit and not future.done():
                future.cancel()
                raise TimeoutError
    except KeyboardInterrupt:
        future.cancel()
        raise
    return future.result()


def _settle(
    future: concurrent.futures.Future[T], value: T | None = None, error: BaseException | None = None
) -> None:
    if future.done():  # the waiter gave up (an interrupt): nobody to tell
        return
    with contextlib.suppress(concurrent.futures.InvalidStateError):
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)  # type: ignore[arg-type]


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class Server:
    """One registered MCP server: how it starts, its state, its tools and its log."""

    def __init__(self, name: str, command: Sequence[str] = (), url: str | None = None, *,
                 timeout: float | None = None, env: dict[str, str] | None = None,
                 cwd: str | None = None, log_path: Path) -> None:  # fmt: skip
        self.name, self.command, self.url = name, tuple(command), url
        self.timeout, self.env, self.cwd, self.log_path = timeout, env, cwd, log_path
        self.written = ""  # the command as given, before ``python`` became this interpreter
        self.state: State = "not started"
        self.error: str | None = None
        self.tools: tuple[McpTool, ...] = ()
        self._session: ClientSession | None = None
        self._stop: asyncio.Event | None = None
        self._owner: concurrent.futures.Future[None] | None = None
        self._calls: set[asyncio.Task[Any]] = set()
        self._broken: str | None = None  # why the running connection can no longer be trusted
        self._stray: str | None = None  # the last line that was not JSON-RPC, when no call waited
        self._start_limit = DEFAULT_MCP_TIMEOUT  # the start under way: its limit, in seconds
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        """The command as the user wrote it, or the URL."""
        return self.url or self.written or shlex.join(self.command)

    def limit(self, given: float | None = None) -> float:
        """Seconds to start or to answer: the server's own timeout, else the cell's ``mcp_timeout``,
        else the default's."""
        return next(t for t in (self.timeout, given, defaults.mcp_timeout) if t is not None)

    def same_as(self, other: Server) -> bool:
        return (self.command, self.url, self.env, self.cwd, self.timeout) == (
            other.command, other.url, other.env, other.cwd, other.timeout)  # fmt: skip

    # --- on the kernel's side ------------------------------------------------------------

    def start(self, timeout: float | None = None) -> tuple[McpTool, ...]:
        """Start the server unless it runs; its tools. Raises :class:`McpError` (one line)."""
        _sdk()
        with self._lock:
            alive = self._owner is not None and not self._owner.done()
            if alive and self.state == "running" and self._broken is None:
                return self.tools
            if alive:  # a connection that broke: its task ends before a new one starts
                self._halt("restarting")
            ready: concurrent.futures.Future[list[Tool]] = concurrent.futures.Future()
            limit = self._start_limit = self.limit(timeout)
            self.state, self.error, self._broken, self._stray = "starting", None, None, None
            self._stop = asyncio.Event()
            self._owner = _runner.submit(self._own(ready, self._stop))
            try:
                listed = _wait(ready, limit + STOP_GRACE_S)
            except KeyboardInterrupt:
                self._halt("start interrupted")
                raise
            except TimeoutError:
                self._halt("did not start")
                listed = None
                error: BaseException = McpError(self._said(f"did not start within {limit:g} s"))
            except McpError as exc:
                listed, error = None, exc
            if listed is None:
                self.state, self.error = "failed", str(error)
                raise error
            self.tools = tuple(McpTool.of(self.name, tool) for tool in listed)
            self.state = "running"
            return self.tools

    def stop(self) -> None:
        """Stop the server if it runs (its process ends; a later use starts it again)."""
        with self._lock:
            self._halt("stopped")

    def _halt(self, state_note: str) -> None:
        owner, stop = self._owner, self._stop
        if owner is not None and not owner.done() and stop is not None:
            _runner.call_soon(stop.set)
            concurrent.futures.wait([owner], timeout=STOP_GRACE_S)
            if not owner.done():
                owner.cancel()
        if self.state in ("running", "starting"):
            self.state = "stopped"
        self._note(state_note)

    def call(self, tool: str, arguments: dict[str, Any], timeout: float | None = None) -> str:
        """Call ``tool`` and return its result as text; :class:`ToolFailed` says what went wrong.
        An interrupt cancels the call (the server is told) and propagates."""
        try:
            self.start(timeout)  # again after a crash
        except McpError as exc:
            raise ToolFailed(str(exc)) from None
        limit = self.limit(timeout)
        future = _runner.submit(self._call(tool, arguments, limit))
        try:
            result = _wait(future, limit + STOP_GRACE_S)
        except KeyboardInterrupt:
            self._note(f"{tool}: cancelled by an interrupt")
            raise
        except ToolFailed:
            raise
        except Exception as exc:  # the SDK's errors, pydantic's for a malformed result, ours
            raise ToolFailed(self._failure(tool, exc, limit)) from None
        return result_text(result)

    def _failure(self, tool: str, exc: Exception, limit: float) -> str:
        from mcp import MCPError
        from mcp.types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        if isinstance(exc, TimeoutError) or (isinstance(exc, MCPError) and exc.code == REQUEST_TIMEOUT):
            return self._said(f"did not answer {tool} within {limit:g} s; the call was cancelled", last=False)
        if isinstance(exc, MCPError) and exc.code == CONNECTION_CLOSED:
            self.stop()
            return self._said(f"closed the connection during {tool} (it crashed or exited); "
                              "it starts again on the next call")  # fmt: skip
        if isinstance(exc, MCPError):
            return f"the MCP server {self.name!r} refused {tool}: {_one_line(exc.message)}"
        if isinstance(exc, pydantic.ValidationError):  # a result of the wrong shape
            self.stop()
            first = exc.errors()[0]
            where = ".".join(map(str, first["loc"])) or "result"
            return self._said(f"answered {tool} with something that is not a tool result "
                              f"({where}: {_one_line(first['msg'], 120)})", last=False)  # fmt: skip
        return self._said(f"failed during {tool}: {type(exc).__name__}: {_one_line(str(exc))}")

    def _said(self, what: str, *, last: bool = True) -> str:
        """A line about this server, with the last line of its log (when that may say why) and
        where the log is."""
        self._note(what)
        last_words = _last_words(self.log_path) if last else ""
        return (f"the MCP server {self.name!r} {what}" + (f" (its log ends: {last_words})" if last_words else "")
                + f"; its log: ollama_nb.mcp.log({self.name!r})")  # fmt: skip

    def _note(self, text: str) -> None:
        """A line of ours in the server's log, beside what it wrote to stderr."""
        with contextlib.suppress(OSError), self.log_path.open("a", encoding="utf-8") as log:
            log.write(f"[ollama_nb] {text}\n")

    # --- on the SDK's thread ----------------------------------------------------------------

    async def _own(self, ready: concurrent.futures.Future[list[Tool]], stop: asyncio.Event) -> None:
        """The server's one long-lived task: start, initialize, list, serve calls until stopped."""
        import anyio
        from mcp import ClientSession

        self._note(f"starting: {self.url or shlex.join(self.command)}")  # as it runs
        try:
            with self.log_path.open("a", buffering=1, encoding="utf-8") as errlog:
                async with contextlib.AsyncExitStack() as stack:
                    read, write = await stack.enter_async_context(self._transport(errlog))
                    relay_in, relay_out = anyio.create_memory_object_stream[Any](0)
                    ended = anyio.Event()
                    group = await stack.enter_async_context(anyio.create_task_group())
                    stack.callback(group.cancel_scope.cancel)
                    group.start_soon(self._relay, read, relay_in, ended)
                    session = await stack.enter_async_context(
                        ClientSession(relay_out, write, read_timeout_seconds=self._start_limit)
                    )
                    try:
                        await session.initialize()
                        listed = await _list_tools(session)
                    except BaseException as exc:
                        # a cancellation here comes from the transport failing (a refused
                        # connection): its own error arrives below, out of the transport's group
                        if not isinstance(exc, asyncio.CancelledError):
                            _settle(ready, error=McpError(self._start_failure(_root(exc))))
                        raise
                    self._session = session
                    self._note(f"running: {len(listed)} tools")
                    _settle(ready, listed)
                    await _first(stop.wait(), ended.wait())
                    if ended.is_set() and not stop.is_set():
                        self._broken = self._broken or "exited"
                        self.state, self.error = "stopped", "the server exited"
                        self._note("the server closed its output (it exited)")
        except BaseException as exc:  # the task ends here, whatever happened; the log says what
            exc = _root(exc)
            if not ready.done():
                _settle(ready, error=McpError(self._start_failure(exc)))
            self._note(f"ended: {type(exc).__name__}: {_one_line(str(exc))}")
        finally:
            self._session = None

    def _transport(self, errlog: Any) -> Any:
        if self.url is not None:
            from mcp.client.streamable_http import streamable_http_client

            return streamable_http_client(self.url)
        from mcp import StdioServerParameters, stdio_client

        command, *args = self.command
        params = StdioServerParameters(command=command, args=args, env=self.env, cwd=self.cwd)
        return stdio_client(params, errlog=errlog)

    async def _relay(self, source: Any, sink: Any, ended: Any) -> None:
        """Pass the server's messages to the session; a line that is not JSON-RPC fails the calls
        in flight at once (instead of at the timeout) and marks the connection broken."""
        import anyio

        try:
            async with sink:
                async for item in source:
                    if isinstance(item, Exception):
                        self._garbage(item)
                        continue
                    await sink.send(item)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):  # closed by our own shutdown
            pass
        finally:
            ended.set()

    def _garbage(self, exc: Exception) -> None:
        errors = exc.errors() if isinstance(exc, pydantic.ValidationError) else []
        line = errors[0].get("input") if errors else None  # the line the server sent
        said = f"sent a line that is not JSON-RPC: {_one_line(repr(line) if isinstance(line, str) else str(exc), 120)}"
        if not self._calls:  # a banner or a stray print while starting or idle: noted, tolerated
            self._stray = said
            self._note(f"{said} (ignored: no call was waiting)")
            return
        # while a call waits, the line was most likely its answer: fail it now, not at the timeout
        self._broken = said
        self._note(said)
        for task in list(self._calls):
            task.cancel()
        if self._stop is not None:
            self._stop.set()  # a connection out of step is restarted on the next call

    async def _call(self, tool: str, arguments: dict[str, Any], limit: float) -> CallToolResult:
        session = self._session
        if session is None:
            raise ToolFailed(self._said(f"is not running ({self.error or self.state})"))
        task = asyncio.current_task()
        assert task is not None
        self._calls.add(task)
        try:
            return await session.call_tool(tool, arguments, read_timeout_seconds=limit)
        except asyncio.CancelledError:
            if self._broken is not None:
                raise ToolFailed(
                    self._said(f"{self._broken} during {tool}; it starts again on the next call", last=False)
                ) from None
            raise
        finally:
            self._calls.discard(task)

    def _start_failure(self, exc: BaseException) -> str:
        from mcp import MCPError
        from mcp.types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        if isinstance(exc, MCPError) and exc.code == REQUEST_TIMEOUT:
            stray = f" (it {self._stray})" if self._stray else ""
            return self._said(f"did not answer initialize within {self._start_limit:g} s{stray}")
        if isinstance(exc, MCPError) and exc.code == CONNECTION_CLOSED:
            return self._said("exited before it answered initialize")
        if isinstance(exc, FileNotFoundError):
            return f"the MCP server {self.name!r} cannot start: no program {self.command[0]!r} ({self.where})"
        if self._broken:
            return self._said(f"{self._broken} while starting")
        return self._said(f"could not start: {type(exc).__name__}: {_one_line(str(exc))}")


async def _list_tools(session: ClientSession) -> list[Tool]:
    """Every tool, over as many pages as the server sends."""
    from mcp.types import PaginatedRequestParams

    tools, cursor = [], None
    while True:
        page = await session.list_tools(params=PaginatedRequestParams(cursor=cursor) if cursor else None)
        tools += page.tools
        cursor = page.next_cursor
        if not cursor:
            return tools


async def _first(*awaitables: Coroutine[Any, Any, Any]) -> None:
    """Wait until any one of ``awaitables`` is done; cancel the others."""
    import anyio

    async with anyio.create_task_group() as group:

        async def run(awaitable: Coroutine[Any, Any, Any]) -> None:
            await awaitable
            group.cancel_scope.cancel()

        for awaitable in awaitables:
            group.start_soon(run, awaitable)


def _root(exc: BaseException) -> BaseException:
    """The first real failure inside anyio's exception groups (not the cancellations it caused)."""
    leaves, todo = [], [exc]
    while todo:
        item = todo.pop(0)
        inner = getattr(item, "exceptions", None)
        if isinstance(inner, tuple) and inner:
            todo[:0] = inner
        else:
            leaves.append(item)
    return next((e for e in leaves if not isinstance(e, asyncio.CancelledError)), leaves[0])


def _last_words(path: Path) -> str:
    """The last line the server wrote to its log (ours left out), shortened."""
    try:
        with path.open("rb") as file:
            file.seek(0, 2)
            file.seek(max(0, file.tell() - 4096))
            lines = file.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    theirs = [line for line in lines if line.strip() and not line.startswith("[ollama_nb]")]
    return _one_line(theirs[-1], 160) if theirs else ""


# --- results -------------------------------------------------------------------------------


def result_text(result: CallToolResult) -> str:
    """A tool result as the text the model gets: text as is, images and audio as a placeholder
    with their size, resource links as Markdown links, embedded resources by their text; the
    structured result as JSON when there is no content. ``isError`` raises :class:`ToolFailed`."""
    parts = [_block_text(block) for block in result.content]
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    text = "\n".join(parts)
    if result.is_error:
        raise ToolFailed(text or "the tool reported an error without saying what")
    return text


def _block_text(block: Any) -> str:
    kind = getattr(block, "type", "")
    if kind == "text":
        return str(block.text)
    if kind in ("image", "audio"):
        return f"[{kind}: {block.mime_type}, {_size(block.data):,} bytes]"
    if kind == "resource_link":
        return f"[{block.title or block.name}]({block.uri})"
    if kind == "resource":
        resource = block.resource
        if hasattr(resource, "text"):
            return str(resource.text)
        return f"[resource {resource.uri}: {resource.mime_type or 'binary'}, {_size(resource.blob):,} bytes]"
    return f"[{kind or type(block).__name__} content]"


def _size(data: str) -> int:
    """Bytes in base64 ``data``, counted without decoding it."""
    data = data.strip()
    return max(0, len(data) * 3 // 4 - (len(data[-2:]) - len(data[-2:].rstrip("="))))


# --- the tools a model sees ------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class McpTool:
    """One tool of an MCP server, as a :class:`~ollama_nb.tools.Toolbox` offers and runs it."""

    server: str
    name: str
    description: str
    input_schema: dict[str, Any]
    schema: dict[str, Any]  # what the model sees: the input schema tidied as a notebook tool's
    notes: tuple[str, ...] = field(default=())

    @classmethod
    def of(cls, server: str, tool: Tool) -> McpTool:
        description = tool.description or ""
        try:
            parameters = tidy(tool.input_schema)
        except Exception:  # a schema too odd to tidy (a server's own invention) goes as it came
            parameters = tool.input_schema
        schema = {"type": "function", "function": {"name": tool.name, "description": description,
                                                    "parameters": parameters}}  # fmt: skip
        return cls(server, tool.name, description, tool.input_schema, schema)

    @functools.cached_property
    def _validator(self) -> Any:
        """The server's input schema, compiled once (checking a schema costs milliseconds)."""
        import jsonschema

        try:
            validator_class = jsonschema.validators.validator_for(self.input_schema)
            validator_class.check_schema(self.input_schema)
            return validator_class(self.input_schema)
        except Exception:  # a schema jsonschema cannot read: the server judges the arguments
            return None

    @property
    def qualified(self) -> str:
        return f"{PREFIX}{self.server}/{self.name}"

    def validate(self, arguments: Any) -> dict[str, Any]:
        """The model's arguments checked against the server's own schema; raises
        :class:`ArgumentError` naming every problem. JSON text (small models send it) is read."""
        arguments = argument_object(arguments)
        problems = _problems(self._validator, arguments)
        if problems:
            decoded = decoded_values(arguments)
            if decoded != arguments and not _problems(self._validator, decoded):
                return decoded
            raise ArgumentError("; ".join(problems))
        return dict(arguments)

    def call(self, values: dict[str, Any], timeout: float | None = None) -> str:
        server = _servers.get(self.server)
        if server is None:
            raise ToolFailed(f"the MCP server {self.server!r} was removed")
        return server.call(self.name, values, timeout)


def _problems(validator: Any, arguments: dict[str, Any]) -> list[str]:
    """What is wrong with ``arguments`` (nothing when the schema could not be read: then the
    server judges)."""
    if validator is None:
        return []
    try:
        errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.path))
    except Exception:  # a schema jsonschema reads but cannot apply (an unresolvable $ref)
        return []
    return [_problem(e) for e in errors]


def _problem(error: Any) -> str:
    """A jsonschema error in the words notebook tools use."""
    missing = re.fullmatch(r"'(.+)' is a required property", error.message)
    where = ".".join(map(str, error.path))
    if missing:
        return f"missing required argument {'.'.join(filter(None, (where, missing[1])))!r}"
    if error.validator == "additionalProperties" and not where:
        return f"unexpected argument(s): {error.message}"
    return f"{where or 'arguments'!r}: {error.message}"


# --- the registry ----------------------------------------------------------------------------

_servers: dict[str, Server] = {}
_registry_lock = threading.Lock()
_log_dir: Path | None = None


def _logs() -> Path:
    """The directory of the servers' logs (one per process), and the SDK's own log lines."""
    global _log_dir
    if _log_dir is None:
        _log_dir = Path(tempfile.mkdtemp(prefix="ollama_nb-mcp-"))
        sdk = logging.getLogger("mcp")  # never to the cell's stderr, where logging's last resort writes
        handler = logging.FileHandler(_log_dir / "sdk.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        sdk.addHandler(handler)
        sdk.propagate = False
    return _log_dir


def add(name: str, command: str | Sequence[str] | None = None, *, url: str | None = None,
        timeout: float | None = None, env: dict[str, str] | None = None, cwd: str | None = None) -> Server:  # fmt: skip
    """Register an MCP server under ``name``; it starts on first use.

    ``command`` (a string split as a shell would, or a list) runs a stdio server as written, and
    ``python`` means this interpreter; ``url`` names a streamable HTTP server instead.
    ``timeout`` (seconds to start or to answer a call) replaces the ``mcp_timeout`` setting
    for this server. Adding a name again with
    the same settings keeps the running server; with others, the old one is stopped.
    """
    _sdk()
    if not _NAME.fullmatch(name or ""):
        raise McpError(f"An MCP server's name is letters, digits, '_', '-' or '.': got {name!r}.")
    if (command is None) == (url is None):
        raise McpError(
            f"Give the MCP server {name!r} a command (stdio) or a url (streamable HTTP), one of them."
        )
    words: list[str] = []
    if command is not None:
        words = shlex.split(command) if isinstance(command, str) else [str(w) for w in command]
        if not words:
            raise McpError(f"The command of the MCP server {name!r} is empty.")
        if words[0] == "python":
            words[0] = sys.executable
    if url is not None and not re.match(r"https?://", url):
        raise McpError(
            f"The url of the MCP server {name!r} must start with http:// or https://: got {url!r}."
        )
    server = Server(name, words, url, timeout=timeout, env=env, cwd=cwd, log_path=_logs() / f"{name}.log")
    server.written = command if isinstance(command, str) else shlex.join(str(w) for w in command or ())
    with _registry_lock:
        old = _servers.get(name)
        if old is not None and old.same_as(server):
            return old
        _servers[name] = server
    if old is not None:
        old.stop()
    server.log_path.unlink(missing_ok=True)  # a new definition starts a new log
    return server


def remove(name: str) -> None:
    """Stop the server called ``name`` and forget it."""
    server = get(name)
    with _registry_lock:
        _servers.pop(name, None)
    server.stop()
    server.log_path.unlink(missing_ok=True)


def get(name: str) -> Server:
    """The server called ``name``, or one line naming the registered ones."""
    server = _servers.get(name)
    if server is None:
        known = ", ".join(sorted(_servers)) or "none yet"
        raise McpError(f"No MCP server named {name!r} (registered: {known}). "
                       f"Add one with ollama_nb.mcp.add({name!r}, 'COMMAND') or %ollama mcp add {name} -- COMMAND.")  # fmt: skip
    return server


def servers() -> list[Server]:
    """The registered servers, in the order they were added."""
    return list(_servers.values())


def listing() -> str:
    """The servers, their state and their tools with one-line descriptions, as text (what
    ``%ollama mcp list`` shows). Servers that have not started yet are not started for it."""
    if not _servers:
        return "No MCP servers yet: add one with %ollama mcp add NAME -- COMMAND (or --url URL)."
    lines = []
    for server in _servers.values():
        state = server.state + (f": {server.error}" if server.error and server.state != "running" else "")
        lines.append(f"{server.name} · {state} · {server.where}")
        for tool in server.tools if server.state == "running" else ():
            first = tool.description.strip().splitlines()[0] if tool.description.strip() else ""
            lines.append(f"  {tool.name}" + (f": {_one_line(first, 100)}" if first else ""))
    return "\n".join(lines)


def tools(name: str, timeout: float | None = None) -> tuple[McpTool, ...]:
    """The tools of the server called ``name`` (started if it is not running)."""
    return get(name).start(timeout)


def log(name: str) -> str:
    """What the server wrote to stderr (its last 20,000 characters), with our notes."""
    path = get(name).log_path
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return text if len(text) <= LOG_TAIL_CHARS else "…" + text[-LOG_TAIL_CHARS:]


def is_entry(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def resolve(entry: str, timeout: float | None = None) -> list[McpTool]:
    """``mcp:NAME`` → every tool of that server; ``mcp:NAME/TOOL`` → that one."""
    spec = entry[len(PREFIX) :] if entry.startswith(PREFIX) else entry
    name, _, wanted = spec.partition("/")
    found = tools(name, timeout)
    if not wanted:
        return list(found)
    chosen = [tool for tool in found if tool.name == wanted]
    if not chosen:
        names = ", ".join(tool.name for tool in found) or "none"
        raise McpError(f"The MCP server {name!r} has no tool {wanted!r} (its tools: {names}).")
    return chosen


def _shutdown() -> None:
    """At exit: stop every server (their processes end), then the SDK's loop."""
    for server in list(_servers.values()):
        with contextlib.suppress(Exception):
            server.stop()
    _runner.call_soon(lambda: asyncio.get_running_loop().stop())

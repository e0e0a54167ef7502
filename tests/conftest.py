"""Shared fixtures: a stand-in Ollama server, an IPython shell, and a real kernel runner."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from IPython import get_ipython
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing.globalipapp import start_ipython
from nbclient import NotebookClient

from ollama_nb import api
from ollama_nb.standin import StandInServer, Turn

from .real import real_host, unavailable

__all__ = ["real_host"]  # the session's real Ollama, for the tests marked `real`


def quick(request: dict[str, Any], thinks: bool) -> Turn:
    """Answer anything at once when a test has not scripted the turn."""
    return Turn(content="OK.", thinking="Hmm." if thinks else "")


@pytest.fixture(autouse=True)
def _interrupts_reach_python() -> None:
    """Each test starts with Python's own SIGINT handler, which IPython's shell and the kernel
    expect: ``_thread.interrupt_main()`` does nothing at all while SIGINT is ignored or left to
    the system (as a library or a subprocess helper may leave it)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def server() -> Iterator[StandInServer]:
    with StandInServer(responder=quick) as stand_in:
        yield stand_in


@pytest.fixture
def ip(server: StandInServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """IPython's own shell with the extension loaded, pointed at the stand-in via OLLAMA_HOST."""
    shell = start_ipython() or get_ipython()  # started once per test session
    shell.run_line_magic("load_ext", "ollama_nb")
    monkeypatch.setenv("OLLAMA_HOST", server.url)
    for name in ("_ollama", "answer"):
        shell.user_ns.pop(name, None)
    api.defaults.model = None
    yield shell
    api.defaults.model = None


def run_cell(shell: InteractiveShell, source: str) -> Any:
    """Run a cell as a user would; return IPython's ExecutionResult."""
    return shell.run_cell(source, store_history=True)


def chat_requests(server: StandInServer) -> list[dict[str, Any]]:
    return server.state.chats()


def interrupt_after(seconds: float, marker: str) -> Any:
    """nbclient's ``timeout_func``: interrupt the cell containing ``marker`` after ``seconds``,
    give the others a minute (starting a kernel on a busy machine takes a few seconds)."""
    return lambda cell: seconds if marker in cell.source else 60


def execute_notebook(cells: list[str], server: StandInServer, *, allow_errors: bool = False,
                     timeout: int = 60, **kwargs: Any) -> nbformat.NotebookNode:  # fmt: skip
    """Run code cells in a real kernel (nbclient), with OLLAMA_HOST pointing at the stand-in."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors, **kwargs)
    saved = os.environ.get("OLLAMA_HOST")
    os.environ["OLLAMA_HOST"] = server.url  # the kernel inherits it at start
    try:
        client.execute()
    finally:
        if saved is None:
            os.environ.pop("OLLAMA_HOST", None)
        else:
            os.environ["OLLAMA_HOST"] = saved
    return nb


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the real-server tests out, with one line, where no real Ollama can be had."""
    real = [item for item in items if item.get_closest_marker("real")]
    reason = unavailable() if real else None
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        raise pytest.UsageError(f"CI=true runs the real-server tests, but {reason}")
    config.hook.pytest_deselected(items=real)
    items[:] = [item for item in items if not item.get_closest_marker("real")]
    config.stash[_SKIPPED] = f"{len(real)} real-server tests skipped: {reason}"


_SKIPPED = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if line := config.stash.get(_SKIPPED, None):
        terminalreporter.write_line(line, yellow=True)


def lab_address(log: Path, process: subprocess.Popen[bytes], wait: float = 120) -> tuple[str, str]:
    """Wait until ``python -m ollama_nb.lab`` (writing to ``log``) printed its banner; its URL
    and token."""
    deadline = time.monotonic() + wait
    while "Stop with Ctrl-C." not in log.read_text() and process.poll() is None:
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.3)
    found = re.search(r"open (http://\S+)/lab\?token=(\S+)", log.read_text())
    assert found, log.read_text()[-2000:]
    return found.group(1), found.group(2)

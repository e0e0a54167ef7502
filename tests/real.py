"""The real Ollama for the tests: which server, its models, and a real kernel to ask it through.

One mechanism points the tests at a running Ollama: ``OLLAMA_NB_REAL_OLLAMA=http://...`` (the
models below are created there from the GGUF when missing). Otherwise the server that
``make real-ollama`` built (``scripts/real_ollama.py``) is started on a free 127.0.0.1 port for
the session and stopped at the end, whatever happens. Where neither can be had (no Go), the
real-server tests are left out with one line saying why; with ``CI=true`` that is an error.
"""

from __future__ import annotations

import os
import queue
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ollama
import pytest
from jupyter_client.manager import KernelManager

from ollama_nb.render import MIME
from scripts import real_ollama
from scripts.real_ollama import PLAIN, THINK, TOOLCALL, TOOLS, RealOllama

__all__ = ["PLAIN", "THINK", "TOOLCALL", "TOOLS", "Kernel", "RealOllama", "Run"]

GIVEN = os.environ.get("OLLAMA_NB_REAL_OLLAMA")  # a running Ollama to test against instead
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def unavailable() -> str | None:
    """Why the real-server tests cannot run here, or None when they can."""
    if GIVEN or real_ollama.ready():
        return None
    if shutil.which("go") is None:
        return "no Go toolchain to build Ollama with (install Go, or set OLLAMA_NB_REAL_OLLAMA=http://...)"
    return "the real Ollama is not built yet: run `make real-ollama` (or `make test`)"


def ensure_models(url: str) -> None:
    """Create our models on a server we were pointed at, when it lacks them (from the GGUF)."""
    client = ollama.Client(host=url)
    have = {m.model for m in client.list().models}
    missing = [name for name in real_ollama.TEMPLATES if f"{name}:latest" not in have]
    if not missing:
        return
    real_ollama.fetch_model()
    digest = client.create_blob(real_ollama.GGUF)
    for name in missing:
        client.create(
            model=name,
            files={real_ollama.GGUF.name: digest},
            template=real_ollama.TEMPLATES[name],
            parameters=real_ollama.PARAMETERS,
        )


@pytest.fixture(scope="session")
def real_host() -> Iterator[str]:
    """The URL of the real Ollama for this session (ours, started here, or the one given)."""
    if GIVEN:
        ensure_models(GIVEN)
        yield GIVEN.rstrip("/")
        return
    ARTIFACTS.mkdir(exist_ok=True)
    with RealOllama(log=ARTIFACTS / "real-ollama.log") as server:
        ensure_models(server.url)  # a model added since the last build (made from the GGUF, once)
        yield server.url


def own_server() -> RealOllama:
    """A second server of our own (to kill mid-answer), never the one the other tests use."""
    if not real_ollama.ready():
        pytest.skip("killing a server needs one of our own: `make real-ollama` builds it")
    return RealOllama(log=ARTIFACTS / "real-ollama-killed.log")


# -- a real kernel, read as a front end reads it ---------------------------------------------------
@dataclass
class Run:
    """The iopub messages of one execution, and what a user sees from them."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)  # what input() asked, when the test answers

    def of(self, *kinds: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["msg_type"] in kinds]

    def redraws(self) -> list[dict[str, Any]]:
        """The messages that redraw the answer while it comes in: widget updates of its text
        (not of the status line, which has a ·) and finished blocks shown under it."""
        return [m for m in self.messages
                if (m["msg_type"] == "comm_msg" and "·" not in (m["content"]["data"].get("state", {}).get("value") or "·"))
                or (m["msg_type"] == "display_data" and "text/html" in m["content"]["data"]
                    and MIME not in m["content"]["data"])]  # fmt: skip

    @property
    def live_updates(self) -> int:
        return len(self.redraws())

    @property
    def redraw_spread(self) -> float:
        """Seconds between the first and the last redraw of the answer (by the kernel's clock)."""
        times = [m["header"]["date"] for m in self.redraws()]
        return (max(times) - min(times)).total_seconds() if times else 0.0

    @property
    def final(self) -> dict[str, Any]:
        """The static output left in the notebook (the live view is replaced by it)."""
        shown = [m["content"]["data"] for m in self.of("display_data", "update_display_data")]
        kept = [d for d in shown if MIME in d]
        return kept[-1] if kept else {}

    @property
    def reply(self) -> dict[str, Any]:
        return self.final.get(MIME, {})

    @property
    def errors(self) -> list[tuple[str, list[str]]]:
        return [(m["content"]["ename"], m["content"]["traceback"]) for m in self.of("error")]

    def text(self, name: str = "stdout") -> str:
        return "".join(m["content"]["text"] for m in self.of("stream") if m["content"]["name"] == name)


class Kernel:
    """A real IPython kernel (as Jupyter starts one), with ``OLLAMA_HOST`` set to ``host``."""

    def __init__(self, host: str) -> None:
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env={**os.environ, "OLLAMA_HOST": host})
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self.run("%load_ext ollama_nb")

    def run(self, code: str, timeout: float = 90, watch: Callable[[Run], None] | None = None,
            answers: list[str] | None = None) -> Run:  # fmt: skip
        """Execute ``code`` as a cell; ``watch`` sees the run after each message (to act mid-cell);
        ``answers`` are typed, in order, into the cell's ``input()`` prompts (kept in ``run.prompts``)."""
        msg_id = self.client.execute(code, allow_stdin=answers is not None)
        run, deadline = Run(), time.monotonic() + timeout
        while True:
            if answers is not None:
                self._answer(run, answers)
            try:
                msg = self.client.get_iopub_msg(
                    timeout=0.1 if answers is not None else max(deadline - time.monotonic(), 0.1)
                )
            except queue.Empty:
                if answers is not None and time.monotonic() < deadline:
                    continue
                raise TimeoutError(f"the cell did not finish in {timeout} s: {code[:80]!r}") from None
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status":
                if msg["content"]["execution_state"] == "idle":
                    return run
                continue
            run.messages.append(msg)
            if watch is not None:
                watch(run)

    def _answer(self, run: Run, answers: list[str]) -> None:
        try:
            request = self.client.get_stdin_msg(timeout=0.01)
        except queue.Empty:
            return
        run.prompts.append(request["content"]["prompt"])
        self.client.input(answers.pop(0) if answers else "")

    def value(self, expression: str) -> Any:
        """A value from the kernel's namespace (through its repr, as literals)."""
        import ast

        run = self.run(f"print(repr({expression}))")
        assert not run.errors, run.errors
        return ast.literal_eval(run.text().strip())

    def interrupt(self) -> None:
        self.manager.interrupt_kernel()

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def one_line(run: Run) -> tuple[str, str]:
    """The cell's single error: its name and its one line (IPython shows no traceback)."""
    (error,) = run.errors
    name, lines = error
    assert len(lines) == 1 and "\n" not in lines[0].strip(), lines
    return name, lines[0]

"""User-facing failures: one short message that says what to do, never a traceback wall."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import ollama

E = TypeVar("E", bound=BaseException)


class OllamaNbError(Exception):
    """A failure the user can act on. IPython shows only its message (``_render_traceback_``)."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {self}"]


class ServerUnreachable(OllamaNbError):
    pass


class ModelNotFound(OllamaNbError):
    pass


class ServerError(OllamaNbError):
    """The server refused the request or failed while answering."""


class StreamBroken(OllamaNbError):
    """The answer stopped half way; what arrived is kept."""


class Interrupted(KeyboardInterrupt):
    """The user interrupted the kernel; the partial answer is kept. Stops a 'Run all' as usual."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[33mInterrupted\x1b[0m: {self}"]


def with_reply(exc: E, reply: Any) -> E:
    """Attach the (partial) reply to a failure, so that nothing already received is lost."""
    exc.reply = reply  # type: ignore[attr-defined]
    return exc


def translate(
    exc: BaseException, *, host: str, model: str, list_models: Callable[[], list[str]]
) -> OllamaNbError | None:
    """Turn a client or transport exception into a message a notebook user can act on."""
    if isinstance(exc, OllamaNbError):  # already one (from a hook such as --confirm's)
        return exc
    if isinstance(exc, (httpx.ConnectError, ConnectionError, httpx.ConnectTimeout)):
        return ServerUnreachable(
            f"Could not reach Ollama at {host}. Start it with `ollama serve`, "
            "or point --host or OLLAMA_HOST at a running server."
        )
    if isinstance(exc, ollama.ResponseError):
        if exc.status_code == 404 and "not found" in exc.error:
            try:
                available = ", ".join(list_models()) or "none"
            except Exception:  # the listing is a courtesy: the 404 is the message
                available = "(could not list them)"
            return ModelNotFound(
                f"Model '{model}' is not on {host}. Get it with `ollama pull {model}`. "
                f"Models there: {available}."
            )
        if exc.status_code == -1:
            return StreamBroken(f"The server stopped with an error mid-answer: {exc.error}")
        return ServerError(f"Ollama said ({exc.status_code}): {exc.error}")
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout)):
        return StreamBroken(f"The connection to {host} dropped mid-answer ({exc}).")
    return None

"""The seam between ollama_nb and a model server: what the loop and the front ends may ask of it.

Chat chunks come through as raw JSON dicts, so that fields a client library's typed models drop
(tool-call ids, logprobs, new done-line fields) reach the trace. Failures come out already
translated into :mod:`ollama_nb.errors`. :mod:`ollama_nb.ollama_backend` is the one implementation.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

import pydantic

from .errors import Interrupted, ServerBusy, StreamBroken


@dataclass(frozen=True)
class ModelInfo:
    """One model the server has; ``capabilities`` is None when the server does not say."""

    name: str
    size: int = 0
    family: str = ""
    parameter_size: str = ""
    quantization: str = ""
    capabilities: frozenset[str] | None = None
    context_length: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def _positive_int(value: Any) -> int | None:
    """A length the server claims: a whole number above 0, else unknown."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _names(value: Any) -> frozenset[str] | None:
    return frozenset(v for v in value if isinstance(v, str)) if isinstance(value, list) else None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


class Loaded(pydantic.BaseModel):
    """One entry of ``/api/ps``, read leniently: a field of the wrong shape is unknown."""

    model_config = pydantic.ConfigDict(extra="ignore")

    name: Annotated[str, pydantic.BeforeValidator(_text)] = ""
    model: Annotated[str, pydantic.BeforeValidator(_text)] = ""
    context_length: Annotated[int | None, pydantic.BeforeValidator(_positive_int)] = None
    size: Annotated[int | None, pydantic.BeforeValidator(_positive_int)] = None
    size_vram: Annotated[int | None, pydantic.BeforeValidator(_positive_int)] = None  # None: all on the CPU
    expires_at: Annotated[str, pydantic.BeforeValidator(_text)] = ""  # RFC 3339, nanoseconds

    @classmethod
    def read(cls, answer: Any) -> list[Loaded]:
        """The loaded models in an ``/api/ps`` answer; entries that are not objects are skipped."""
        models = answer.get("models") if isinstance(answer, dict) else None
        return (
            [cls.model_validate(m) for m in models if isinstance(m, dict)] if isinstance(models, list) else []
        )


class ShowInfo(pydantic.BaseModel):
    """The parts of ``/api/show`` that ollama_nb reads, leniently."""

    model_config = pydantic.ConfigDict(extra="ignore")

    capabilities: Annotated[frozenset[str] | None, pydantic.BeforeValidator(_names)] = None
    model_info: Annotated[dict[str, Any], pydantic.BeforeValidator(_mapping)] = pydantic.Field(
        default_factory=dict
    )
    template: Annotated[str, pydantic.BeforeValidator(_text)] = ""

    @property
    def context_length(self) -> int | None:
        """The model's maximum context (``<arch>.context_length``), when it says."""
        found = [_positive_int(v) for k, v in self.model_info.items() if k.endswith(".context_length")]
        return next((v for v in found if v), None)

    @classmethod
    def read(cls, answer: Any) -> ShowInfo:
        return cls.model_validate(answer if isinstance(answer, dict) else {})


class Backend(Protocol):
    """A model server. Every method raises :class:`~ollama_nb.errors.OllamaNbError` subclasses."""

    @property
    def host(self) -> str:
        """The address it talks to, as a user would write it (for messages)."""
        ...

    def chat(
        self,
        body: dict[str, Any],
        cancel: threading.Event | None = None,
        report: Callable[[str], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """POST the chat body; yield raw chunks (one when ``stream`` is false). Closing the
        iterator closes the connection; setting ``cancel`` ends it with :class:`Interrupted`.
        A busy server is asked again; ``report`` hears each wait, in words."""
        ...

    def models(self, cancel: threading.Event | None = None) -> list[ModelInfo]:
        """The models the server has, with capabilities when it can say."""
        ...

    def render_prompt(self, body: dict[str, Any]) -> dict[str, Any]:
        """The chat body as the model's template renders it, without running the model:
        ``{"rendered_template": text, "image_count": n}``. Raises
        :class:`~ollama_nb.errors.Unsupported` when the server cannot."""
        ...

    def show(self, model: str) -> dict[str, Any]:
        """Everything the server says about one model (template, capabilities, model_info...)."""
        ...

    def capabilities(self, model: str) -> frozenset[str] | None:
        """What the model can do (tools, thinking, vision...); None when the server cannot say."""
        ...

    def running(self) -> list[Loaded]:
        """The loaded models (``/api/ps``), read leniently (:class:`Loaded`)."""
        ...

    def version(self) -> str:
        """The server's version string."""
        ...

    def pull(self, model: str, cancel: threading.Event | None = None) -> Iterator[dict[str, Any]]:
        """``/api/pull``: yield the server's status lines (``status``, and ``digest``, ``total``,
        ``completed`` per layer) until ``success``; an error line is raised, translated."""
        ...

    def has_blob(self, digest: str) -> bool:
        """Whether the server already has the blob ``sha256:...`` (``HEAD /api/blobs``)."""
        ...

    def upload_blob(self, digest: str, chunks: Iterator[bytes]) -> None:
        """Send a blob's bytes (``POST /api/blobs/sha256:...``); the server checks the digest."""
        ...

    def create(self, body: dict[str, Any], cancel: threading.Event | None = None) -> Iterator[dict[str, Any]]:
        """``/api/create`` with ``body`` (model, files, from, template, system, parameters...):
        yield its status lines until ``success``."""
        ...

    def delete(self, model: str) -> None:
        """Remove a model from the server."""
        ...

    def unload(self, model: str) -> None:
        """Free the model's memory now (``keep_alive: 0``)."""
        ...


def pumped(
    produce: Callable[[], Iterator[Any]],
    *,
    close: Callable[[], None],
    cancel: threading.Event | None = None,
    idle_timeout: float | None = None,
    host: str = "",
    first_timeout: float | None = None,
) -> Iterator[Any]:
    """Run a blocking iterator in a worker thread and yield its items here, so that every wait
    (for the first chunk, between chunks) can end: a kernel interrupt, ``cancel`` being set
    (a Stop button in another thread), ``first_timeout`` seconds before the first item (a server
    that keeps the request queued) or ``idle_timeout`` seconds of silence after it. ``close`` is
    called to abandon the blocked worker."""
    items: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()

    def work() -> None:
        try:
            for item in produce():
                items.put(("item", item))
            items.put(("end", None))
        except BaseException as exc:  # handed to the consumer, which decides
            items.put(("error", exc))

    worker = threading.Thread(target=work, name="ollama_nb-stream", daemon=True)
    worker.start()
    finished = started = False
    try:
        last = time.monotonic()
        while True:
            try:
                kind, value = items.get(timeout=0.1)
            except KeyboardInterrupt:
                raise Interrupted(f"stopped waiting for {host or 'the server'}.") from None
            except queue.Empty:
                if cancel is not None and cancel.is_set():
                    raise Interrupted("stopped") from None
                if not started and first_timeout is not None and time.monotonic() - last > first_timeout:
                    raise ServerBusy(
                        f"{host or 'The server'} had not begun to answer after {first_timeout:g} s (other "
                        "requests ahead, or the model loading): gave up waiting (wait longer with "
                        "%ollama config queue_timeout=SECONDS, or none)."
                    ) from None
                if started and idle_timeout is not None and time.monotonic() - last > idle_timeout:
                    raise StreamBroken(
                        f"{host or 'The server'} sent nothing for {idle_timeout:g} s: gave up waiting "
                        "(set a longer read timeout with %ollama config timeout=SECONDS)."
                    ) from None
                continue
            if kind == "item":
                last, started = time.monotonic(), True
                yield value
                if cancel is not None and cancel.is_set():
                    raise Interrupted("stopped")
            elif kind == "end":
                finished = True
                return
            else:
                finished = True
                raise value
    finally:
        if not finished:
            with contextlib.suppress(Exception):  # the worker is abandoned either way
                close()


def pause(seconds: float, *, cancel: threading.Event | None = None, host: str = "") -> None:
    """Wait ``seconds`` (before asking a busy server again) in the way :func:`pumped` waits:
    a kernel interrupt or ``cancel`` ends it at once with :class:`Interrupted`."""
    deadline = time.monotonic() + seconds
    try:
        while (left := deadline - time.monotonic()) > 0:
            if cancel is not None and cancel.wait(min(left, 0.1)):
                raise Interrupted("stopped")
            if cancel is None:
                time.sleep(min(left, 0.1))
    except Interrupted:
        raise
    except KeyboardInterrupt:
        raise Interrupted(f"stopped waiting for {host or 'the server'}.") from None

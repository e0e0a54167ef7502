"""The one place that talks to Ollama, through the official ``ollama`` client.

The client's typed request model drops schema keywords (``anyOf``, ``default``, nested
``properties``) from tool parameters and ids from tool calls, so the chat body is built here and
sent through the client's own request path: its transport, headers, error mapping and response
types stay in charge.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ollama
from ollama import ChatResponse

DEFAULT_HOST = "http://127.0.0.1:11434"

_clients: dict[str, ollama.Client] = {}
_lock = threading.Lock()


def resolve_host(host: str | None = None) -> str:
    """``--host``, else ``OLLAMA_HOST`` read now (not at import), else Ollama's default."""
    return host or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST


def client_for(host: str | None = None) -> ollama.Client:
    """One client per host, reused across cells (keeps its HTTP connections warm)."""
    key = resolve_host(host)
    with _lock:
        if key not in _clients:
            _clients[key] = ollama.Client(host=key)
        return _clients[key]


def host_url(client: ollama.Client) -> str:
    """The URL the client really talks to (``:5000`` becomes ``http://127.0.0.1:5000``)."""
    return str(getattr(client, "_client").base_url).rstrip("/")  # noqa: B009 - no public accessor


def chat(client: ollama.Client, body: dict[str, Any]) -> Iterator[ChatResponse]:
    """POST /api/chat; always an iterator of chunks (one chunk when ``body['stream']`` is false).

    With streaming the request goes out on the first ``next()``; closing the iterator closes
    the HTTP stream.
    """
    if body.get("stream", True):
        return client._request(ChatResponse, "POST", "/api/chat", json=body, stream=True)
    return iter([client._request(ChatResponse, "POST", "/api/chat", json=body, stream=False)])


_capabilities: dict[tuple[str, str], frozenset[str] | None] = {}


def capabilities(client: ollama.Client, model: str) -> frozenset[str] | None:
    """What ``/api/show`` says the model can do (tools, thinking, vision...), asked once per
    host and model; None when the server cannot say (older servers, unknown model, no server)."""
    key = (host_url(client), model)
    if key not in _capabilities:
        try:
            found = client.show(model).capabilities
        except Exception:  # the chat request that follows reports any real problem
            return None
        _capabilities[key] = frozenset(found) if found else None
    return _capabilities[key]


def model_names(client: ollama.Client) -> list[str]:
    return [m.model or "" for m in client.list().models]


def encode_image(image: Any) -> str:
    """Base64 for a path, raw bytes, or anything with a PIL-style ``save``."""
    if isinstance(image, (bytes, bytearray)):
        data = bytes(image)
    elif isinstance(image, (str, Path)):
        data = Path(image).expanduser().read_bytes()
    elif hasattr(image, "save"):
        import io

        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        data = buffer.getvalue()
    else:
        raise TypeError(f"cannot send a {type(image).__name__} as an image")
    return base64.b64encode(data).decode()

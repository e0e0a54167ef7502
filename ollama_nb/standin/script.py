"""What the stand-in server answers: scripted turns, given as data, and the models it knows."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(r"\s*\S+\s*|\s+")


def split_tokens(text: str) -> list[str]:
    """Split text into word-sized pieces, the way a model streams it."""
    return _TOKEN.findall(text)


@dataclass
class Turn:
    """One scripted answer to one ``POST /api/chat``.

    ``content`` and ``thinking`` are strings (split into word-sized chunks) or explicit chunk
    lists. ``tool_calls`` are ``{"name": ..., "arguments": {...}}`` dicts.
    """

    content: str | list[str] = ""
    thinking: str | list[str] = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    tool_calls_on_final: bool = False  # gpt-oss and newer servers put calls on the done chunk
    index_zero: bool = False  # qwen3-coder sends index 0 for every call
    think_tags: bool = False  # servers before 0.9 put <think>...</think> inside content
    delay: float = 0.0  # seconds before each chunk
    status: int = 200  # an HTTP error instead of an answer, with ``error`` as its message
    error: str = ""
    error_after: int | None = None  # chunks sent before an in-band {"error"} line
    retry_after: str = ""  # a Retry-After header with the error status (seconds, or an HTTP date)
    proxy_page: bool = False  # the error status comes as a proxy's HTML page (nginx's 502), not JSON
    queued: float = 0.0  # seconds before the first byte: waiting for a free slot, as Ollama queues
    disconnect_after: int | None = None  # chunks sent before the connection is cut
    done_reason: str = "stop"

    def content_chunks(self) -> list[str]:
        return _chunks(self.content)

    def thinking_chunks(self) -> list[str]:
        return _chunks(self.thinking)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Turn:
        return cls(**data)

    @classmethod
    def busy(cls, retry_after: str = "") -> Turn:
        """Ollama's answer when its queue is full (sched.go; two spaces in its words)."""
        return cls(status=503, error=BUSY, retry_after=retry_after)

    @classmethod
    def rate_limited(cls, retry_after: str = "2") -> Turn:
        """A 429, as Ollama's cloud answers when a user asks too often."""
        return cls(status=429, error="too many requests", retry_after=retry_after)

    @classmethod
    def bad_gateway(cls) -> Turn:
        """nginx's own page when no server behind it answered."""
        return cls(status=502, proxy_page=True)


BUSY = "server busy, please try again.  maximum pending requests exceeded"
PROXY_PAGE = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway"
    "</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"
)


def _chunks(value: str | list[str]) -> list[str]:
    return list(value) if isinstance(value, list) else split_tokens(value)


@dataclass(frozen=True)
class Model:
    """A model the stand-in pretends to have, with its ``/api/show`` capabilities."""

    name: str
    family: str
    parameter_size: str
    capabilities: tuple[str, ...]
    size: int = 2_019_393_189
    quantization_level: str = "Q4_K_M"
    context_length: int = 131_072


DEFAULT_MODELS: tuple[Model, ...] = (
    Model("llama3.2:latest", "llama", "3.2B", ("completion", "tools")),
    Model("qwen3:latest", "qwen3", "8.2B", ("completion", "tools", "thinking"), size=5_225_376_047),
    Model("gemma:2b", "gemma", "3B", ("completion",), size=1_678_456_656),
    Model("llava:latest", "llama", "7B", ("completion", "vision"), size=4_733_363_377),
)

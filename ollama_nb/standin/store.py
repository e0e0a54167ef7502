"""The stand-in's model store: a registry to pull from, blobs, and models made with create.

No bytes are kept: a pulled layer is a count of bytes "downloaded", a blob an uploaded file's
digest and size. What a pull had when its client hung up stays, so the next pull of the same
model starts from there, as Ollama's partial downloads do.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from .script import Model

REGISTRY_HOST = "registry.ollama.ai"
NOT_IN_REGISTRY = "pull model manifest: file does not exist"


def full_name(name: str) -> str:
    """``llama3.2`` → ``llama3.2:latest`` (a name with a tag, or a digest, is kept)."""
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last or "@" in last else name + ":latest"


def layer_digest(model: str, kind: str) -> str:
    return "sha256:" + hashlib.sha256(f"{full_name(model)}/{kind}".encode()).hexdigest()


@dataclass(frozen=True)
class Listing:
    """A model the registry offers: its details and its layers (kind, bytes)."""

    model: Model
    layers: tuple[tuple[str, int], ...]

    def blobs(self) -> list[tuple[str, int]]:
        return [(layer_digest(self.model.name, kind), size) for kind, size in self.layers]


def listing(model: Model) -> Listing:
    """The registry's layers of a model: the weights, then the small template, license, params."""
    small = (("template", 1_429), ("license", 7_711), ("params", 96))
    weights = max(model.size - sum(size for _, size in small), 1)
    return Listing(model, (("model", weights), *small))


REGISTRY_MODELS: tuple[Model, ...] = (
    Model("smollm2:135m", "llama", "134.52M", ("completion", "tools"), size=270_898_672,
          quantization_level="F16", context_length=8_192),
    Model("tinyllama:latest", "llama", "1B", ("completion",), size=637_700_138,
          quantization_level="Q4_0", context_length=2_048),
)  # fmt: skip


def unreachable(name: str) -> str | None:
    """Pull's error for a name on another registry than Ollama's: the stand-in reaches none."""
    host, _, rest = name.partition("/")
    if not rest or not re.search(r"[.:]", host) or host == REGISTRY_HOST:
        return None
    path, _, tag = full_name(rest).rpartition(":")
    path = path if "/" in path else f"library/{path}"
    return (f'pull model manifest: Get "https://{host}/v2/{path}/manifests/{tag}": '
            f"dial tcp {host}: connect: connection refused")  # fmt: skip


@dataclass
class Made:
    """A model made with ``/api/create``: what ``/api/show`` tells of it."""

    template: str = "{{ .Prompt }}"
    system: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)


def capabilities_of(template: str, base: tuple[str, ...] = ("completion",)) -> tuple[str, ...]:
    """What a template lets the model do, as Ollama infers it (``.Tools``, ``.Thinking``)."""
    found = [c for c in base if c not in ("tools", "thinking")]
    if ".Tools" in template:
        found.append("tools")
    if ".Thinking" in template:
        found.append("thinking")
    return tuple(found)


def parameters_text(parameters: dict[str, Any]) -> str:
    """``/api/show``'s ``parameters``: one ``key value`` line each, Go's padding, lists repeated."""
    lines = []
    for key, value in parameters.items():
        for item in value if isinstance(value, list) else [value]:
            shown = f'"{item}"' if isinstance(item, str) else str(item)
            lines.append(f"{key:<30} {shown}")
    return "\n".join(lines)

"""What the stand-in tells about the inside of a request, as Ollama does: the prompt's size in
tokens and its cutting at ``num_ctx``, the loaded models' context length, the rendered prompt
(``_debug_render_only``) and token probabilities (``logprobs``).

Tokens are counted as word-sized pieces (:func:`~ollama_nb.standin.script.split_tokens`) plus a
few per message for the template's markers: not a real tokenizer, but it grows and gets cut the
way a real prompt does. The cutting follows Ollama's ``chatPrompt``: drop the oldest messages
(keeping system messages and the last message) until the prompt fits, then cut what is still too
long to the context length; with ``truncate: false`` refuse instead.
"""

from __future__ import annotations

import json
import math
import zlib
from typing import Any

from .script import split_tokens

DEFAULT_NUM_CTX = 4096  # what Ollama loads a model with when the request does not say
PER_MESSAGE = 4  # <|im_start|>role\n ... <|im_end|>\n
TOO_LONG = "the input length exceeds the context length"  # Ollama's runner, status 400


def num_ctx(body: dict[str, Any]) -> int:
    value = (body.get("options") or {}).get("num_ctx")
    return int(value) if isinstance(value, (int, float)) and value > 0 else DEFAULT_NUM_CTX


def _count(messages: list[dict[str, Any]], tools: list[Any] | None) -> int:
    tokens = sum(PER_MESSAGE + len(split_tokens(str(m.get("content") or ""))) for m in messages)
    if tools:
        tokens += len(split_tokens(json.dumps(tools)))
    return tokens


def prompt_tokens(body: dict[str, Any], version: str) -> int | None:
    """The prompt's size as the server evaluates it; None when it does not fit and
    ``truncate: false`` says not to cut it (the server refuses)."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    tools, limit = body.get("tools"), num_ctx(body)
    size = _count(messages, tools)
    if size <= limit:
        return size
    if body.get("truncate") is False and since(version, STRICT):
        return None
    for start in range(1, len(messages)):  # drop the oldest messages, keeping the system ones
        kept = [m for m in messages[:start] if m.get("role") == "system"] + messages[start:]
        size = _count(kept, tools)
        if size <= limit:
            return size
    return limit  # the last message alone is too long: the runner keeps its start and its end


def running(loaded: dict[str, int]) -> list[dict[str, Any]]:
    """``/api/ps`` entries for the models a chat has loaded, with their context length."""
    return [{"name": name, "model": name, "size": 0, "size_vram": 0, "context_length": length,
             "expires_at": "2099-01-01T00:00:00Z"} for name, length in loaded.items()]  # fmt: skip


def rendered(body: dict[str, Any]) -> str:
    """The prompt as a ChatML template renders it (SmolLM2's, with tools declared as Qwen's do)."""
    parts = []
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    system = "\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "system")
    tools = body.get("tools")
    if system or tools:
        text = system
        if tools:
            listed = "\n".join(json.dumps(t) for t in tools)
            text += (f"\n\nYou can call functions. Their signatures are within <tools></tools>:\n<tools>\n"
                     f"{listed}\n</tools>")  # fmt: skip
        parts.append(f"<|im_start|>system\n{text.strip()}<|im_end|>\n")
    for message in messages:
        role = message.get("role")
        if role == "system":
            continue
        content = str(message.get("content") or "")
        if role == "tool":
            role, content = "user", f"<tool_response>\n{content}\n</tool_response>"
        elif message.get("tool_calls") and not content:
            calls = [c.get("function", {}) for c in message["tool_calls"]]
            content = "<tool_call>\n" + "\n".join(json.dumps(c) for c in calls) + "\n</tool_call>"
        parts.append(f"<|im_start|>{role}\n{content}<|im_end|>\n")
    if body.get("think"):
        parts.append("<|im_start|>assistant\n<think>\n")
    else:
        parts.append("<|im_start|>assistant\n")
    return "".join(parts)


RENDERS, STRICT, LOGPROBS = (0, 11, 5), (0, 12, 6), (0, 12, 11)  # the first Ollama that knows each


def since(version: str, first: tuple[int, ...]) -> bool:
    """Whether a server of this version knows a request field; an older one ignores it (it runs
    the model for ``_debug_render_only``, cuts for ``truncate: false``, sends no ``logprobs``)."""
    numbers = [int(part) for part in version.split("-")[0].split(".")[:3] if part.isdigit()]
    return tuple(numbers) >= first


def render_only(model: str, body: dict[str, Any], created_at: str) -> dict[str, Any]:
    """Ollama's answer to ``_debug_render_only``: one object, ``done: false``, no model run."""
    images = sum(len(m.get("images") or []) for m in body.get("messages") or [] if isinstance(m, dict))
    info: dict[str, Any] = {"rendered_template": rendered(body)}
    if images:
        info["image_count"] = images
    return {"model": model, "created_at": created_at, "message": {"role": "", "content": ""},
            "done": False, "_debug_info": info}  # fmt: skip


def logprobs(piece: str, top: int) -> list[dict[str, Any]]:
    """A made-up but steady probability for a streamed piece, with ``top`` alternatives."""
    seed = zlib.crc32(piece.encode())
    chosen = -((seed % 250) / 100)  # between 0 % and -2.5 nats: from certain to unsure
    entry: dict[str, Any] = {"token": piece, "logprob": chosen, "bytes": list(piece.encode())}
    if top:
        others = [piece.upper(), piece.strip() + "s", " the", " a", ".", ",", " and"]
        rest = 1 - math.exp(chosen)
        alternatives = [{"token": piece, "logprob": chosen, "bytes": list(piece.encode())}]
        for rank, token in enumerate(others[: top - 1]):
            share = rest / (2 ** (rank + 1))
            alternatives.append({"token": token, "logprob": math.log(max(share, 1e-9)),
                                 "bytes": list(token.encode())})  # fmt: skip
        entry["top_logprobs"] = alternatives
    return [entry]


def with_logprobs(line: dict[str, Any], body: dict[str, Any], version: str) -> dict[str, Any]:
    """A streamed line as it comes when the request asked for ``logprobs``."""
    message = line.get("message") or {}
    piece = message.get("content") or message.get("thinking") or ""
    if body.get("logprobs") and piece and not line.get("done") and since(version, LOGPROBS):
        top = body.get("top_logprobs")
        line["logprobs"] = logprobs(piece, int(top) if isinstance(top, int) else 0)
    return line

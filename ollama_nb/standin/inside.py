"""What the stand-in tells about the inside of a request, as Ollama does: the prompt's size and
its cutting at ``num_ctx``, the rendered prompt (``_debug_render_only``), and what an older
version does not know.

Tokens are counted as a quarter of the characters of the messages and tools as JSON: not a
tokenizer, but a prompt grows and gets cut the way a real one does. The cutting follows Ollama's
``chatPrompt``: drop the oldest messages (keeping the system ones and the last message) until the
prompt fits, then the runner cuts what is still too long.
"""

from __future__ import annotations

import json
from typing import Any

DEFAULT_NUM_CTX = 4096  # what Ollama loads a model with when the request does not say
RENDERS, STRICT, LOGPROBS = (0, 11, 5), (0, 12, 6), (0, 12, 11)  # the first Ollama that knows each


def since(version: str, first: tuple[int, ...]) -> bool:
    """Whether a server of this version knows a request field; an older one ignores it (it runs
    the model for ``_debug_render_only``, cuts for ``truncate: false``, sends no ``logprobs``)."""
    numbers = [int(part) for part in version.split("-")[0].split(".")[:3] if part.isdigit()]
    return tuple(numbers) >= first


def as_understood(body: dict[str, Any], version: str) -> dict[str, Any]:
    """The request as a server of this version reads it: fields it does not know left out."""
    unknown = set()
    if not since(version, RENDERS):
        unknown.add("_debug_render_only")
    if not since(version, STRICT):
        unknown |= {"truncate", "shift"}
    if not since(version, LOGPROBS):
        unknown |= {"logprobs", "top_logprobs"}
    return {k: v for k, v in body.items() if k not in unknown}


def num_ctx(request: dict[str, Any]) -> int:
    value = (request.get("options") or {}).get("num_ctx")
    return int(value) if isinstance(value, (int, float)) and value > 0 else DEFAULT_NUM_CTX


def prompt_tokens(request: dict[str, Any]) -> int:
    """About a token per four characters of the messages (and tools) sent."""
    sent = json.dumps(request.get("messages") or []) + json.dumps(request.get("tools") or [])
    return max(1, len(sent) // 4)


def kept_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages Ollama keeps within the context: the oldest dropped (the system ones and the
    last message stay) until the prompt fits; with ``truncate: false``, all of them."""
    messages = [m for m in request.get("messages") or [] if isinstance(m, dict)]
    limit = num_ctx(request)
    if prompt_tokens(request) <= limit or request.get("truncate") is False:
        return messages
    for start in range(1, len(messages)):
        kept = [m for m in messages[:start] if m.get("role") == "system"] + messages[start:]
        if prompt_tokens({**request, "messages": kept}) <= limit:
            return kept
    return messages[-1:]


def evaluated(request: dict[str, Any]) -> int:
    """The prompt's size as the server evaluates it: what is kept, and what is still too long
    cut to the context (the runner keeps its start and its end)."""
    return min(prompt_tokens({**request, "messages": kept_messages(request)}), num_ctx(request))


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
    parts.append("<|im_start|>assistant\n<think>\n" if body.get("think") else "<|im_start|>assistant\n")
    return "".join(parts)


def render_only(model: str, body: dict[str, Any], created_at: str) -> dict[str, Any]:
    """Ollama's answer to ``_debug_render_only``: one object, ``done: false``, no answer. As
    Ollama does, it renders what it would keep: the oldest messages dropped to fit ``num_ctx``
    (all of them with ``truncate: false``)."""
    body = {**body, "messages": kept_messages(body)}
    images = sum(len(m.get("images") or []) for m in body.get("messages") or [] if isinstance(m, dict))
    info: dict[str, Any] = {"rendered_template": rendered(body)}
    if images:
        info["image_count"] = images
    return {"model": model, "created_at": created_at, "message": {"role": "", "content": ""},
            "done": False, "_debug_info": info}  # fmt: skip

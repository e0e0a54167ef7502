"""The demo model: plays a small helpful model, without any model, for demos with no Ollama.

It calls a tool when the prompt names what the tool does (arguments taken from the prompt),
answers from the tools' results, answers the tutorials' kinds of prompts from a small table
(:mod:`.answers`), answers in JSON valid against the schema when a ``format`` is asked for, and
thinks (the working that leads to its answer) when the model thinks. Deterministic.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .answers import Answer, Ask, answer
from .fill import Filler
from .inside import kept_messages
from .notebook import notebook_answer
from .script import Turn

# words a tool's name says about when to call it, beyond the name's own words
_SYNONYMS = {"add": {"plus", "sum"}, "multiply": {"times", "product"}, "divide": {"divided"},
             "weather": {"temperature"}}  # fmt: skip
_NOT_HINTS = {"get", "current", "two", "the", "numbers", "a", "of"}


class DemoResponder:
    """Plays the demo model, pacing its chunks ``delay`` seconds apart (0 for tests)."""

    def __init__(self, delay: float = 0.02) -> None:
        self.delay = delay

    def __call__(self, request: dict[str, Any], thinks: bool) -> Turn:
        turn = demo_turn(request, thinks)
        turn.delay = self.delay
        return turn


def demo_turn(request: dict[str, Any], thinks: bool) -> Turn:
    """Answer ``request`` (a decoded ``/api/chat`` body) as a small helpful model would, from the
    conversation as Ollama keeps it within ``num_ctx`` (what it drops, the model never reads)."""
    request = {**request, "messages": kept_messages(request)}
    messages = request.get("messages") or []
    if messages and messages[-1].get("role") == "tool":
        reply = _from_results(_trailing_tool_results(messages))
    else:
        ask = Ask.of(request)
        calls = _tool_calls_for(ask.prompt, request.get("tools") or [])
        if calls:
            named = ", ".join(f"{c['name']}({json.dumps(c['arguments'])})" for c in calls)
            return Turn(thinking=f"A tool can answer this: I will call {named}." if thinks else "",
                        tool_calls=calls)  # fmt: skip
        reply = notebook_answer(ask) or answer(ask)
        if request.get("format"):
            reply = Answer(
                _as_json(request["format"], ask, reply), reply.thinking + " The answer goes in JSON."
            )
    return Turn(content=reply.content, thinking=reply.thinking if thinks else "")


def _trailing_tool_results(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    results = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.append((message.get("tool_name") or "the tool", str(message.get("content", ""))))
    return list(reversed(results))


def _from_results(results: list[tuple[str, str]]) -> Answer:
    lines = []
    for name, value in results:
        if value.startswith("Error"):
            lines.append(
                f"The call to {name} failed ({value.removeprefix('Error: ')}), so I cannot give a result."
            )
        else:
            lines.append(f"{name} returned {value}.")
    return Answer(" ".join(lines), "The tools have answered; I can give the result now.")


def _tool_calls_for(prompt: str, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    words = set(re.findall(r"[a-z]+", prompt.lower()))
    calls = []
    for tool in tools:
        function = tool.get("function", {})
        name = function.get("name", "")
        hints = set(name.lower().split("_")) - _NOT_HINTS
        for hint in list(hints):
            hints |= _SYNONYMS.get(hint, set())
        if hints & words:
            calls.append(
                {"name": name, "arguments": Filler(prompt).arguments(function.get("parameters", {}))}
            )
    return calls


def _as_json(format: Any, ask: Ask, reply: Answer) -> str:  # noqa: A002 - Ollama's name
    """The answer as JSON: ``{"answer": ...}`` for ``"json"``, else a value valid for the schema."""
    text = re.sub(r"\*\*(.*?)\*\*", r"\1", reply.content)
    value = Filler(ask.prompt, text).value(format) if isinstance(format, dict) else {"answer": text}
    return json.dumps(value, ensure_ascii=False)

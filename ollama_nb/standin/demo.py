"""The demo model: plays a small helpful model, without any model, for demos with no Ollama.

It calls a tool when a sentence of the prompt names what the tool does, with arguments taken
from that sentence (see :func:`plan`; nothing is invented: when the sentence does not give a
required argument it says so instead of calling), answers from the tools' results, answers the tutorials' kinds of prompts from a small table
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
             "weather": {"temperature"}, "convert": {"how many", "how much"}}  # fmt: skip
_NOT_HINTS = {"get", "current", "two", "the", "numbers", "a", "of", "lookup", "look", "find", "fetch", "to",
              "from", "by", "for", "and", "with", "in"}  # fmt: skip
_SENTENCE_END = re.compile(r"(?<=[.?!;])\s+|\n+")


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
        unclear = plan(Ask.of(request).prompt, request.get("tools") or [])[1]
        reply = Answer(" ".join([reply.content, *unclear]).strip(), reply.thinking)
    else:
        ask = Ask.of(request)
        calls, unclear = plan(ask.prompt, request.get("tools") or [])
        if calls:
            named = ", ".join(f"{c['name']}({json.dumps(c['arguments'])})" for c in calls)
            return Turn(thinking=f"A tool can answer this: I will call {named}." if thinks else "",
                        tool_calls=calls)  # fmt: skip
        if unclear:
            return Turn(content=" ".join(unclear),
                        thinking="A tool fits, but the prompt does not give its arguments." if thinks else "")  # fmt: skip
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


def plan(prompt: str, tools: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The calls the demo model makes for ``prompt``, and a sentence for each tool it would call
    but cannot (a required argument the prompt does not give).

    A tool is picked when a sentence of the prompt uses a word of its name (``capital`` for
    ``lookup_capital``, ``weather`` for ``get_current_weather``; plurals too) or a synonym
    (``plus``, ``times``, ``divided``, ``how many`` for ``convert``); its arguments come from
    that sentence only (:class:`~ollama_nb.standin.fill.Filler`, strict)."""
    sentences = [s.strip() for s in _SENTENCE_END.split(prompt) if s.strip()] or [prompt]
    calls: list[dict[str, Any]] = []
    unclear: list[str] = []
    for tool in tools:
        function = tool.get("function", {})
        name = function.get("name", "")
        hints = set(re.split(r"[_\W]+", name.lower())) - _NOT_HINTS - {""}
        for hint in list(hints):
            hints |= _SYNONYMS.get(hint, set()) | {hint.rstrip("s"), hint + "s"}
        said = next(
            (s for s in sentences if any(re.search(rf"\b{re.escape(h)}\b", s, re.I) for h in hints)), None
        )
        if said is None:
            continue
        filler = Filler(said, strict=True)
        arguments = filler.arguments(function.get("parameters", {}))
        if filler.missing:
            unclear.append(
                f"The demo model could not tell the {' and the '.join(f'`{m}`' for m in filler.missing)} "
                f'for `{name}` from "{said}": it takes arguments only from the prompt\'s own words. '
                "Name them in the prompt (see the README on the stand-in)."
            )
        else:
            calls.append({"name": name, "arguments": arguments})
    return calls, unclear


def _as_json(format: Any, ask: Ask, reply: Answer) -> str:  # noqa: A002 - Ollama's name
    """The answer as JSON: ``{"answer": ...}`` for ``"json"``, else a value valid for the schema."""
    text = re.sub(r"\*\*(.*?)\*\*", r"\1", reply.content)
    value = Filler(ask.prompt, text).value(format) if isinstance(format, dict) else {"answer": text}
    return json.dumps(value, ensure_ascii=False)

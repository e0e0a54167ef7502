"""A canned responder for demos with no Ollama: it plays a plausible model, without any model.

It answers the tutorial's flows (adding numbers, the weather in a city, thinking) and echoes
anything else, so a notebook runs top to bottom and a reader sees what each step looks like.
"""

from __future__ import annotations

import re
from typing import Any

from .script import Turn

_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?|\b(?:" + "|".join(_NUMBER_WORDS) + r")\b", re.I)
_PLACE = re.compile(r"\b(?:in|for|at)\s+([A-Z][\w-]*(?:\s+[A-Z][\w-]*)*)")


class DemoResponder:
    """Plays the demo model, pacing its chunks ``delay`` seconds apart (0 for tests)."""

    def __init__(self, delay: float = 0.02) -> None:
        self.delay = delay

    def __call__(self, request: dict[str, Any], thinks: bool) -> Turn:
        turn = demo_turn(request, thinks)
        turn.delay = self.delay
        return turn


def demo_turn(request: dict[str, Any], thinks: bool) -> Turn:
    """Answer ``request`` (a decoded ``/api/chat`` body) as a small helpful model would."""
    messages = request.get("messages") or []
    last = messages[-1] if messages else {"role": "user", "content": ""}
    thinking = ""
    if last.get("role") == "tool":
        results = _trailing_tool_results(messages)
        content = " ".join(f"`{name}` returned **{value}**." for name, value in results)
        if thinks:
            thinking = "The tool has answered; I can give the user the result now."
        return Turn(content=content, thinking=thinking)

    prompt = str(last.get("content", ""))
    calls = _tool_calls_for(prompt, request.get("tools") or [])
    if thinks:
        thinking = f"The user asks: {prompt.strip()[:80]!r}. " + (
            "A tool can answer this, so I will call it." if calls else "I can answer directly."
        )
    if calls:
        return Turn(thinking=thinking, tool_calls=calls)
    return Turn(content=_echo(prompt), thinking=thinking)


def _trailing_tool_results(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    results = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.append((message.get("tool_name") or "the tool", message.get("content", "")))
    return list(reversed(results))


def _tool_calls_for(prompt: str, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    words = set(re.findall(r"[a-z]+", prompt.lower()))
    calls = []
    for tool in tools:
        function = tool.get("function", {})
        name = function.get("name", "")
        hints = set(name.lower().split("_")) - {"get", "current", "two", "the"}
        if "add" in hints:
            hints |= {"plus", "sum"}
        if hints & words:
            arguments = _arguments_for(prompt, function.get("parameters", {}))
            calls.append({"name": name, "arguments": arguments})
    return calls


def _arguments_for(prompt: str, parameters: dict[str, Any]) -> dict[str, Any]:
    numbers = [_as_number(m) for m in _NUMBER.findall(prompt)]
    place = _PLACE.search(prompt)
    arguments: dict[str, Any] = {}
    for name, spec in (parameters.get("properties") or {}).items():
        kind = spec.get("type")
        if kind in ("integer", "number") and numbers:
            arguments[name] = numbers.pop(0)
        elif spec.get("enum"):
            mentioned = [v for v in spec["enum"] if str(v).lower() in prompt.lower()]
            arguments[name] = (mentioned or spec["enum"])[0]
        elif kind == "string" and place and name in ("city", "location", "place"):
            arguments[name] = place.group(1)
        elif kind == "string" and name in ("format", "unit"):
            units = [u for u in ("celsius", "fahrenheit") if u in prompt.lower()]
            if units:
                arguments[name] = units[0]
    return arguments


def _as_number(token: str) -> int | float:
    token = token.lower()
    if token in _NUMBER_WORDS:
        return _NUMBER_WORDS[token]
    return float(token) if "." in token else int(token)


def _echo(prompt: str) -> str:
    quoted = "\n".join("> " + line for line in prompt.strip().splitlines()) or "> (empty)"
    return (
        "This answer comes from the **stand-in server** bundled with ollama_nb: no model is "
        "running, so it echoes your prompt.\n\n"
        f"{quoted}\n\n"
        "With a real Ollama (`ollama serve`, then `ollama pull llama3.2`) the same cell streams "
        "a real answer. Meanwhile, here is what streamed markdown looks like:\n\n"
        "- a list item with `inline code`\n- another item\n\n"
        "```python\ndef add_two_numbers(a: int, b: int) -> int:\n    return a + b\n```\n\n"
        "| model | streams | tools |\n|---|---|---|\n| stand-in | yes | yes |\n"
    )

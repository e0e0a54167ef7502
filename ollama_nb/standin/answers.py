"""The demo model's answers: a small table of the prompts the README and the tutorials ask.

Each rule is a pattern and a function giving the answer and the thinking that leads to it.
There is no model here, only enough to fit the tutorials' prompts: arithmetic, a list, a haiku,
"one sentence", a name recalled from the conversation, a summary of a given text. Anything
else is answered with a short note that says so, quoting the prompt.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
NUMBER = r"-?\d+(?:\.\d+)?|\b(?:" + "|".join(NUMBER_WORDS) + r")\b"


@dataclass
class Ask:
    """What the demo model is asked: the last user message, the system prompt, the history."""

    prompt: str
    system: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)  # the messages before the prompt

    @classmethod
    def of(cls, request: dict[str, Any]) -> Ask:
        messages = request.get("messages") or []
        users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
        last = users[-1] if users else len(messages)
        system = " ".join(str(m.get("content", "")) for m in messages if m.get("role") == "system")
        prompt = str(messages[last].get("content", "")) if users else ""
        return cls(prompt, system, messages[:last])


@dataclass
class Answer:
    content: str
    thinking: str


def as_number(token: str) -> int | float:
    token = token.lower()
    if token in NUMBER_WORDS:
        return NUMBER_WORDS[token]
    return float(token) if "." in token else int(token)


def numbers_in(text: str) -> list[int | float]:
    return [as_number(m) for m in re.findall(NUMBER, text, re.I)]


def _show(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


_OPERATIONS: dict[str, tuple[str, Callable[[float, float], float]]] = {
    "times": ("×", lambda a, b: a * b), "multiplied by": ("×", lambda a, b: a * b),
    "×": ("×", lambda a, b: a * b), "*": ("×", lambda a, b: a * b), "x": ("×", lambda a, b: a * b),
    "plus": ("+", lambda a, b: a + b), "+": ("+", lambda a, b: a + b),
    "minus": ("−", lambda a, b: a - b), "-": ("−", lambda a, b: a - b),
    "divided by": ("÷", lambda a, b: a / b), "/": ("÷", lambda a, b: a / b),
}  # fmt: skip
_ARITHMETIC = re.compile(
    rf"({NUMBER})\s*(times|multiplied by|plus|minus|divided by|[×*x+/-])\s*({NUMBER})", re.I
)


_VERB = re.compile(rf"\b(add|multiply|divide)\s+({NUMBER})\s+(?:and|by|to)\s+({NUMBER})", re.I)
_VERBS = {"add": "plus", "multiply": "times", "divide": "divided by"}


def arithmetic(match: re.Match[str], ask: Ask) -> Answer:
    """``17 times 23``, ``3 + 1``, ``divide 3 by 0``: the sum worked out."""
    verb = match.group(1).lower() in _VERBS
    first, operator, second = (2, _VERBS.get(match.group(1).lower()), 3) if verb else (1, match.group(2), 3)
    a, b = as_number(match.group(first)), as_number(match.group(second))
    symbol, operation = _OPERATIONS[str(operator).lower()]
    if symbol == "÷" and b == 0:
        return Answer(f"{_show(a)} ÷ 0 has no answer: division by zero is undefined.",
                      "Dividing by zero is undefined, so I should say so.")  # fmt: skip
    result = _show(operation(a, b))
    thinking = f"I need {_show(a)} {symbol} {_show(b)}."
    if symbol == "×" and isinstance(b, int) and b > 10:
        tens, units = b - b % 10, b % 10
        thinking += (f" {_show(a)} × {tens} = {_show(a * tens)}, and {_show(a)} × {units} = {_show(a * units)}."
                     f" {_show(a * tens)} + {_show(a * units)} = {result}.")  # fmt: skip
    return Answer(f"{_show(a)} {symbol} {_show(b)} = {result}.", thinking + f" The answer is {result}.")


_NAME_GIVEN = re.compile(r"\b(?:my name is|i am|i'm|call me)\s+([A-Z][\w-]*)", re.I)


def recall_name(match: re.Match[str], ask: Ask) -> Answer:
    said = [str(m.get("content", "")) for m in ask.history if m.get("role") == "user"]
    names = [found.group(1) for text in said for found in _NAME_GIVEN.finditer(text)]
    if not names:
        return Answer("You have not told me your name in this conversation yet.",
                      "The earlier messages do not give a name.")  # fmt: skip
    return Answer(
        f"Your name is {names[-1]}.",
        f"Earlier in this conversation the user said their name is {names[-1]}.",
    )


def introduce(match: re.Match[str], ask: Ask) -> Answer:
    name = match.group(1)
    return Answer(f"Nice to meet you, {name}! I will remember your name for the rest of this conversation.",
                  f"The user's name is {name}. I should greet them and remember it.")  # fmt: skip


_HAIKUS = {
    "notebook": "Pages wait in rows;\ncode and prose take turns to speak:\nthe kernel listens.",
    "": "A question typed in,\nword by word the answer comes:\nthe cursor blinking.",
}


def haiku(match: re.Match[str], ask: Ask) -> Answer:
    subject = next((key for key in _HAIKUS if key and key in ask.prompt.lower()), "")
    return Answer(_HAIKUS[subject], "A haiku: three lines of five, seven and five syllables.")


_TOPICS = {
    "sky": [
        "Sunlight holds every colour, and air scatters its short blue waves far more than the red ones "
        "(Rayleigh scattering).",
        "That scattered blue light reaches your eyes from all over the sky.",
        "At sunset the light crosses more air, the blue is scattered away, and the sky turns orange and red.",
    ],
}


def topic(match: re.Match[str], ask: Ask) -> Answer:
    facts = _TOPICS[match.group(1).lower()]
    wanted = ask.prompt.lower() + " " + ask.system.lower()
    count = next((n for n in numbers_in(wanted) if isinstance(n, int) and 0 < n <= len(facts)), len(facts))
    if "one sentence" in wanted:
        return Answer(facts[0], "One sentence is asked for: the main reason only.")
    if re.search(r"bullet|points|\blist\b", wanted):
        return Answer(
            "\n".join(f"- {fact}" for fact in facts[:count]), f"{count} short points are asked for."
        )
    return Answer(" ".join(facts), "I can explain this directly.")


def summary(match: re.Match[str], ask: Ask) -> Answer:
    text = ask.prompt[match.end() :].lstrip(" :\n")
    first = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0] if text.strip() else ""
    if not first:
        return Answer("There is no text to summarise in your message: paste it after the request.",
                      "The message asks for a summary but gives no text.")  # fmt: skip
    return Answer(f"In short: {first}", "The first sentence carries the main point.")


def remember(match: re.Match[str], ask: Ask) -> Answer:
    """``Remember this list: ...`` (and ``What was on the first list?``), from what it can read."""
    items = match.group(1).strip().rstrip(".")
    if not re.search(r"\bfirst list\b", ask.prompt, re.I):
        return Answer(f"Noted: {items}.", "A list to remember.")
    said = [str(m.get("content", "")) for m in ask.history if m.get("role") == "user"]
    first = next((found.group(1).strip().rstrip(".") for text in said if (found := _LIST.search(text))), None)
    if first is None:
        return Answer(f"Noted: {items}. I cannot see a first list in our conversation, though: "
                      "the earliest message I have is this one.",
                      "The messages I was given hold no earlier list.")  # fmt: skip
    return Answer(
        f"Noted: {items}. The first list was: {first}.", "The earlier message gives the first list."
    )


_LIST = re.compile(r"(?:remember this list|and this one)\s*:\s*([^.?!\n]+)", re.I)
_CANNED = {
    r"\bprimary colou?rs\b": ("Red, yellow and blue.", "The painter's primaries."),
    r"\bwhy is the sea salty\b": (
        "Rivers wash salts out of rocks into the sea; the water evaporates and the salt stays behind.",
        "Salt comes in from rivers and stays.",
    ),
    r"\bfinish the sentence\b.*\bsky is\b": ("The sky is wide and blue.", "Five words about the sky."),
    r"\bexplain recursion\b": (
        "Recursion is a function solving a problem by calling itself on a smaller "
        "part of it, until the part is simple enough to answer directly.",
        "One sentence on recursion.",
    ),
    r"\bis 1 a prime\b": ("No.", "A prime has exactly two divisors; 1 has only one."),
    r"\bhello in french\b": ("Bonjour !", "Hello in French is bonjour."),
}


def canned(match: re.Match[str], ask: Ask) -> Answer:
    for pattern, (content, thinking) in _CANNED.items():
        if re.search(pattern, ask.prompt, re.I | re.S):
            return Answer(content, thinking)
    raise LookupError(ask.prompt)  # not reached: the rule's pattern is the table's


def greeting(match: re.Match[str], ask: Ask) -> Answer:
    return Answer("Hello! I am the stand-in's demo model: ask me what the tutorials ask.", "A greeting.")


RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str], Ask], Answer]]] = [
    (re.compile(r"\bwhat(?:'s| is) my name\b|\bwho am i\b", re.I), recall_name),
    (_NAME_GIVEN, introduce),
    (re.compile(r"\bhaiku\b", re.I), haiku),
    (re.compile(r"\bsummari[sz]e\b[^:\n]*", re.I), summary),
    (_ARITHMETIC, arithmetic),
    (_VERB, arithmetic),
    (re.compile(r"\b(sky)\b.*\bblue\b", re.I | re.S), topic),
    (_LIST, remember),
    (re.compile("|".join(_CANNED), re.I | re.S), canned),
    (re.compile(r"^\s*(?:hi|hello|hey)\b", re.I), greeting),
]


def answer(ask: Ask) -> Answer:
    """The first rule that fits the prompt; otherwise a note quoting it."""
    for pattern, rule in RULES:
        match = pattern.search(ask.prompt)
        if match:
            return rule(match, ask)
    quoted = "\n".join("> " + line for line in ask.prompt.strip().splitlines()) or "> (empty)"
    return Answer(
        "This is the **stand-in server** bundled with ollama_nb: a demo model with no weights, which "
        f"knows only the tutorials' questions, so it cannot answer\n\n{quoted}\n\n"
        "With a real Ollama (`ollama serve`, then `ollama pull llama3.2`), the same question gets a "
        "real answer.",
        "This question is not one the demo model knows.",
    )

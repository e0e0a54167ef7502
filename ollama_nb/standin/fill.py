"""Values taken from a prompt for a JSON schema: tool arguments and structured answers.

Numbers come from the numbers in the prompt (words included), a city or place from "in
Toronto", a person's name from capitalised words, an enum from the value mentioned, other
strings from quoted text; what the prompt does not give gets a type's plain value, so the
result is always valid against the schema.
"""

from __future__ import annotations

import re
from typing import Any

from .answers import numbers_in

_PLACE = re.compile(r"\b(?:in|for|at|from|to)\s+([A-Z][\w-]*(?:\s+[A-Z][\w-]*)*)")
_QUOTED = re.compile(r"[\"'“‘]([^\"'”’]+)[\"'”’]")
_PERSON = re.compile(r"\b([A-Z][a-z]+(?:\s+[A-Z][a-z]+)+)\b")
_PLACE_WORDS = ("city", "location", "place", "town", "country")
_NAME_WORDS = ("name", "person", "author", "who")
_COMMON = {"the", "and", "for", "name", "with", "from", "that", "this", "city", "what", "which", "number"}


class Filler:
    """Fills schemas from one prompt, taking each number and quoted string once."""

    def __init__(self, prompt: str, text: str = "") -> None:
        self.prompt = prompt
        self.text = text  # the demo model's own answer, for free-text fields
        self.numbers = numbers_in(prompt)
        self.quoted = _QUOTED.findall(prompt)

    def value(self, schema: dict[str, Any], name: str = "", root: dict[str, Any] | None = None) -> Any:
        root = root or schema
        if "$ref" in schema:
            return self.value(_resolve(root, schema["$ref"]), name, root)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
                return self.value(options[0], name, root)
        if "enum" in schema:
            mentioned = [v for v in schema["enum"] if str(v).lower() in self.prompt.lower()]
            return (mentioned or schema["enum"])[0]
        kind = schema.get("type", "object" if "properties" in schema else "string")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "string")
        if kind == "object":
            return self.arguments(schema, root)
        if kind == "array":
            return [self.value(schema.get("items") or {}, name, root)]
        if kind in ("integer", "number"):
            number = self.numbers.pop(0) if self.numbers else 0
            return int(number) if kind == "integer" else number
        if kind == "boolean":
            return False
        return self.string(name, schema.get("description", ""))

    def arguments(self, schema: dict[str, Any], root: dict[str, Any] | None = None) -> dict[str, Any]:
        """A value for every property (optional ones only when the prompt gives them)."""
        required = set(schema.get("required") or [])
        values: dict[str, Any] = {}
        for name, spec in (schema.get("properties") or {}).items():
            value = self.value(spec, name, root or schema)
            if name in required or value not in ("", 0, False, None) or "enum" in spec:
                values[name] = value
        return values

    def string(self, name: str, description: str = "") -> str:
        lowered = name.lower()
        place = _PLACE.search(self.prompt)
        if any(word in lowered for word in _PLACE_WORDS) and place:
            return place.group(1)
        person = _PERSON.search(self.prompt)
        if any(word in lowered for word in _NAME_WORDS) and person:
            return person.group(1)
        offered = [w for w in re.findall(r"[a-z]{3,}", description.lower()) if w not in _COMMON]
        mentioned = [w for w in offered if re.search(rf"\b{w}\b", self.prompt, re.I)]
        if mentioned:  # "format: celsius or fahrenheit" and a prompt that says "in celsius"
            return mentioned[0]
        named = re.search(rf"\b{re.escape(lowered)}\s+{_QUOTED.pattern}", self.prompt, re.I)
        if named:  # "the word 'strawberry'"
            if named.group(1) in self.quoted:
                self.quoted.remove(named.group(1))
            return named.group(1)
        if self.quoted:
            return self.quoted.pop(0)
        return self.text


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = root
    for part in ref.lstrip("#/").split("/"):
        node = node.get(part, {})
    return node

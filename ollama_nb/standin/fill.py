"""Values taken from a prompt for a JSON schema: tool arguments and structured answers.

Numbers come from the numbers in the prompt (words included), a place from "in Toronto" or "of
France", a person's name from capitalised words, a unit from "26.2 miles" (from) or "how many
km" (to), an enum from the value mentioned, other strings from quoted text or a word of the
parameter's description that the prompt uses; always in the prompt's own spelling and case.

For tool arguments (``strict``) nothing is invented: what the prompt does not give is missing
(:attr:`Filler.missing`), and the demo model says so instead of calling. For a structured answer
(``format``) a type's plain value fills the gap, so the answer is always valid for the schema.
"""

from __future__ import annotations

import re
from typing import Any

from .answers import NUMBER, numbers_in

_PLACE = re.compile(r"\b(?:in|for|at|from|to|of)\s+([A-Z][\w-]*(?:\s+[A-Z][\w-]*)*)")
_QUOTED = re.compile(r"[\"'“‘]([^\"'”’]+)[\"'”’]")
_PERSON = re.compile(r"\b([A-Z][a-z]+(?:\s+[A-Z][a-z]+)+)\b")
_UNIT_FROM = re.compile(rf"(?:{NUMBER})\s*([A-Za-z°][\w°/]*)", re.I)
_UNIT_TO = re.compile(
    r"\bhow (?:many|much)\s+([A-Za-z°][\w°/]*)|\b(?:in|into|to)\s+([A-Za-z°][\w°/]*)\s*[?.!]?$", re.I
)
_PLACE_WORDS = ("city", "location", "place", "town", "country", "region", "state", "capital")
_NAME_WORDS = ("name", "person", "author", "who")
_COMMON = {"the", "and", "for", "name", "with", "from", "that", "this", "city", "what", "which", "number",
           "unit", "units", "convert", "value", "country"}  # fmt: skip
_UNSET = object()


class Filler:
    """Fills schemas from one prompt, taking each number and quoted string once. ``strict``:
    only what the prompt gives (tool arguments); the names it could not fill go in ``missing``."""

    def __init__(self, prompt: str, text: str = "", *, strict: bool = False) -> None:
        self.prompt = prompt
        self.text = text  # the demo model's own answer, for free-text fields
        self.strict = strict
        self.numbers = numbers_in(prompt)
        self.quoted = _QUOTED.findall(prompt)
        self.missing: list[str] = []

    def value(self, schema: dict[str, Any], name: str = "", root: dict[str, Any] | None = None) -> Any:
        """A value for ``schema``; in strict mode ``_UNSET`` when the prompt does not give one."""
        root = root or schema
        if "$ref" in schema:
            return self.value(_resolve(root, schema["$ref"]), name, root)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
                return self.value(options[0], name, root)
        if "enum" in schema:
            mentioned = [
                v for v in schema["enum"] if re.search(rf"\b{re.escape(str(v))}\b", self.prompt, re.I)
            ]
            return mentioned[0] if mentioned else (_UNSET if self.strict else schema["enum"][0])
        kind = schema.get("type", "object" if "properties" in schema else "string")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "string")
        if kind == "object":
            return self.arguments(schema, root)
        if kind == "array":
            item = self.value(schema.get("items") or {}, name, root)
            return _UNSET if item is _UNSET else [item]
        if kind in ("integer", "number"):
            if not self.numbers:
                return _UNSET if self.strict else 0
            number = self.numbers.pop(0)
            return int(number) if kind == "integer" else number
        if kind == "boolean":
            return False
        found = self.string(name, schema.get("description", ""))
        return found if found is not None else (_UNSET if self.strict else self.text)

    def arguments(self, schema: dict[str, Any], root: dict[str, Any] | None = None) -> dict[str, Any]:
        """A value for every property the prompt gives (and, unless strict, every required one)."""
        required = set(schema.get("required") or [])
        values: dict[str, Any] = {}
        for name, spec in (schema.get("properties") or {}).items():
            value = self.value(spec, name, root or schema)
            if value is _UNSET:
                if name in required:
                    self.missing.append(name)
            elif (
                name in required or value not in ("", 0, False, None) or ("enum" in spec and not self.strict)
            ):
                values[name] = value
        return values

    def string(self, name: str, description: str = "") -> str | None:
        """A string for parameter ``name`` as the prompt writes it; None when it gives none."""
        lowered = name.lower()
        if "unit" in lowered:
            unit = self._unit(to=any(w in lowered for w in ("to", "target", "into")))
            if unit:
                return unit
        place = _PLACE.search(self.prompt)
        if any(word in lowered for word in _PLACE_WORDS) and place:
            return place.group(1)
        person = _PERSON.search(self.prompt)
        if any(word in lowered for word in _NAME_WORDS) and person:
            return person.group(1)
        named = re.search(rf"\b{re.escape(lowered)}\s+{_QUOTED.pattern}", self.prompt, re.I)
        if named:  # "the word 'strawberry'"
            if named.group(1) in self.quoted:
                self.quoted.remove(named.group(1))
            return named.group(1)
        offered = [w for w in re.findall(r"[a-z]{3,}", description.lower()) if w not in _COMMON]
        for word in offered:  # "format: celsius or fahrenheit" and a prompt that says "in Celsius"
            said = re.search(rf"\b{word}\b", self.prompt, re.I)
            if said:
                return said.group(0)
        if self.quoted:
            return self.quoted.pop(0)
        return None

    def _unit(self, to: bool) -> str | None:
        """``26.2 miles`` gives the unit converted from; ``how many km`` or ``in km`` the one to."""
        if to:
            found = _UNIT_TO.search(self.prompt.strip())
            return (found.group(1) or found.group(2)) if found else None
        found = _UNIT_FROM.search(self.prompt)
        return found.group(1) if found else None


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = root
    for part in ref.lstrip("#/").split("/"):
        node = node.get(part, {})
    return node

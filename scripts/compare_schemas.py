"""Where the official client's ``convert_function_to_tool`` differs from ollama_nb's schemas.

    .venv/bin/python scripts/compare_schemas.py

For each function of the test corpus, prints what the client's schema loses or gets wrong
(enum, items, required, defaults, types, nested properties), then a count.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ollama._utils import convert_function_to_tool

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ollama_nb.schema import build
from tests.schema_corpus import CORPUS

KEYS = ("type", "enum", "items", "properties", "default", "description", "format")


def theirs(function: Any) -> dict[str, Any] | str:
    try:
        tool = convert_function_to_tool(function)
    except Exception as exc:  # the client fails on some signatures: that is a difference too
        return f"fails: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    return tool.model_dump(exclude_none=True, by_alias=True)["function"].get("parameters", {})


def differences(function: Any) -> list[str]:
    ours = build(function).schema["function"]["parameters"]
    other = theirs(function)
    if isinstance(other, str):
        return [other]
    found = []
    if sorted(ours.get("required", [])) != sorted(other.get("required") or []):
        found.append(f"required: ours {ours.get('required')} · client {other.get('required')}")
    for name, prop in ours["properties"].items():
        them = (other.get("properties") or {}).get(name)
        if them is None:
            found.append(f"{name}: missing in the client's schema")
            continue
        for key in KEYS:
            if key in prop and prop[key] != them.get(key):
                found.append(
                    f"{name}.{key}: ours {json.dumps(prop[key])[:60]} · client {json.dumps(them.get(key))[:60]}"
                )
    for name in set(other.get("properties") or {}) - set(ours["properties"]):
        found.append(f"{name}: the client shows it to the model (ours does not)")
    return found


def main() -> None:
    differing = 0
    for function in CORPUS:
        found = differences(function)
        differing += bool(found)
        print(f"{function.__name__}: {'same' if not found else ''}")
        for line in found:
            print(f"    {line}")
    print(f"\n{differing} of {len(CORPUS)} signatures differ from the official client's schema.")


if __name__ == "__main__":
    main()

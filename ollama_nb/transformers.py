"""A line prompt that ends in ``?`` reaches the magic.

IPython reads a trailing ``?`` as a help request before any magic runs: ``%ollama render What is
the capital of Peru?`` would print "Object `Peru` not found." An input transformer that runs
before IPython's own hands such a line to the magic as it is written. ``%ollama?`` and
``%%ollama?`` (help on the magic itself) are left to IPython.
"""

from __future__ import annotations

import re
from typing import Any

_LINE = re.compile(r"^(?P<indent>[ \t]*)%ollama[ \t]+(?P<rest>\S.*\?)[ \t]*$")


def hand_to_magic(lines: list[str]) -> list[str]:
    """Rewrite a lone ``%ollama ... ?`` line into the call IPython would make, minus the help."""
    if len(lines) != 1 and not (len(lines) == 2 and not lines[1].strip()):
        return lines
    found = _LINE.match(lines[0].rstrip("\n"))
    if found is None:
        return lines
    call = f"get_ipython().run_line_magic('ollama', {found['rest']!r})\n"
    return [found["indent"] + call, *lines[1:]]


def register(shell: Any) -> None:
    """Run :func:`hand_to_magic` before IPython's own transformers (once per shell)."""
    cleanup = shell.input_transformers_cleanup
    if hand_to_magic not in cleanup:
        cleanup.append(hand_to_magic)

"""What must not leave the notebook by accident, and its masking in the text sent.

:func:`find_secrets` collects the values: ``OLLAMA_API_KEY``, environment variables and notebook
variables (and dict items one level down) named like ``*key*``, ``*token*``, ``*password*`` or
``*secret*``. A :class:`Masker` replaces each value wherever it appears, and any password in a
URL, counting what it masked under each name. Pure functions, no Jupyter import.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SECRET_NAME = re.compile(r"key|token|password|secret", re.IGNORECASE)
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@?#]*:)([^\s/@?#]+)(@)", re.IGNORECASE)
MIN_SECRET = 4  # shorter values would mask ordinary words and numbers everywhere
URL_PASSWORD_NAME = "a password in a URL"


@dataclass(frozen=True)
class Secret:
    """A value never to send, and the name it is masked under."""

    name: str
    value: str


def find_secrets(
    namespace: Mapping[str, Any], environ: Mapping[str, str], extra: Iterable[Secret] = ()
) -> list[Secret]:
    """What to mask: ``OLLAMA_API_KEY`` and environment variables named like secrets, and the
    notebook's variables (and the items of its dicts, one level down) named like secrets."""
    found = [*extra]
    for name, value in environ.items():
        if name == "OLLAMA_API_KEY" or SECRET_NAME.search(name):
            found.append(Secret(name, value))
    for name, value in list(namespace.items()):
        if isinstance(value, dict) and not name.startswith("_"):
            found += [Secret(f"{name}[{k!r}]", _text(v)) for k, v in list(value.items())
                      if isinstance(k, str) and SECRET_NAME.search(k) and _text(v)]  # fmt: skip
        elif SECRET_NAME.search(name) and _text(value):
            found.append(Secret(name, _text(value)))
    return [s for s in found if len(s.value.strip()) >= MIN_SECRET]


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else ""


class Masker:
    """Replaces every secret's value, and any password in a URL, saying how many under each name."""

    def __init__(self, secrets: Iterable[Secret]) -> None:
        self.names: dict[str, str] = {}
        for secret in sorted(secrets, key=lambda s: -len(s.value)):  # the longest first
            self.names.setdefault(secret.value, secret.name)
        alternatives = "|".join(re.escape(v) for v in self.names)
        self._values = re.compile(alternatives) if alternatives else None

    def __call__(self, text: str) -> tuple[str, Counter[str]]:
        counts: Counter[str] = Counter()

        def value(match: re.Match[str]) -> str:
            counts[self.names[match.group(0)]] += 1
            return f"[masked: {self.names[match.group(0)]}]"

        def url(match: re.Match[str]) -> str:
            counts[URL_PASSWORD_NAME] += 1
            return f"{match.group(1)}[masked]{match.group(3)}"

        if self._values is not None:
            text = self._values.sub(value, text)
        return URL_PASSWORD.sub(url, text), counts

"""Where requests go, read as Ollama reads ``OLLAMA_HOST``, and which credentials and proxies
may come along. Pure URL logic: the adapter, the chat box and the launcher all use it.

- Host forms: ``:5000``, ``host``, ``host:port``, ``[::1]:port``, ``0.0.0.0`` (a bind address:
  this machine's loopback), a bare ``ollama.com`` (https), ``user:pass@host`` (basic auth).
- A server on this machine is reached without proxies, whatever name reaches it.
- ``OLLAMA_API_KEY`` goes to ollama.com only, and only over https.
- A password in a host is never shown: :func:`mask` hides it wherever a host is printed.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from .errors import AuthError, ServerUnreachable

DEFAULT_HOST = "http://127.0.0.1:11434"
CLOUD = "ollama.com"
PROXY_VARIABLES = ("ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
_PASSWORD = re.compile(r"(?<=://)([^/@:\s]*):([^/@\s]*)@|^([^/@:\s]*):([^/@\s]*)@")


def mask(text: str) -> str:
    """``http://alice:s3cret@host`` → ``http://alice:***@host`` (also without a scheme)."""
    return _PASSWORD.sub(lambda m: f"{m.group(1) or m.group(3)}:***@", text)


@lru_cache(maxsize=64)
def _resolves_to_loopback(name: str) -> bool:
    """A name or a short address form (``127.1``) that this machine maps to its loopback."""
    try:
        found = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    addresses = {str(info[4][0]) for info in found}
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


@dataclass(frozen=True)
class Endpoint:
    """Where to send requests: ``url`` without credentials, and the basic auth taken out of it."""

    url: str
    auth: tuple[str, str] | None = None

    @property
    def hostname(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def loopback(self) -> bool:
        """This machine's own server: reached directly, never through a proxy."""
        name = self.hostname
        if name == "localhost":
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return _resolves_to_loopback(name)

    @property
    def cloud(self) -> bool:
        return self.hostname == CLOUD or self.hostname.endswith("." + CLOUD)

    def __str__(self) -> str:
        return self.url


def endpoint(host: str | None = None) -> Endpoint:
    """``--host``, else ``OLLAMA_HOST`` read now, else the default, in the forms Ollama accepts.
    Raises :class:`ServerUnreachable` (one line, password masked) for an address it cannot be."""
    given = host or os.environ.get("OLLAMA_HOST") or ""
    text = (given or DEFAULT_HOST).strip()
    if "://" not in text:
        bare = text.split("@")[-1].split("/")[0]
        text = ("https://" if bare in (CLOUD, CLOUD + ":443") else "http://") + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:  # an unclosed [ or a port out of range
        why = (
            "has no valid port (1-65535)" if "port" in str(exc).lower() else f"is not a valid address ({exc})"
        )
        raise ServerUnreachable(f"{mask(given or text)!r} {why}: write it as http://HOST:PORT.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ServerUnreachable(
            f"{mask(given or text)!r} is not an address Ollama can be at: use http:// or https://"
        )
    name = parts.hostname or "127.0.0.1"
    if name in ("0.0.0.0", "::"):
        name = "127.0.0.1" if name == "0.0.0.0" else "::1"
    if port is None:
        port = {"http": 80, "https": 443}[scheme] if "://" in given or name == CLOUD else 11434
    shown = f"[{name}]" if ":" in name else name
    path = parts.path.rstrip("/")
    auth = (parts.username or "", parts.password or "") if parts.username else None
    return Endpoint(f"{scheme}://{shown}:{port}{path}", auth)


def proxy_for(where: Endpoint) -> str | None:
    """The proxy a request to ``where`` goes through (masked), or None: never for loopback,
    and not for a host ``NO_PROXY`` names."""
    if where.loopback:
        return None
    no_proxy = os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or ""
    name = where.hostname
    for entry in filter(None, (e.strip().lstrip(".") for e in no_proxy.split(","))):
        if entry == "*" or name == entry or name.endswith("." + entry):
            return None
    names = ("HTTPS_PROXY", "https_proxy") if where.scheme == "https" else ("HTTP_PROXY", "http_proxy")
    for variable in (*names, "ALL_PROXY", "all_proxy"):
        if os.environ.get(variable):
            return mask(os.environ[variable])
    return None


def api_key_for(where: Endpoint, explicit: str | None) -> str | None:
    """The bearer token for ``where``: one given for it (``--api-key``), else ``OLLAMA_API_KEY``
    read now, for ollama.com only and over https only."""
    if explicit:
        return explicit
    key = os.environ.get("OLLAMA_API_KEY")
    if not key or not where.cloud:
        return None
    if where.scheme != "https":
        raise AuthError(
            f"OLLAMA_API_KEY is sent over https only, and {where} is plain http: use https://{CLOUD}."
        )
    return key

"""Record real exchanges with Ollama into a cassette, and replay them with their pacing.

Recording is a small proxy on 127.0.0.1 in front of a real Ollama: point ``OLLAMA_HOST`` at it,
run the notebook, stop it, and every request with its streamed lines and their timing is in the
cassette file. Replaying is the stand-in server answering from that file.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler
from os import PathLike
from pathlib import Path
from typing import Any

import httpx

from .loopback import LoopbackServer, chunked_line

FORMAT = "ollama-nb-cassette/1"


@dataclass
class Exchange:
    """One request and the answer it got: status, content type, and each line with its time."""

    method: str
    path: str
    request: dict[str, Any] | None
    status: int
    content_type: str
    lines: list[tuple[float, str]] = field(default_factory=list)  # (seconds since the request, line)

    def key(self) -> str:
        return _key(self.method, self.path, self.request)


def _key(method: str, path: str, body: dict[str, Any] | None) -> str:
    return json.dumps([method, path, _undated(body)], sort_keys=True)


_DAY = re.compile(r"(?<!\d)\d{4}-\d{2}-\d{2}(?!\d)|\b(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day\b")


def _undated(body: dict[str, Any] | None) -> dict[str, Any] | None:
    """The request with the dates and weekdays in its tool results blanked: a tool that reports
    the day it ran (an MCP clock server) still matches a recording made on another day."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(messages, list):
        return body
    return {**body, "messages": [
        {**m, "content": _DAY.sub("…", m["content"])}
        if isinstance(m, dict) and m.get("role") == "tool" and isinstance(m.get("content"), str) else m
        for m in messages
    ]}  # fmt: skip


@dataclass
class Cassette:
    exchanges: list[Exchange] = field(default_factory=list)
    about: str = ""  # where the answers come from: which server and model recorded them
    _used: set[int] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def save(self, path: str | PathLike[str]) -> Path:
        target = Path(path)
        data = {"format": FORMAT, "about": self.about, "exchanges": [asdict(e) for e in self.exchanges]}
        target.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
        return target

    @classmethod
    def load(cls, path: str | PathLike[str]) -> Cassette:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"{path} is not an ollama_nb cassette ({FORMAT})")
        exchanges = [Exchange(**{**e, "lines": [tuple(x) for x in e["lines"]]}) for e in data["exchanges"]]
        return cls(exchanges, data.get("about", ""))

    def add(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    def match(self, method: str, path: str, body: dict[str, Any] | None) -> Exchange | None:
        """The recorded answer to this very request: the next unused one in recorded order, or
        again the last one when each was used (a cell run twice). A request that was not
        recorded gets None, so an edited prompt is never answered with another prompt's answer."""
        key = _key(method, path, body)
        with self._lock:
            found = [i for i, exchange in enumerate(self.exchanges) if exchange.key() == key]
            unused = [i for i in found if i not in self._used]
            if not found:
                return None
            chosen = unused[0] if unused else found[-1]
            self._used.add(chosen)
            return self.exchanges[chosen]


Route = Callable[[str, "dict[str, Any] | None"], str]


class Recorder(LoopbackServer):
    """A recording proxy on 127.0.0.1 in front of ``upstream`` (a real Ollama), or in front of
    the server that ``upstream(path, body)`` names for each request."""

    def __init__(self, upstream: str | Route, port: int = 0) -> None:
        self.cassette = Cassette()
        route = upstream if callable(upstream) else (lambda _path, _body, url=upstream: url)
        super().__init__(_RecordingHandler, {"route": staticmethod(route), "cassette": self.cassette}, port)


class _RecordingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    route: Route
    cassette: Cassette

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        self._forward(None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        self._forward(raw)

    def _forward(self, raw: bytes | None) -> None:
        started = time.perf_counter()
        body = json.loads(raw) if raw else None
        headers = {"Content-Type": "application/json"} if raw else {}
        upstream = self.route(self.path, body).rstrip("/")
        with httpx.stream(
            self.command, upstream + self.path, content=raw, headers=headers, timeout=None
        ) as up:
            content_type = up.headers.get("content-type", "application/json")
            exchange = Exchange(self.command, self.path, body, up.status_code, content_type)
            self.send_response(up.status_code)
            self.send_header("Content-Type", content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for line in up.iter_lines():
                exchange.lines.append((round(time.perf_counter() - started, 6), line))
                self.wfile.write(chunked_line(line.encode()))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        self.cassette.add(exchange)

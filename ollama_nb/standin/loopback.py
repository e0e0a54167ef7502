"""An HTTP/1.1 server on 127.0.0.1 in a background thread, as the stand-in and the recorder use."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

Self = TypeVar("Self", bound="LoopbackServer")


def chunked_line(line: bytes) -> bytes:
    """One NDJSON line framed as one HTTP/1.1 chunk (Ollama flushes every line)."""
    data = line + b"\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


class LoopbackServer:
    """Serve ``handler`` (given its class attributes) on 127.0.0.1:``port`` (0: any free port)."""

    def __init__(
        self, handler: type[BaseHTTPRequestHandler], attributes: dict[str, Any], port: int = 0
    ) -> None:
        bound = type(handler.__name__.lstrip("_"), (handler,), attributes)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), bound)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self: Self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self: Self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

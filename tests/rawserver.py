"""A loopback HTTP server that answers with exactly the bytes a test scripts: the faults a
proxy, a captive portal or a broken server produce (HTML pages, lines that are not JSON, chunks
of the wrong shape, silence). It logs each request's path, headers and body."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    status: int = 200
    content_type: str = "application/x-ndjson"
    lines: list[str] = field(default_factory=list)  # written one by one, each followed by "\n"
    delay: float = 0.0  # seconds before each line
    hold: float = 0.0  # seconds to stay silent (connection open) after the lines


def chunk(content: str = "", done: bool = False, **extra: Any) -> str:
    body: dict[str, Any] = {"model": "m", "created_at": "2026-01-01T00:00:00Z",
                            "message": {"role": "assistant", "content": content}, "done": done}  # fmt: skip
    if done:
        body.update(done_reason="stop", total_duration=1000, eval_count=1, eval_duration=1000)
    body.update(extra)
    return json.dumps(body)


class RawServer:
    """Answers each request with the next scripted :class:`Answer`, or, for a path in
    ``routes``, always with that path's answer (``/api/ps`` odd every time)."""

    def __init__(self, *answers: Answer, routes: dict[str, Answer] | None = None) -> None:
        self.answers = list(answers)
        self.routes = dict(routes or {})
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                path = self.path.split("?")[0]
                if path in outer.routes:
                    answer = outer.routes[path]
                else:
                    answer = outer.answers.pop(0) if outer.answers else Answer(lines=[chunk("ok", done=True)])
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for line in answer.lines:
                        time.sleep(answer.delay)
                        data = (line + "\n").encode()
                        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                        self.wfile.flush()
                    time.sleep(answer.hold)
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _answer  # noqa: N815 - http.server's names

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> RawServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def json_answer(payload: Any, status: int = 200) -> Answer:
    """A plain JSON answer (``/api/ps``, ``/api/show``, ``/api/version``)."""
    return Answer(status=status, content_type="application/json; charset=utf-8", lines=[json.dumps(payload)])

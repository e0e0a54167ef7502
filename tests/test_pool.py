"""The shipped nginx config (deploy/nginx-ollama-pool.conf) in front of two stand-ins: a
conversation stays on one server, requests without the header are spread, a dead server is
gone round, and the stream passes through unbuffered."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from ollama_nb import api
from ollama_nb.standin import StandInServer, Turn
from scripts.nginx_pool import NginxPool, nginx

# make test installs nginx-light; only a bare pytest on a machine without it skips, never CI
pytestmark = pytest.mark.skipif(
    nginx() is None and os.environ.get("CI") != "true", reason="needs nginx (make test installs nginx-light)"
)


@pytest.fixture
def pool() -> Iterator[tuple[NginxPool, list[StandInServer]]]:
    with StandInServer() as one, StandInServer() as two, NginxPool([one.url[7:], two.url[7:]]) as nginx_:
        yield nginx_, [one, two]


def _ask(url: str, **kwargs: object) -> str:
    return api.chat("hi", model="llama3.2", host=url, display="none", **kwargs).content  # type: ignore[arg-type]


def test_a_conversation_stays_on_one_server_and_the_rest_is_spread(pool):
    nginx_, servers = pool
    for _ in range(6):
        for name in ("ann", "ben", "cy"):
            assert _ask(nginx_.url, chat=f"pool-{name}")
    by_conversation: dict[str, set[str]] = {}
    for entry in nginx_.log():
        by_conversation.setdefault(entry.conversation, set()).add(entry.upstream)
    assert len(by_conversation) == 3 and all(len(ups) == 1 for ups in by_conversation.values())
    for _ in range(6):
        httpx.get(nginx_.url + "/api/tags").raise_for_status()  # no header: the least busy server
    spread = Counter(e.upstream for e in nginx_.log() if not e.conversation)
    assert len(spread) == 2, spread
    assert all(server.requests for server in servers)


def test_a_dead_server_is_gone_round(pool):
    nginx_, (one, two) = pool
    one.stop()
    answers = [_ask(nginx_.url, chat=f"pool-dead-{n}") for n in range(4)]
    assert all(answers)
    assert {e.upstream.split(", ")[-1] for e in nginx_.log() if e.path == "/api/chat"} == {two.url[7:]}


def test_the_stream_passes_through_as_it_comes(pool):
    nginx_, servers = pool
    for server in servers:
        server.push(Turn(content="one two three four five six", delay=0.3))
    lines, unfinished = [], []
    with httpx.stream("POST", nginx_.url + "/api/chat", timeout=30,
                      json={"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}) as response:  # fmt: skip
        for line in response.iter_lines():
            if line and not lines:  # the first line is here: is the server still writing the rest?
                unfinished = [
                    r for s in servers for r in s.requests if r.path == "/api/chat" and not r.completed
                ]
            lines += [line] if line else []
    assert len(unfinished) == 1 and len(lines) == 7

"""The chat widget's Python side, driven directly against the stand-in."""

from __future__ import annotations

import html
import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from ollama_nb import ChatWidget
from ollama_nb.standin import Model, StandInServer, Turn


def add_two_numbers(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def _status(chat: ChatWidget, message: int) -> str:
    """The status line of the reply to the ``message``-th message (from 0)."""
    return chat.history.children[2 * message + 1].children[-1].value


def _wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert condition()


def test_messages_stream_in_and_the_conversation_goes_on(server):
    chat = ChatWidget(model="llama3.2", tools=[add_two_numbers], host=server.url, system="Be short.")
    assert chat.picker.value == "llama3.2:latest" and "qwen3:latest" in dict(chat.picker.options).values()
    server.push(
        Turn(tool_calls=[{"name": "add_two_numbers", "arguments": {"a": 3, "b": 1}}]),
        Turn(content="It is 4."),
    )
    chat.input.value = "What is three plus one?"
    chat.send.click()
    _wait_for(lambda: len(chat.replies) == 1, 10)
    assert chat.replies[0].content == "It is 4." and chat.replies[0].trace[0].result == "4"
    assert chat.input.value == "" and not chat.send.disabled
    server.push(Turn(content="Five."))
    assert chat.ask("And plus one more?", wait=True).result().content == "Five."
    assert not chat.busy and chat.stop.disabled
    messages = server.state.chats()[-1]["messages"]
    assert messages[0] == {"role": "system", "content": "Be short."}
    assert [m["role"] for m in messages[1:]] == ["user", "assistant", "tool", "assistant", "user"]
    assert len(chat.conversation) == 2
    assert len(chat.history.children) == 4  # two questions, two replies
    assert "tools 1 call" in _status(chat, 0) and "Five." not in _status(chat, 0)


def test_stop_ends_a_reply_in_flight_and_keeps_what_streamed(server):
    chat = ChatWidget(model="llama3.2", host=server.url)
    server.push(Turn(content="word " * 500, delay=0.01), Turn(content="Still here."))
    future = chat.ask("Ramble on.")
    view = chat.history.children[1]
    _wait_for(lambda: "word" in view.children[0]._tail.value)  # the answer streams
    assert chat.busy and not chat.stop.disabled
    chat.stop.click()
    reply = future.result(5)
    assert reply.interrupted and 0 < len(reply.content) < len("word " * 500)
    assert "Interrupted" in _status(chat, 0)
    _wait_for(lambda: server.requests[-1].hung_up, 3)  # the HTTP stream was closed
    assert chat.ask("Are you there?", wait=True).result().content == "Still here."


def test_stop_while_waiting_for_the_first_chunk_frees_the_box_at_once(server):
    chat = ChatWidget(model="llama3.2", host=server.url)
    server.push(Turn(content="Late.", delay=2.0), Turn(content="Next one."))
    future = chat.ask("Slow?")
    _wait_for(lambda: server.state.chats())  # the request is out, nothing has come back
    chat.stop.click()
    assert not chat.busy and chat.stop.disabled and not chat.send.disabled
    assert "Stopped" in _status(chat, 0)
    reply = future.result(10)  # the thread ends as soon as the stream gives it a chance
    assert reply is None or reply.interrupted
    assert chat.ask("Still there?", wait=True).result(10).content == "Next one."


def test_rapid_messages_are_queued_and_all_answered_in_order(server):
    chat = ChatWidget(model="llama3.2", host=server.url)
    server.push(*[Turn(content=f"Answer {i}.", delay=0.005) for i in range(10)])
    futures = [chat.ask(f"Question {i}?") for i in range(10)]
    assert "queued" in _status(chat, 9)
    replies = [f.result(20) for f in futures]
    assert [r.content for r in replies] == [f"Answer {i}." for i in range(10)]
    assert [b["messages"][-1]["content"] for b in server.state.chats()] == [
        f"Question {i}?" for i in range(10)
    ]
    assert len(chat.conversation) == 10 and not chat.busy


def test_no_model_is_said_in_the_box_words(server):
    chat = ChatWidget(host="http://127.0.0.1:9")
    assert chat.picker.options == ()
    assert chat.ask("hello", wait=True).result() is None
    status = _status(chat, 0)
    assert "pick one in the Model list" in status and "http://127.0.0.1:9" in status
    assert "-m" not in status and "%ollama" not in status


def test_a_server_that_is_not_there_is_said_in_the_box_words():
    chat = ChatWidget(model="llama3.2", host="http://127.0.0.1:9")
    assert chat.ask("hello", wait=True).result(10) is None
    status = html.unescape(_status(chat, 0))
    assert "No Ollama answered at http://127.0.0.1:9" in status and "ChatWidget(host=...)" in status
    assert "--host" not in status and "tokens" not in status and chat.replies == []


def test_the_picker_marks_models_that_cannot_use_the_tools(server):
    chat = ChatWidget(model="llama3.2", tools=[add_two_numbers], host=server.url)
    labels = dict((value, label) for label, value in chat.picker.options)
    assert labels["gemma:2b"] == "gemma:2b (cannot use tools)" and labels["qwen3:latest"] == "qwen3:latest"
    chat.picker.value = "gemma:2b"
    assert chat.ask("What is 3 + 1?", wait=True).result() is None
    assert "gemma:2b cannot use this box's tools (add_two_numbers)" in html.unescape(_status(chat, 0))
    assert server.state.chats() == []
    plain = ChatWidget(model="llama3.2", host=server.url)
    assert "gemma:2b" in dict(plain.picker.options)  # without tools, nothing to mark


def test_errors_in_the_box_are_escaped(server):
    chat = ChatWidget(model="llama3.2", host=server.url)
    server.push(Turn(status=500, error="<b>runner</b> crashed"))
    chat.ask("hi", wait=True)
    status = _status(chat, 0)
    assert "&lt;b&gt;runner&lt;/b&gt; crashed" in status and "<b>runner" not in status
    odd = Model("<i>odd</i>:latest", "odd", "1B", ("completion",))
    with StandInServer(models=(odd,)) as other:  # a refusal before anything is sent
        chat = ChatWidget(model=odd.name, tools=[add_two_numbers], host=other.url)
        chat.ask("hi", wait=True)
    status = _status(chat, 0)
    assert "&lt;i&gt;odd&lt;/i&gt;" in status and "<i>" not in status


class _HtmlPage(http.server.BaseHTTPRequestHandler):
    """A captive portal or a misrouted proxy: HTTP 200 and an HTML page, whatever is asked."""

    def do_GET(self) -> None:
        self._page()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._page()

    def _page(self) -> None:
        body = b"<html><body>Please log in</body></html>\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def html_page() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HtmlPage)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_an_unexpected_failure_is_one_line_and_the_box_lives_on(html_page, server):
    chat = ChatWidget(model="llama3.2", host=html_page)
    future = chat.ask("hi")
    assert future.result(10).error.startswith("An HTML page came from")  # said, not a traceback
    status = _status(chat, 0)
    assert 'class="ollama-nb-problem"' in status and "waiting" not in status
    assert "Traceback" not in status and status.count("\n") == 0
    assert not chat.busy
    chat.host = server.url  # the box still answers
    server.push(Turn(content="Back."))
    assert chat.ask("again", wait=True).result(10).content == "Back."


def test_an_exception_that_is_not_the_servers_is_one_line_too(server):
    chat = ChatWidget(model="llama3.2", host=server.url, tools=[42])  # not a function
    assert chat.ask("hi").result(10) is None
    status = html.unescape(_status(chat, 0))
    assert "✗ 'int' is not callable" in status and status.count("\n") == 0
    assert not chat.busy and server.state.chats() == []


def test_the_transcript_reads_without_the_widget(server):
    chat = ChatWidget(model="llama3.2", host=server.url)
    assert "no model" not in repr(chat) and "ChatWidget(" not in repr(chat)
    assert "0 replies" in chat.transcript_html()
    server.push(Turn(content="It is **4**."))
    chat.ask("What is three plus one?", wait=True)
    page = chat.transcript_html()
    assert "ollama_nb chat · llama3.2:latest · 1 reply" in page
    assert "What is three plus one?" in page and "<strong>4</strong>" in page
    assert '<details class="ollama-nb-transcript' not in page  # open, not folded away
    assert page.count("<style>") == 1

"""The chat widget's Python side, driven directly against the stand-in."""

from __future__ import annotations

import time

from ollama_nb import ChatWidget
from ollama_nb.standin import Turn


def add_two_numbers(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def test_messages_stream_in_and_the_conversation_goes_on(server):
    chat = ChatWidget(model="llama3.2", tools=[add_two_numbers], host=server.url, system="Be short.")
    assert chat.picker.options[0] == "llama3.2:latest" and "qwen3:latest" in chat.picker.options
    server.push(
        Turn(tool_calls=[{"name": "add_two_numbers", "arguments": {"a": 3, "b": 1}}]),
        Turn(content="It is 4."),
    )
    chat.input.value = "What is three plus one?"
    chat.send.click()
    chat._thread.join(10)
    assert chat.replies[0].content == "It is 4." and chat.replies[0].trace[0].result == "4"
    assert chat.input.value == "" and not chat.busy and not chat.send.disabled
    server.push(Turn(content="Five."))
    chat.ask("And plus one more?", wait=True)
    messages = server.state.chats()[-1]["messages"]
    assert messages[0] == {"role": "system", "content": "Be short."}
    assert [m["role"] for m in messages[1:]] == ["user", "assistant", "tool", "assistant", "user"]
    assert len(chat.conversation) == 2
    assert len(chat.history.children) == 4  # two questions, two replies
    html = chat.transcript_html()
    assert "What is three plus one?" in html and "It is 4." in html and "ollama-nb-round" in html


def test_stop_ends_a_reply_in_flight_and_keeps_what_streamed(server):
    chat = ChatWidget(model="llama3.2", host=server.url)
    server.push(Turn(content="word " * 500, delay=0.01), Turn(content="Still here."))
    chat.ask("Ramble on.")
    answer = chat.history.children[1].children[0]  # the reply's streaming answer (no thinking here)
    deadline = time.monotonic() + 5
    while "word" not in answer._tail.value and time.monotonic() < deadline:
        time.sleep(0.02)
    assert chat.busy and chat.send.disabled and not chat.stop.disabled
    chat.stop.click()
    chat._thread.join(5)
    (reply,) = chat.replies
    assert reply.interrupted and 0 < len(reply.content) < len("word " * 500)
    assert "Interrupted" in chat.history.children[1].children[-1].value
    deadline = time.monotonic() + 3
    while not server.requests[-1].hung_up and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.requests[-1].hung_up  # the HTTP stream was closed
    chat.ask("Are you there?", wait=True)
    assert chat.replies[-1].content == "Still here."


def test_no_model_is_said_in_the_box(server):
    chat = ChatWidget(host="http://127.0.0.1:9")
    assert chat.picker.options == ()
    chat.ask("hello", wait=True)
    assert "No model given" in chat.history.children[1].children[-1].value

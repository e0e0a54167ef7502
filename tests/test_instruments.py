"""Instruments that tell the truth: the context meter, the timeline, thinking, nested turns and
the loaders, each as a user meets it (IPython's shell, a real kernel, the real Ollama)."""

from __future__ import annotations

import json

import nbformat
import pytest

import ollama_nb
from ollama_nb.reply import MIME, Reply
from ollama_nb.standin import Turn
from ollama_nb.trace import Trace

from .conftest import run_cell


# -- a plain model's <think> is its words ---------------------------------------------------------
def test_a_plain_models_literal_think_tag_stays_in_its_answer(ip, server):
    words = ["Write ", "<thi", "nk> to open a block, ", "</think> to close it. Done."]
    server.push(Turn(content=words))
    run_cell(ip, "%%ollama -m llama3.2\nHow do I mark thinking?")  # llama3.2 does not declare thinking
    reply = ip.user_ns["_ollama"]
    assert reply.content == "".join(words) and reply.thinking == ""
    server.push(Turn(content=["<think>", "Let me see.", "</think>\n\n", "Like this."]))
    run_cell(ip, "%%ollama -m qwen3\nHow do I mark thinking?")  # qwen3 declares it: its tags are thinking
    reply = ip.user_ns["_ollama"]
    assert (reply.thinking, reply.content) == ("Let me see.", "Like this.")


# -- loaders validate what they hand back ---------------------------------------------------------
def _saved_reply(tmp_path, **fields) -> str:
    record = Reply("llama3.2", [{"role": "user", "content": "hi"}], Trace("llama3.2")).to_record()
    record.update(fields)
    nb = nbformat.v4.new_notebook()
    output = nbformat.v4.new_output("display_data", data={"text/plain": "hi", MIME: record})
    nb.cells.append(nbformat.v4.new_code_cell("%%ollama --chat c\nhi", outputs=[output]))
    path = tmp_path / "class.ipynb"
    nbformat.write(nb, path)
    return str(path)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"messages": [{"role": "evil", "content": "x"}]}, "messages.0.role: Input should be 'system'"),
        (
            {"messages": [{"role": "user", "content": 1}]},
            "messages.0.content: Input should be a valid string",
        ),
        ({"history": -5}, "history: Input should be greater than or equal to 0"),
    ],
)
def test_load_conversation_refuses_a_record_the_server_would_not_take(ip, tmp_path, fields, problem):
    path = _saved_reply(tmp_path, **fields)
    result = run_cell(ip, f"import ollama_nb\nmessages = ollama_nb.load_conversation({path!r})")
    error = result.error_in_exec
    assert isinstance(error, ollama_nb.RecordError)
    assert len(error._render_traceback_()) == 1 and "\n" not in str(error)  # one line, no traceback
    assert str(error).startswith(f"{path}, cell 1: {problem}")


@pytest.mark.parametrize(
    ("turns", "problem"),
    [
        ([{"cell": "a", "start": 0, "prompt_tokens": -5}], "turns.0"),
        ([{"cell": "a", "start": -5}], "each start must be a message index"),
    ],
)
def test_conversation_load_refuses_negative_counts(ip, tmp_path, turns, problem):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"version": 1, "name": "c", "messages": [{"role": "user", "content": "hi"}],
                                "turns": turns}))  # fmt: skip
    result = run_cell(ip, f"from ollama_nb import Conversation\nc = Conversation.load({str(path)!r})")
    error = result.error_in_exec
    assert isinstance(error, ollama_nb.RecordError) and str(path) in str(error) and problem in str(error)


# -- no turn inside a turn of the same conversation ------------------------------------------------
ASKS_AGAIN = '''
def look_up(topic: str) -> str:
    """Look a topic up in the class notes."""
    get_ipython().run_cell_magic("ollama", "-m llama3.2 --chat tides", f"What do the notes say about {topic}?")
    return "nothing found"
'''


def test_a_tool_cannot_add_a_turn_to_the_conversation_that_called_it(ip, server):
    run_cell(ip, ASKS_AGAIN)
    server.push(Turn(tool_calls=[{"name": "look_up", "arguments": {"topic": "tides"}}]),
                Turn(content="The notes say nothing about tides."))  # fmt: skip
    result = run_cell(ip, "%%ollama -m llama3.2 --chat tides --tools look_up\nWhat about tides?")
    assert result.success
    reply = ip.user_ns["_ollama"]
    (trip,) = reply.trace
    assert (
        trip.status == "error"
        and "Conversation 'tides' is waiting for the answer that called this tool" in trip.error
    )
    assert "\n" not in trip.error
    assert len(server.state.chats()) == 2  # the inner turn was never sent
    chat = ollama_nb.api.conversation("tides")
    assert [m["role"] for m in chat.messages] == ["user", "assistant", "tool", "assistant"]
    assert chat.messages[0]["content"] == "What about tides?" and len(chat) == 1
    server.push(Turn(content="Tides follow the moon."))  # and the conversation goes on
    assert run_cell(ip, "%%ollama --chat tides\nAnd the moon?").success and len(chat) == 2

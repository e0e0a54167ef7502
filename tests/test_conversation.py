"""Conversations: which cell asked, turns that end early, threads, and files that are not what they say."""

from __future__ import annotations

import _thread
import json
import threading
import time

import pytest

import ollama_nb
from ollama_nb import api
from ollama_nb.conversation import Conversation
from ollama_nb.conversation import Turn as Asked
from ollama_nb.errors import RecordError
from ollama_nb.messages import Message
from ollama_nb.standin import Turn

from .conftest import execute_notebook, run_cell


@pytest.fixture(autouse=True)
def fresh_conversations():
    api.conversations.clear()
    yield
    api.conversations.clear()


def contents(server, index: int = -1) -> list[str]:
    return [m["content"] for m in server.state.chats()[index]["messages"]]


def test_a_batch_run_keeps_two_cells_with_the_same_text(server):
    cell = "%%ollama -m llama3.2 --chat c\nContinue."
    nb = execute_notebook(
        ["%load_ext ollama_nb", cell, cell, "import ollama_nb\nprint(len(ollama_nb.conversation('c')))"],
        server,
    )
    assert contents(server) == ["Continue.", "OK.", "Continue."]
    assert nb.cells[3].outputs[0]["text"].strip() == "2"
    assert not any("went back" in json.dumps(o) for o in nb.cells[2].outputs)


def test_two_asks_from_one_cell_are_two_turns_and_running_it_again_replaces_both(ip, server, capsys):
    cell = '%ollama -m llama3.2 --chat c "Continue."\n%ollama -m llama3.2 --chat c "Continue."'
    run_cell(ip, cell)
    assert contents(server) == ["Continue.", "OK.", "Continue."]
    capsys.readouterr()
    run_cell(ip, cell)
    assert contents(server, -2) == ["Continue."] and contents(server) == ["Continue.", "OK.", "Continue."]
    assert "dropped the 1 turn(s) after it" in capsys.readouterr().out  # said, not silent
    assert len(api.conversation("c")) == 2


def test_code_asking_the_same_thing_twice_keeps_both_turns(server):
    chat = Conversation("loop")
    for _ in range(2):
        ollama_nb.chat("Continue.", model="llama3.2", host=server.url, chat=chat, display="none")
    assert contents(server) == ["Continue.", "OK.", "Continue."] and len(chat) == 2


def test_two_threads_sharing_a_conversation_keep_both_exchanges(server):
    chat = Conversation("shared")
    server.push(Turn(content=["one ", "two"], delay=0.3), Turn(content=["three ", "four"], delay=0.3))

    def ask(prompt: str) -> None:
        ollama_nb.chat(prompt, model="llama3.2", host=server.url, chat=chat, display="none")

    threads = [threading.Thread(target=ask, args=(p,)) for p in ("first?", "second?")]
    for thread in threads:
        thread.start()
        time.sleep(0.1)  # both requests are in flight at once
    for thread in threads:
        thread.join(10)
    assert len(chat) == 2 and len(chat.messages) == 4
    assert sorted(m["content"] for m in chat.messages) == ["first?", "one two", "second?", "three four"]
    assert [m["role"] for m in chat.messages] == ["user", "assistant", "user", "assistant"]


def test_a_failed_turn_stays_marked_partial_with_the_tool_that_ran(ip, server, capsys):
    ran = []

    def counted(a: int) -> int:
        """Count."""
        ran.append(a)
        return a

    ip.user_ns["counted"] = counted
    server.push(
        Turn(tool_calls=[{"name": "counted", "arguments": {"a": 2}}]),
        Turn(content=["Partial ", "answer ", "lost?"], error_after=2, error="runner crashed"),
        Turn(content="Next."),
    )
    run_cell(ip, "%%ollama -m llama3.2 --chat c --tools counted\nCount two.")
    run_cell(ip, "%%ollama -m llama3.2 --chat c\nAnd then?")
    sent = server.state.chats()[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "user"]
    assert sent[2]["content"] == "2" and sent[3]["content"] == "Partial answer " and ran == [2]
    chat = api.conversation("c")
    assert [t.partial for t in chat.turns] == [True, False]
    capsys.readouterr()
    run_cell(ip, "%ollama history c")
    assert "assistant: Partial answer \n\n[the turn above is partial" in capsys.readouterr().out


def test_an_interrupted_turn_stays_too(ip, server):
    def slow() -> str:
        """Take a while."""
        _thread.interrupt_main()
        time.sleep(2)
        return "done"

    ip.user_ns["slow"] = slow
    server.push(Turn(content="Starting.", tool_calls=[{"name": "slow", "arguments": {}}]))
    result = run_cell(ip, "%%ollama -m llama3.2 --chat c --tools slow\nwork")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    run_cell(ip, "%%ollama -m llama3.2 --chat c\nWhere were we?")
    assert contents(server) == ["work", "Starting.", "Where were we?"]
    assert api.conversation("c").turns[0].partial


def test_running_a_cell_with_a_system_prompt_again_keeps_the_turns_before_it(ip, server):
    run_cell(ip, "%%ollama -m llama3.2 --chat s\nHi.")
    again = '%%ollama -m llama3.2 --chat s --system "Be brief."\nMore.'
    run_cell(ip, again)
    run_cell(ip, again)
    assert contents(server) == ["Be brief.", "Hi.", "OK.", "More."]


BAD_FILES = {
    "not JSON": ('{"name": ', "Invalid JSON"),
    "binary": (bytes(range(256)), "Invalid JSON"),
    "a list": ("[1, 2]", "Input should be an object"),
    "version 99": ('{"version": 99, "name": "x", "messages": []}', "version 99 is not one this ollama_nb reads"),
    "deep nesting": ('{"name": "x", "messages": [' + "[" * 100_000 + "]" * 100_000 + "]}", "recursion limit"),
    "wrong type": ('{"name": "x", "messages": [{"role": "user", "content": 5}]}', "messages.0.content"),
    "messages nope": ('{"name": "x", "messages": "nope"}', "messages: Input should be a valid array"),
    "no role": ('{"name": "x", "messages": [{"content": "hi"}]}', "messages.0.role: Field required"),
    "a bad role": ('{"name": "x", "messages": [{"role": "boss", "content": "hi"}]}', "messages.0.role"),
    "arguments a list": ('{"name": "x", "messages": [{"role": "assistant", "tool_calls": '
                         '[{"function": {"name": "f", "arguments": [1]}}]}]}', "arguments: Input should be an object"),
    "turns out of range": ('{"name": "x", "messages": [], "turns": [["a", 3]]}', "each start must be a message index"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_file_that_is_not_a_conversation_is_one_clear_error(tmp_path, case):
    data, problem = BAD_FILES[case]
    path = tmp_path / "chat.json"
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    with pytest.raises(RecordError) as caught:
        Conversation.load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not a conversation saved by ollama_nb: ") and problem in message
    assert len(caught.value._render_traceback_()) == 1 and "\n" not in message


def test_a_missing_file_names_itself(tmp_path):
    with pytest.raises(RecordError, match=r"nothere\.json: cannot read it \(No such file or directory\)"):
        Conversation.load(tmp_path / "nothere.json")


def test_saved_files_keep_partial_turns_and_older_files_still_load(tmp_path):
    chat = Conversation("kept", [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "h"}],
                        [Asked("cell-1", 0, partial=True)])  # fmt: skip
    again = Conversation.load(chat.save(tmp_path / "new.json"))
    assert again.messages == chat.messages and again.turns == chat.turns
    older = {"name": "old", "messages": [{"role": "user", "content": "hi", "from_a_newer_ollama": 1}],
             "turns": [["cell-1", 0]]}  # fmt: skip
    (tmp_path / "old.json").write_text(json.dumps(older))
    loaded = Conversation.load(tmp_path / "old.json")
    assert loaded.messages == older["messages"] and loaded.turns == [Asked("cell-1", 0)]


def test_the_message_schema_takes_what_ollama_takes():
    call = {"id": "call_ab12cd34", "function": {"index": 0, "name": "f", "arguments": '{"a": 1}'}}
    message = Message.model_validate(
        {"role": "assistant", "content": "", "thinking": "hm", "tool_calls": [call]}
    )
    assert message.to_dict()["tool_calls"][0]["function"]["arguments"] == {"a": 1}
    tool = {
        "role": "tool",
        "content": "1",
        "tool_name": "f",
        "tool_call_id": "call_ab12cd34",
        "images": ["aGk="],
    }
    assert Message.model_validate(tool).to_dict() == tool

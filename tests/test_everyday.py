"""Conversations, interpolation, models, config, images, structured output, plain text."""

from __future__ import annotations

import base64

import pydantic
import pytest
from IPython.core.error import UsageError

import ollama_nb
from ollama_nb import api
from ollama_nb.conversation import Conversation
from ollama_nb.standin import Turn

from .conftest import chat_requests, execute_notebook, run_cell


@pytest.fixture(autouse=True)
def fresh_conversations():
    api.conversations.clear()
    saved = api.defaults.settings
    yield
    api.defaults.settings = saved


def sent(server, index: int = -1) -> list[dict]:
    return server.state.chats()[index]["messages"]


def test_a_named_chat_goes_on_across_cells(ip, server, capsys):
    server.push(Turn(content="Hi Ada."), Turn(content="Your name is Ada."))
    run_cell(ip, "%%ollama -m llama3.2 --chat intro\nMy name is Ada.")
    run_cell(ip, "%%ollama -m llama3.2 --chat intro\nWhat is my name?")
    assert [m["content"] for m in sent(server)] == ["My name is Ada.", "Hi Ada.", "What is my name?"]
    assert len(api.conversation("intro")) == 2
    capsys.readouterr()
    run_cell(ip, "%ollama history intro")
    assert "user: My name is Ada.\n\nassistant: Hi Ada." in capsys.readouterr().out
    run_cell(ip, "%ollama reset intro")
    run_cell(ip, "%%ollama -m llama3.2 --chat intro\nWho am I?")
    assert [m["content"] for m in sent(server)] == ["Who am I?"]


def test_without_chat_each_cell_stands_alone(ip, server):
    run_cell(ip, "%%ollama -m llama3.2\nfirst")
    run_cell(ip, "%%ollama -m llama3.2\nsecond")
    assert [m["content"] for m in sent(server)] == ["second"]


def test_running_a_cell_again_replaces_its_turn(ip, server, capsys):
    first = "%%ollama -m llama3.2 --chat c\nTell me a joke."
    run_cell(ip, first)
    run_cell(ip, "%%ollama -m llama3.2 --chat c\nAnother one.")
    capsys.readouterr()
    run_cell(ip, first)  # asked again from the first cell
    assert [m["content"] for m in sent(server)] == ["Tell me a joke."]  # no stacked copies
    assert len(api.conversation("c")) == 1
    assert "dropped the 1 turn(s) after it" in capsys.readouterr().out


def test_a_conversation_is_an_object_to_keep_and_pass_on(server, tmp_path):
    chat = Conversation("lesson")
    server.push(Turn(content="Paris."), Turn(content="About two million."))
    ollama_nb.chat("Capital of France?", model="llama3.2", host=server.url, chat=chat, display="none")
    path = chat.save(tmp_path / "lesson.json")
    again = Conversation.load(path)
    ollama_nb.chat("Its population?", model="llama3.2", host=server.url, chat=again, display="none")
    assert [m["content"] for m in sent(server)] == ["Capital of France?", "Paris.", "Its population?"]
    assert len(again) == 2 and len(chat) == 1


def test_code_braces_go_out_verbatim_and_names_are_pulled_in(ip, server):
    ip.user_ns.update(city="Toronto", data={"rows": 3})
    run_cell(ip, '%%ollama -m llama3.2\ndef f():\n    return {"a": {1}}\nWeather in {{city}}? Rows: {{data}}')
    prompt = sent(server)[-1]["content"]
    assert prompt == "def f():\n    return {\"a\": {1}}\nWeather in Toronto? Rows: {'rows': 3}"
    assert ip.user_ns["_ollama"].trace.prompt == prompt  # the resolved prompt, kept under the answer


def test_inputs_outputs_and_the_last_error(ip, server):
    run_cell(ip, "6 * 7")
    number = ip.execution_count - 1
    run_cell(ip, "1 / 0")
    run_cell(
        ip, f"%%ollama -m llama3.2\nCode: {{{{In[{number}]}}}} gave {{{{Out[{number}]}}}}. Fix: {{{{error}}}}"
    )
    prompt = sent(server)[-1]["content"]
    assert (
        prompt.startswith("Code: 6 * 7 gave 42. Fix: Traceback")
        and "ZeroDivisionError: division by zero" in prompt
    )


def test_undefined_names_send_nothing_and_raw_sends_verbatim(ip, server):
    result = run_cell(ip, "%%ollama -m llama3.2\nExplain {{missing_df}}")
    assert isinstance(result.error_in_exec, UsageError) and "'missing_df' is not defined" in str(
        result.error_in_exec
    )
    assert server.state.chats() == []
    run_cell(ip, "%%ollama -m llama3.2 --raw\nJinja: {{missing_df}}")
    assert sent(server)[-1]["content"] == "Jinja: {{missing_df}}"


def test_models_lists_capabilities(ip, capsys):
    run_cell(ip, "%ollama models")
    out = capsys.readouterr().out
    assert "qwen3:latest" in out and "completion, thinking, tools" in out and "Q4_K_M" in out
    assert "llava:latest" in out and "completion, vision" in out


def test_config_sets_defaults(ip, server, capsys):
    run_cell(ip, "%ollama config model=qwen3 num_ctx=8192 max_rounds=3")
    assert "model=qwen3" in capsys.readouterr().out
    run_cell(ip, "%%ollama\nhi")
    body = server.state.chats()[-1]
    assert body["model"] == "qwen3" and body["options"] == {"num_ctx": 8192}
    result = run_cell(ip, "%ollama config max_rounds=zero")
    assert isinstance(result.error_in_exec, UsageError)


def test_images_from_a_path_or_a_variable(ip, server, tmp_path):
    picture = tmp_path / "cat.png"
    picture.write_bytes(b"\x89PNG fake")
    ip.user_ns["raw_bytes"] = b"GIF89a"
    run_cell(ip, f"%%ollama -m llava --image {picture} --image raw_bytes\nWhat is this?")
    assert sent(server)[-1]["images"] == [
        base64.b64encode(b"\x89PNG fake").decode(),
        base64.b64encode(b"GIF89a").decode(),
    ]
    result = run_cell(ip, f"%%ollama -m llama3.2 --image {picture}\nWhat is this?")
    assert "cannot use vision" in str(result.error_in_exec)
    result = run_cell(ip, "%%ollama -m llava --image nowhere.png\nWhat is this?")
    assert "no such file, and no variable of that name" in str(result.error_in_exec)


class City(pydantic.BaseModel):
    name: str
    population: int


def test_structured_output_into_a_model(ip, server):
    ip.user_ns["City"] = City
    server.push(Turn(content='{"name": "Toronto", "population": 2794356}'))
    run_cell(ip, "%%ollama -m llama3.2 --format City\nTell me about Toronto.")
    assert server.state.chats()[-1]["format"] == City.model_json_schema()
    assert ip.user_ns["_ollama"].parsed == City(name="Toronto", population=2794356)
    server.push(Turn(content='{"name": "Toronto"'))
    result = run_cell(ip, "%%ollama -m llama3.2 --format json\nAgain.")
    assert isinstance(result.error_in_exec, ollama_nb.FormatError)
    assert ip.user_ns["_ollama"].content == '{"name": "Toronto"'  # the raw text is kept


def test_plain_text_in_a_kernel_still_leaves_the_static_output(server):
    server.push(Turn(content="Plain **words**."))
    nb = execute_notebook(["%load_ext ollama_nb", "%%ollama -m llama3.2 --plain\nhi"], server)
    outputs = nb.cells[1].outputs
    assert "Plain **words**." in "".join(o["text"] for o in outputs if o["output_type"] == "stream")
    assert "<strong>words</strong>" in outputs[-1]["data"]["text/html"]
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)


def test_help_lists_everything(ip, capsys):
    run_cell(ip, "%ollama help")
    out = capsys.readouterr().out
    for word in (
        "schema",
        "use",
        "models",
        "config",
        "history",
        "reset",
        "export",
        "{{name}}",
        "%%ollama -m llama3.2",
    ):
        assert word in out


def test_terminal_ipython_streams_plain_text(server):
    """`ipython -c`: no kernel, no widgets: the answer streams to stdout as text."""
    import os
    import subprocess
    import sys

    server.push(Turn(content="Plain answer for the terminal.", thinking="Brief thought."))
    code = "get_ipython().run_line_magic('load_ext', 'ollama_nb'); get_ipython().run_cell_magic('ollama', '-m qwen3', 'hi')"
    done = subprocess.run([sys.executable, "-m", "IPython", "--no-banner", "-c", code], capture_output=True, text=True,
                          env={**os.environ, "OLLAMA_HOST": server.url}, timeout=60)  # fmt: skip
    assert "[thinking] Brief thought." in done.stdout and "Plain answer for the terminal." in done.stdout
    assert "qwen3 · " in done.stdout and "tokens/s" in done.stdout
    assert "widget" not in done.stdout.lower() and "Traceback" not in done.stdout + done.stderr


def test_a_conversation_remembers_its_model(ip, server):
    run_cell(ip, "%%ollama -m qwen3 --chat remembers\nMy name is Ada.")
    result = run_cell(ip, "%%ollama --chat remembers\nWhat is my name?")  # no -m: the conversation's model
    assert result.success
    assert [r["model"] for r in chat_requests(server)][-2:] == ["qwen3", "qwen3"]

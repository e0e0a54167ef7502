"""The %%ollama magic in IPython's own shell, through the real client, against the stand-in."""

from __future__ import annotations

import _thread
import threading
import time

import pytest
from IPython.core.error import UsageError

import ollama_nb
from ollama_nb import api, errors
from ollama_nb.standin import Model, StandInServer, Turn

from .conftest import chat_requests, quick, run_cell


def test_answer_streams_and_reply_is_bound(ip, server, capsys):
    server.push(Turn(content="Hello **world**, how are you?", thinking="The user greets me."))
    result = run_cell(ip, "%%ollama -m qwen3\nSay hi")
    out = capsys.readouterr().out
    assert result.success and result.result is None  # no Out[n] repr
    reply = ip.user_ns["_ollama"]
    assert reply.content == "Hello **world**, how are you?"
    assert reply.thinking == "The user greets me."
    assert reply.model == "qwen3" and reply.done_reason == "stop"
    assert reply.metrics.eval_count == 9 and reply.metrics.tokens_per_s > 0
    assert reply.messages == [
        {"role": "user", "content": "Say hi"},
        {"role": "assistant", "content": reply.content, "thinking": reply.thinking},
    ]
    assert out.index("[thinking] The user greets me.") < out.index("Hello **world**")
    assert "qwen3 · 9 tokens · " in out and "tokens/s" in out


def test_settings_reach_the_server_typed(ip, server):
    run_cell(
        ip,
        """%%ollama -m qwen3 --think --system "Be brief." -o num_ctx=32000 -o temperature=0.2 -o 'stop=["END"]' --format json
Give me JSON""",
    )
    (body,) = server.state.chats()
    assert body["options"] == {"num_ctx": 32000, "temperature": 0.2, "stop": ["END"]}
    assert isinstance(body["options"]["num_ctx"], int)
    assert body["think"] is True and body["format"] == "json" and body["stream"] is True
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Give me JSON"},
    ]


def test_think_is_sent_only_when_asked(ip, server):
    run_cell(ip, "%%ollama -m qwen3 --no-think\nhi")
    run_cell(ip, "%%ollama -m qwen3\nhi")
    run_cell(ip, "%%ollama -m qwen3 --think high\nhi")
    first, second, third = server.state.chats()
    assert first["think"] is False and "think" not in second and third["think"] == "high"


def test_no_stream_gives_the_same_reply(ip, server):
    server.push(Turn(content="All at once.", thinking="quietly"))
    run_cell(ip, "%%ollama -m qwen3 --no-stream\nhi")
    reply = ip.user_ns["_ollama"]
    assert server.state.chats()[0]["stream"] is False
    assert (reply.content, reply.thinking, reply.done_reason) == ("All at once.", "quietly", "stop")


def test_old_style_think_tags_are_split_out(ip, server):
    server.push(Turn(content=["The ans", "wer."], thinking=["Let me ", "think."], think_tags=True))
    run_cell(ip, "%%ollama -m qwen3\nhi")  # a model that declares thinking
    reply = ip.user_ns["_ollama"]
    assert (reply.thinking, reply.content) == ("Let me think.", "The answer.")


def test_host_is_read_when_the_cell_runs(ip, server, monkeypatch):
    with StandInServer(responder=quick) as other:
        monkeypatch.setenv("OLLAMA_HOST", other.url)
        run_cell(ip, "%%ollama -m llama3.2\nto the other one")
        run_cell(ip, f"%%ollama -m llama3.2 --host {server.url}\nto the first one")
        assert [b["messages"][-1]["content"] for b in other.state.chats()] == ["to the other one"]
    assert [b["messages"][-1]["content"] for b in server.state.chats()] == ["to the first one"]


def test_one_client_per_host_keeps_its_connection(ip, server):
    run_cell(ip, "%%ollama -m llama3.2\none")
    run_cell(ip, "%%ollama -m llama3.2\ntwo")
    first, second = [r.peer for r in server.requests if r.path == "/api/chat"]
    assert first == second


def test_out_stores_the_reply_under_a_name(ip, server):
    server.push(Turn(content="kept"))
    run_cell(ip, "%%ollama -m llama3.2 --out answer\nhi")
    assert ip.user_ns["answer"] is ip.user_ns["_ollama"] and ip.user_ns["answer"].content == "kept"


def test_default_model_from_use(ip, server, capsys):
    run_cell(ip, "%ollama use gemma:2b")
    run_cell(ip, "%%ollama\nhi")
    assert server.state.chats()[0]["model"] == "gemma:2b"


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("%%ollama\nhi", "no model"),
        ("%%ollama -m llama3.2 --bogus\nhi", "unrecognized arguments: --bogus"),
        ("%%ollama -m llama3.2 -o num_ctx\nhi", "KEY=VALUE"),
        ("%%ollama -m llama3.2 -o temperature=hot\nhi", "option 'temperature' takes a number"),
        ("%%ollama -m llama3.2 -o 'stop=[1]'\nhi", "option 'stop' takes a list of strings"),
        ("%%ollama -m llama3.2 -o num_predict=1.5\nhi", "option 'num_predict' takes a whole number"),
        ("%%ollama -m llama3.2 -o num_ctx=lots\nhi", "option 'num_ctx'"),
        ("%%ollama -m llama3.2\n   \n", "the prompt is empty"),
        ("%%ollama -m llama3.2 --out 1x\nhi", "--out takes a variable name"),
        ("%%ollama -m llama3.2 --format '{bad'\nhi", "not valid JSON"),
    ],
)
def test_user_mistakes_are_one_line_and_send_nothing(ip, server, capsys, cell, message):
    result = run_cell(ip, cell)
    out = capsys.readouterr()
    assert isinstance(result.error_in_exec, UsageError)
    assert message in str(result.error_in_exec)
    assert "Traceback" not in out.out + out.err
    assert server.state.chats() == []


def _error_output(result, capsys) -> str:
    text = capsys.readouterr()
    assert "Traceback" not in text.out + text.err
    assert result.error_in_exec is not None
    return str(result.error_in_exec)


def test_server_down_names_the_host(ip, capsys):
    result = run_cell(ip, "%%ollama -m llama3.2 --host http://127.0.0.1:9\nhi")
    message = _error_output(result, capsys)
    assert isinstance(result.error_in_exec, errors.ServerUnreachable)
    assert "http://127.0.0.1:9" in message and "ollama serve" in message and "OLLAMA_HOST" in message


def test_server_down_without_streaming_too(ip, capsys):
    result = run_cell(ip, "%%ollama -m llama3.2 --no-stream --host http://127.0.0.1:9\nhi")
    assert "Could not reach Ollama at http://127.0.0.1:9" in _error_output(result, capsys)


def test_unknown_model_lists_what_the_server_has(ip, capsys):
    result = run_cell(ip, "%%ollama -m llama9\nhi")
    message = _error_output(result, capsys)
    assert "'llama9'" in message and "ollama pull llama9" in message
    assert "llama3.2:latest" in message and "qwen3:latest" in message


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (
            "%%ollama -m llama3.2 --think\nhi",
            "llama3.2 cannot use thinking (its capabilities: completion, tools)",
        ),
        (
            "%%ollama -m gemma:2b --tools len_of\nhi",
            "gemma:2b cannot use tools (its capabilities: completion)",
        ),
    ],
)
def test_what_a_model_cannot_do_is_said_before_sending(ip, server, capsys, cell, message):
    ip.user_ns["len_of"] = lambda text: len(text)
    ip.user_ns["len_of"].__annotations__ = {"text": str}
    result = run_cell(ip, cell)
    assert isinstance(result.error_in_exec, ollama_nb.CapabilityError)
    assert message in _error_output(result, capsys)
    assert server.state.chats() == []


def test_server_refusals_are_said_plainly(ip, capsys):
    """A server whose /api/show gives no capabilities: its own 400 is the message."""
    with StandInServer(models=(Model("tiny:latest", "tiny", "1B", ()),)) as old:
        result = run_cell(ip, f"%%ollama -m tiny --think --host {old.url}\nhi")
    assert isinstance(result.error_in_exec, errors.ServerError)
    assert '"tiny" does not support thinking' in _error_output(result, capsys)


def test_mid_stream_error_keeps_what_arrived(ip, server, capsys):
    server.push(Turn(content=["one ", "two ", "three ", "four"], error_after=3, error="out of memory"))
    result = run_cell(ip, "%%ollama -m llama3.2\ncount")
    captured = capsys.readouterr().out
    reply = ip.user_ns["_ollama"]
    assert reply.content == "one two three " and "out of memory" in reply.error
    assert "one two three" in captured and "[error]" in captured
    assert isinstance(result.error_in_exec, errors.StreamBroken)


def test_dropped_connection_keeps_what_arrived(ip, server, capsys):
    server.push(Turn(content=["Half ", "an ", "answer"], disconnect_after=2))
    result = run_cell(ip, "%%ollama -m llama3.2\ncount")
    reply = ip.user_ns["_ollama"]
    assert reply.content == "Half an " and "dropped" in reply.error
    assert "Half an" in capsys.readouterr().out
    assert isinstance(result.error_in_exec, errors.StreamBroken)


def test_interrupt_keeps_the_partial_answer_and_closes_the_stream(ip, server, capsys):
    server.push(Turn(content="word " * 400, delay=0.01), Turn(content="Next cell is fine."))
    threading.Timer(0.5, _thread.interrupt_main).start()
    result = run_cell(ip, "%%ollama -m llama3.2\nramble")
    reply = ip.user_ns["_ollama"]
    assert reply.interrupted and 0 < len(reply.content) < len("word " * 400)
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert "Interrupted" in capsys.readouterr().out
    deadline = time.monotonic() + 3
    while not server.requests[-1].hung_up and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.requests[-1].hung_up  # the HTTP stream was closed, the server stopped
    assert run_cell(ip, "%%ollama -m llama3.2\nagain").success
    assert ip.user_ns["_ollama"].content == "Next cell is fine."


def test_model_html_is_not_interpreted_in_plain_text(ip, server, capsys):
    server.push(Turn(content="<b>bold?</b>"))
    run_cell(ip, "%%ollama -m llama3.2\nhi")
    assert "<b>bold?</b>" in capsys.readouterr().out


def test_line_magic_takes_a_prompt(ip, server):
    server.push(Turn(content="Because of Rayleigh scattering."))
    run_cell(ip, '%ollama -m llama3.2 "Why is the sky blue?"')
    assert server.state.chats()[0]["messages"][-1]["content"] == "Why is the sky blue?"
    assert ip.user_ns["_ollama"].content == "Because of Rayleigh scattering."


def test_text_held_back_for_a_think_tag_is_kept_when_the_stream_breaks(ip, server):
    server.push(Turn(content=["Less than ", "<"], error_after=2, error="gone"))
    run_cell(ip, "%%ollama -m llama3.2\ncompare")
    assert ip.user_ns["_ollama"].content == "Less than <"


def test_options_newer_than_the_client_are_sent_typed_and_unknown_ones_with_a_notice(ip, server, capsys):
    run_cell(ip, "%%ollama -m llama3.2 -o min_p=0.05 -o draft_num_predict=4 -o num_ctx=4096.0 -o stop=END "
                 "-o brand_new=7\nhi")  # fmt: skip
    sent = chat_requests(server)[-1]["options"]
    assert sent == {"min_p": 0.05, "draft_num_predict": 4, "num_ctx": 4096, "stop": ["END"], "brand_new": 7}
    assert type(sent["num_ctx"]) is int
    out = capsys.readouterr().out
    assert "'brand_new' is not one ollama_nb knows" in out and "min_p" not in out


def test_a_prompt_that_starts_with_a_subcommand_word_is_not_taken_for_it(ip, server, capsys):
    result = run_cell(ip, "%ollama use the word sun in a sentence")
    assert isinstance(result.error_in_exec, UsageError)
    message = str(result.error_in_exec)
    assert "\n" not in message and "unrecognized arguments: word sun in a sentence" in message
    assert 'quote it: %ollama -m MODEL "use the word sun in a sentence"' in message
    assert api.defaults.model is None and server.state.chats() == []
    run_cell(ip, '%ollama -m llama3.2 "use the word sun in a sentence"')
    run_cell(ip, "%ollama use llama3.2")
    run_cell(ip, "%ollama 'models: which is best?'")
    prompts = [b["messages"][-1]["content"] for b in server.state.chats()]
    assert prompts == ["use the word sun in a sentence", "models: which is best?"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("%ollama models please", "unrecognized arguments: please"),
        ("%ollama schema", "the following arguments are required: FUNCTION"),
        ("%ollama history a b", "unrecognized arguments: b"),
        ("%ollama help me", "unrecognized arguments: me"),
    ],
)
def test_each_subcommand_parses_its_own_arguments(ip, server, line, message):
    error = run_cell(ip, line).error_in_exec
    assert isinstance(error, UsageError) and message in str(error) and "(usage: %ollama " in str(error)
    assert server.state.chats() == []


def test_subcommands_run_from_the_table(ip, server, capsys):
    run_cell(ip, 'def len_of(text: str) -> int:\n    """The length of a text."""\n    return len(text)')
    run_cell(ip, "%ollama schema len_of")
    run_cell(ip, "%ollama config num_ctx=4096")
    run_cell(ip, "%ollama history lesson")
    run_cell(ip, "%ollama reset lesson")
    out = capsys.readouterr().out
    assert '"name": "len_of"' in out and '"num_ctx": 4096' in out and "Conversation 'lesson' is empty." in out
    api.defaults.options = {}


def test_help_shows_option_groups_and_subcommands(ip, capsys):
    ip.run_line_magic("pinfo", "%%ollama")
    out = capsys.readouterr().out
    for group in ("Model and server:", "Prompt:", "Tools:", "Output:"):
        assert group in out
    assert out.index("Model and server:") < out.index("Prompt:") < out.index("Tools:") < out.index("Output:")
    assert "%ollama use MODEL" in out and "Set the default model" in out
    assert "%ollama export PATH [VAR]" in out

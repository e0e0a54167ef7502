"""What a careless notebook or machine sends: each is one line that says what to do, never a
traceback; ``_ollama`` is always this cell's reply; secrets never shown; loopback never proxied."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

import ollama_nb
from ollama_nb.hosts import endpoint, mask, proxy_for
from ollama_nb.ollama_backend import OllamaBackend, _transport_error

from .conftest import chat_requests, run_cell


@pytest.mark.parametrize("value", ["'/no/such/picture.png'", "5"])
def test_an_image_variable_that_is_no_image_is_one_line(ip, server, value):
    ip.user_ns["picture"] = eval(value)
    result = run_cell(ip, "%%ollama -m llama3.2 --image picture\nWhat is this?")
    error = result.error_in_exec
    assert isinstance(error, ollama_nb.InputError) and "image" in str(error) and "\n" not in str(error)
    assert ip.user_ns["_ollama"].trace.prompt == "What is this?" and ip.user_ns["_ollama"].status == "error"
    assert chat_requests(server) == []


@pytest.mark.parametrize("host", ["[::1", "http://[::1", "http://localhost:99999"])
def test_a_broken_host_is_one_line_and_the_reply_is_this_cells(ip, host):
    ip.user_ns["_ollama"] = "an older value"
    result = run_cell(ip, f"%%ollama -m llama3.2 --host {host}\nhi")
    assert isinstance(result.error_in_exec, ollama_nb.ServerUnreachable)
    assert "\n" not in str(result.error_in_exec)
    assert isinstance(ip.user_ns["_ollama"], ollama_nb.Reply) and ip.user_ns["_ollama"].error


def test_a_password_in_the_host_is_never_shown(ip):
    result = run_cell(ip, "%%ollama -m llama3.2 --host http://alice:s3cret@[::1\nhi")
    assert "s3cret" not in str(result.error_in_exec) and "alice:***@" in str(result.error_in_exec)
    assert mask("https://bob:hunter2@example.org/x") == "https://bob:***@example.org/x"
    result = run_cell(ip, "%%ollama -m llama3.2 --host http://alice:s3cret@127.0.0.1:9\nhi")
    assert "s3cret" not in str(result.error_in_exec) and "s3cret" not in repr(ip.user_ns["_ollama"])


def test_the_api_key_goes_over_https_only(ip, monkeypatch):
    monkeypatch.setenv("OLLAMA_API_KEY", "sk-secret")
    result = run_cell(ip, "%%ollama -m gpt-oss:120b --host http://ollama.com\nhi")
    assert isinstance(result.error_in_exec, ollama_nb.AuthError)
    assert "https" in str(result.error_in_exec) and "sk-secret" not in str(result.error_in_exec)


def test_a_line_prompt_ending_in_a_question_mark_reaches_the_magic(ip, server, capsys):
    ip.run_cell("%ollama render -m llama3.2 What is the capital of Peru?")
    shown = capsys.readouterr().out
    assert "not found" not in shown
    assert server.requests[-1].body.get("_debug_render_only") is True
    assert server.requests[-1].body["messages"][-1]["content"] == "What is the capital of Peru?"


def test_a_line_prompt_keeps_double_braces_for_ollama_nb(ip, server):
    ip.user_ns["x"] = 41
    run_cell(ip, '%ollama -m llama3.2 "what is {{x}} plus one"')
    assert chat_requests(server)[-1]["messages"][-1]["content"] == "what is 41 plus one"


def test_a_proxy_scheme_httpx_refuses_does_not_break_a_loopback_host(server):
    code = (
        "import ollama_nb\n"
        f"print(ollama_nb.chat('hi', model='llama3.2', host={server.url!r}, display='none').content)\n"
    )
    for proxy in ({"HTTP_PROXY": "ftp://127.0.0.1:9"}, {"ALL_PROXY": "socks4://127.0.0.1:9"}):
        env = {**os.environ, **proxy}
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
        )
        assert done.returncode == 0 and done.stdout.strip() == "OK.", (proxy, done.stderr[-1500:])


def test_loopback_by_any_name_skips_the_proxy(server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    port = server.url.rsplit(":", 1)[1]
    reply = ollama_nb.chat("hi", model="llama3.2", host=f"http://127.1:{port}", display="none")
    assert reply.content == "OK." and proxy_for(endpoint(f"127.1:{port}")) is None


def test_a_dead_proxy_is_named_not_blamed_on_ollama(monkeypatch):
    """Pure: nothing is sent; the address is never contacted."""
    monkeypatch.setenv("HTTP_PROXY", "http://carol:pw@127.0.0.1:9")
    backend = OllamaBackend("http://192.0.2.1:11434")
    assert backend.proxy == "http://carol:***@127.0.0.1:9"
    message = str(_transport_error(httpx.ConnectError("refused"), backend))
    assert "proxy http://carol:***@127.0.0.1:9" in message and "ollama serve" not in message


def test_https_to_a_plain_http_server_is_named(server):
    port = server.url.rsplit(":", 1)[1]
    with pytest.raises(ollama_nb.ServerUnreachable, match="plain http, not https"):
        ollama_nb.chat("hi", model="llama3.2", host=f"https://127.0.0.1:{port}", display="none")


def test_a_wrong_option_in_chat_is_an_option_error_in_chats_terms(server):
    with pytest.raises(
        ollama_nb.OptionError, match=r"takes a whole number.*options=\{'num_ctx': \.\.\.\}"
    ) as caught:
        ollama_nb.chat("hi", model="llama3.2", host=server.url, options={"num_ctx": "abc"}, display="none")
    assert caught.value.key == "num_ctx" and server.state.chats() == []

"""Today's Ollama: request fields, hosts, credentials, proxies, timeouts, and answers that are not
Ollama's. Real HTTP throughout: the stand-in, or a loopback server scripted byte by byte."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest

import ollama_nb
from ollama_nb import api
from ollama_nb.hosts import endpoint
from ollama_nb.standin import Turn

from .conftest import chat_requests, run_cell
from .rawserver import Answer, RawServer, chunk


@pytest.mark.parametrize(
    ("written", "url"),
    [
        (None, "http://127.0.0.1:11434"),
        (":5000", "http://127.0.0.1:5000"),
        ("0.0.0.0", "http://127.0.0.1:11434"),  # a bind address: this machine's loopback
        ("0.0.0.0:8080", "http://127.0.0.1:8080"),
        ("ollama.com", "https://ollama.com:443"),
        ("https://ollama.com", "https://ollama.com:443"),
        ("[::1]:5000", "http://[::1]:5000"),
        ("example.com", "http://example.com:11434"),
        ("http://example.com", "http://example.com:80"),
        ("example.com:5000/ollama/", "http://example.com:5000/ollama"),
    ],
)
def test_hosts_are_read_as_ollama_reads_them(written, url, monkeypatch):
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert endpoint(written).url == url


def test_basic_auth_in_the_host_is_sent_not_dropped():
    with RawServer() as raw:
        host = raw.url.replace("http://", "http://ada:s3cret@")
        reply = api.chat("hi", model="m", host=host, display="none")
    assert reply.content == "ok"
    sent = raw.requests[0]["headers"].get("Authorization")
    assert sent == "Basic " + base64.b64encode(b"ada:s3cret").decode()


def test_the_api_key_goes_only_where_it_belongs(monkeypatch):
    monkeypatch.setenv("OLLAMA_API_KEY", "k-123")
    with RawServer() as raw:
        api.chat("hi", model="m", host=raw.url, display="none")
        assert "authorization" not in _headers(raw)  # not to a host it is not for
        api.chat("hi", model="m", host=raw.url, api_key="k-local", display="none")
        assert _headers(raw)["authorization"] == "Bearer k-local"  # asked for
    cloud = api.connect("ollama.com")  # read when the cell runs, not cached from the first call
    assert cloud.client._client.headers["authorization"] == "Bearer k-123"
    monkeypatch.setenv("OLLAMA_API_KEY", "k-456")
    assert api.connect("ollama.com").client._client.headers["authorization"] == "Bearer k-456"


def _headers(raw: RawServer) -> dict[str, str]:
    return {k.lower(): v for k, v in raw.requests[-1]["headers"].items()}


def test_a_refused_key_says_what_to_do():
    unauthorized = Answer(401, "application/json", [json.dumps({"error": "unauthorized"})])
    with RawServer(unauthorized) as raw, pytest.raises(ollama_nb.AuthError, match="ollama signin"):
        api.chat("hi", model="m", host=raw.url, display="none")


def test_a_loopback_server_is_reached_past_proxy_settings(server, monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    assert api.chat("hi", model="llama3.2", host=server.url, display="none").content == "OK."


@pytest.mark.parametrize(
    ("proxy", "said"),
    [
        ("socks4://127.0.0.1:9", "proxy settings cannot be used"),  # a scheme httpx refuses
        # without httpx's socks extra it cannot be used; with it, nothing listens there
        (
            "socks5h://127.0.0.1:9",
            "proxy settings cannot be used|The proxy socks5h://127.0.0.1:9 did not take",
        ),
    ],
)
def test_a_proxy_the_client_cannot_use_is_one_line(monkeypatch, proxy, said):
    monkeypatch.setenv("ALL_PROXY", proxy)
    with pytest.raises(ollama_nb.OllamaNbError, match=said) as caught:
        api.chat("hi", model="m", host="http://192.0.2.1:11434", display="none")
    assert "\n" not in str(caught.value)


def test_connecting_has_a_short_timeout_and_reading_none_by_default():
    timeout = api.connect("http://127.0.0.1:9").client._client.timeout
    assert (timeout.connect, timeout.read) == (5.0, None)


def test_a_silent_server_is_given_up_after_the_configured_timeout():
    silent = Answer(lines=[chunk("Half an ans")], hold=5)
    api.defaults.timeout = 0.5
    try:
        with (
            RawServer(silent) as raw,
            pytest.raises(ollama_nb.StreamBroken, match=r"sent nothing for 0\.5 s") as e,
        ):
            api.chat("hi", model="m", host=raw.url, display="none")
    finally:
        api.defaults.timeout = None
    assert e.value.reply.content == "Half an ans"  # what arrived is kept


def test_stop_ends_the_wait_for_the_first_chunk():
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with RawServer(Answer(hold=10)) as raw, pytest.raises(ollama_nb.Interrupted):
        api.chat("hi", model="m", host=raw.url, display="none", cancel=cancel)
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (
            # (a 502, 503 or 504 page is a proxy's with no server free: asked again, tests/test_class.py)
            Answer(500, "text/html", ["<!DOCTYPE html><html><body>Internal error</body></html>"]),
            "An HTML page came from",
        ),
        (
            Answer(200, "text/html", ["<html><body>Sign in to the Wi-Fi</body></html>"]),
            "An HTML page came from",
        ),
        (Answer(lines=[chunk("Hello"), "this is not json"]), "Text that is not JSON"),
        (Answer(lines=[chunk("Hello"), chunk(5)]), "'content' is a int"),
        (
            Answer(lines=[chunk("Hello"), json.dumps({"model": "m", "message": None, "done": False})]),
            "'message' is null",
        ),
        (Answer(lines=[chunk("Hello"), "[1, 2]"]), "not a JSON object"),
    ],
)
def test_answers_that_are_not_ollamas_are_one_line_and_keep_what_arrived(ip, answer, says):
    with RawServer(answer) as raw:
        result = run_cell(ip, f"%%ollama -m m --host {raw.url}\nhi")
    assert isinstance(result.error_in_exec, ollama_nb.NotOllama)
    assert says in str(result.error_in_exec) and "is that ollama?" in str(result.error_in_exec).lower()
    assert "\n" not in str(result.error_in_exec)
    reply = ip.user_ns["_ollama"]
    assert reply.error and reply.content == ("" if answer.content_type == "text/html" else "Hello")


def test_a_stream_without_its_done_line_is_not_a_success(ip):
    with RawServer(Answer(lines=[chunk("All of it?")])) as raw:
        result = run_cell(ip, f"%%ollama -m m --host {raw.url}\nhi")
    assert isinstance(result.error_in_exec, ollama_nb.StreamBroken)
    assert "without Ollama's closing line" in str(result.error_in_exec)
    assert ip.user_ns["_ollama"].content == "All of it?" and not ip.user_ns["_ollama"].ok


def test_an_impossible_port_is_one_line(ip):
    result = run_cell(ip, "%%ollama -m m --host http://127.0.0.1:99999\nhi")
    assert isinstance(result.error_in_exec, ollama_nb.ServerUnreachable)
    assert "valid port" in str(result.error_in_exec)


def test_a_cut_answer_is_marked_as_cut(ip, server):
    server.push(Turn(content="The list goes on and", done_reason="length"))
    run_cell(ip, "%%ollama -m llama3.2 -o num_predict=5\nList every prime.")
    reply = ip.user_ns["_ollama"]
    assert reply.truncated and not reply.ok and reply.content == "The list goes on and"


def test_new_request_fields_reach_the_server(server):
    api.chat("hi", model="qwen3", host=server.url, display="none", think="max", keep_alive="-1",
             truncate=False, shift=False, logprobs=True, top_logprobs=3)  # fmt: skip
    sent = chat_requests(server)[-1]
    assert {k: sent[k] for k in ("think", "keep_alive", "truncate", "shift", "logprobs", "top_logprobs")} == {
        "think": "max", "keep_alive": -1, "truncate": False, "shift": False, "logprobs": True, "top_logprobs": 3}  # fmt: skip


def test_logprobs_are_kept_on_the_reply():
    line = chunk("Hi", logprobs=[{"token": "Hi", "logprob": -0.1, "top_logprobs": []}])
    with RawServer(Answer(lines=[line, chunk("", done=True)])) as raw:
        reply = api.chat("hi", model="m", host=raw.url, display="none", logprobs=True)
    assert reply.logprobs == [{"token": "Hi", "logprob": -0.1, "top_logprobs": []}]


def test_models_use_the_capabilities_in_tags_when_present():
    tags = {"models": [{"name": "a:latest", "model": "a:latest", "size": 1, "details": {"family": "x"},
                        "capabilities": ["completion", "tools"], "context_length": 8192}]}  # fmt: skip
    with RawServer(Answer(200, "application/json", [json.dumps(tags)])) as raw:
        (model,) = api.connect(raw.url).models()
    assert [r["path"] for r in raw.requests] == ["/api/tags"]  # one request, no /api/show
    assert (model.capabilities, model.context_length) == (frozenset({"completion", "tools"}), 8192)


def test_importing_the_package_loads_no_jupyter_package():
    import subprocess
    import sys

    code = "import ollama_nb, sys; print(sorted(m for m in ('ipywidgets', 'IPython', 'nbformat') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"ALL_PROXY": "socks5h://127.0.0.1:9", "PATH": "/usr/bin"})  # fmt: skip
    assert out.stdout.strip() == "[]"  # and no ImportError from the proxy setting either

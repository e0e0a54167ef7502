"""A class on one server: the wait before the first byte is shown, busy answers are asked again
(visibly, within limits, never after text arrived), and every request of a conversation carries
the same opaque id for a load balancer. Against the stand-in, through the real client."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator

import pytest

import ollama_nb
from ollama_nb import api, phases
from ollama_nb.plain import PlainView
from ollama_nb.render import MIME
from ollama_nb.settings import Defaults, defaults
from ollama_nb.standin import StandInServer, Turn
from ollama_nb.standin.script import BUSY
from ollama_nb.stream import Metrics
from ollama_nb.trace import ModelTurn

from .conftest import run_cell
from .real import Kernel

HEADER = "x-ollama-nb-conversation"


@pytest.fixture
def settings() -> Iterator[Defaults]:
    """The defaults, put back as they were after the test."""
    saved = defaults.settings
    yield defaults
    defaults.settings = saved


def _ask(server: StandInServer, model: str = "llama3.2", **kwargs: object) -> tuple[ollama_nb.Reply, str]:
    out = io.StringIO()
    reply = api.chat("hi", model=model, host=server.url, view=PlainView(model, out), **kwargs)  # type: ignore[arg-type]
    return reply, out.getvalue()


def _conversation_ids(server: StandInServer) -> list[str | None]:
    return [next((v for k, v in r.headers.items() if k.lower() == HEADER), None) for r in server.requests]


def test_a_full_queue_is_asked_again_and_says_so(server):
    server.push(Turn.busy(), Turn(content="Here it is."))
    reply, shown = _ask(server)
    assert reply.content == "Here it is." and reply.ok
    assert f"server busy (503: {BUSY}); trying again in" in shown and "(1 of 5)" in shown
    assert reply.trace.notices[0].text.startswith("server busy (503: ")  # kept in the output
    assert len(server.state.chats()) == 2


def test_a_proxys_bad_gateway_page_is_asked_again(server):
    server.push(Turn.bad_gateway(), Turn(content="Through."))
    reply, shown = _ask(server)
    assert reply.content == "Through." and "server busy (502: Bad Gateway); trying again" in shown


def test_retry_after_is_honoured(server):
    server.push(Turn.rate_limited(retry_after="2"), Turn(content="Now then."))
    reply, shown = _ask(server)
    first, second = (r for r in server.requests if r.path == "/api/chat")
    assert second.received_at - first.received_at >= 2.0  # not asked again sooner than the server said
    assert "too many requests (429: too many requests); trying again in 2 s (1 of 5)" in shown
    assert reply.content == "Now then."


def test_a_server_still_busy_after_the_retries_is_one_line_in_its_words(server, settings):
    settings.retries, settings.retry_max_wait = 1, 60
    server.push(Turn.busy(), Turn.busy(), Turn(content="never asked"))
    with pytest.raises(ollama_nb.ServerBusy) as failed:
        _ask(server)
    assert str(failed.value).startswith(f"Ollama said (503): {BUSY} (still busy after 1 retry over ")
    assert "%ollama config retries=N retry_max_wait=SECONDS" in str(failed.value)
    assert len(server.state.chats()) == 2


def test_no_retries_when_set_to_none(server, settings):
    settings.retries = 0
    server.push(Turn.busy(), Turn(content="never asked"))
    with pytest.raises(ollama_nb.ServerError, match=re.escape(f"Ollama said (503): {BUSY}")):
        _ask(server)
    assert len(server.state.chats()) == 1


@pytest.mark.parametrize("broken", [Turn(content="Half of an answer that", disconnect_after=3),
                                    Turn(content="Half of an answer that", error_after=3, error="runner died")])  # fmt: skip
def test_a_stream_that_broke_after_some_text_is_never_sent_again(server, broken):
    server.push(broken, Turn(content="A second answer nobody asked for."))
    with pytest.raises(ollama_nb.StreamBroken) as failed:
        _ask(server)
    assert (
        failed.value.reply is not None and failed.value.reply.content == "Half of an "
    )  # what arrived stays
    assert len(server.state.chats()) == 1


def test_stop_ends_the_wait_between_retries(server):
    server.push(Turn.busy(retry_after="30"), Turn(content="never asked"))
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    with pytest.raises(ollama_nb.Interrupted):
        _ask(server, cancel=cancel)
    assert len(server.state.chats()) == 1


def test_the_wait_for_a_slot_is_said_and_named(server):
    server.push(Turn(content="Sorry for the wait.", queued=2.5))
    reply, shown = _ask(server)
    assert "waiting for the server (other requests ahead, or the model loading)…" in shown
    assert reply.metrics.wait_s >= 2.0 and reply.trace.turns[0].wait_s == pytest.approx(reply.metrics.wait_s)
    assert re.search(r"waited 2\.\d\d s for the server", shown)  # in the status line
    assert "waiting for the server (other requests ahead, or busy)" in ollama_nb.render.static_html(reply)


def test_the_read_timeout_is_for_silence_after_the_first_byte_and_the_queue_has_its_own(server, settings):
    settings.timeout = 0.5  # a queued request is not taken for a dead server
    server.push(Turn(content="Worth the wait.", queued=1.5))
    assert _ask(server)[0].content == "Worth the wait."
    settings.queue_timeout = 0.5
    server.push(Turn(content="Too late.", queued=3))
    with pytest.raises(ollama_nb.ServerBusy, match=r"had not begun to answer after 0\.5 s .*queue_timeout="):
        _ask(server)


def test_every_request_of_a_conversation_carries_its_id_and_never_its_name(server):
    server.push(Turn(content="One."), Turn(content="Two."))
    for _ in range(2):  # the chat, the capability check (/api/show), the render, the meter (/api/ps)
        _ask(server, "qwen3", chat="alice-homework", think=True, render=True)
    ids = _conversation_ids(server)
    paths = {r.path for r in server.requests}
    assert {"/api/chat", "/api/show", "/api/ps"} <= paths
    assert set(ids) == {api.conversation("alice-homework").id}  # all of them, one id
    assert "alice" not in ids[0] and len(ids[0]) == 32
    server.requests.clear()
    _ask(server, chat="bob")
    _ask(server)
    _ask(server)
    other, alone, again = _conversation_ids(server)[0::2][:3]
    assert len({other, alone, again, ids[0]}) == 4  # a cell on its own has an id of its own


def test_a_kernel_shows_the_wait_live_then_keeps_it(server):
    server.push(Turn(content="Sorry for the wait.", queued=3.5))
    kernel = Kernel(server.url)
    try:
        run = kernel.run("%%ollama -m llama3.2\nhi")
    finally:
        kernel.close()
    assert not run.errors
    said = [m["content"]["data"]["state"]["value"] for m in run.of("comm_msg")
            if "waiting for the server" in (m["content"]["data"].get("state", {}).get("value") or "")]  # fmt: skip
    ticks = [int(n) for text in said for n in re.findall(r"waiting for the server: (\d+) s: ", text)]
    assert ticks == sorted(ticks) and ticks[0] in (1, 2) and ticks[-1] >= 3  # counted up, every second
    assert "other requests ahead, or the model loading" in said[0]
    final = run.final
    assert re.search(r"waited 3\.\d\d s for the server", final["text/plain"])
    assert final[MIME]["metrics"]["wait_duration"] >= 3e9


def test_a_proxy_still_without_a_server_is_named_not_taken_for_ollama(server, settings):
    settings.retries = 1
    server.push(Turn.bad_gateway(), Turn.bad_gateway())
    with pytest.raises(
        ollama_nb.ServerBusy, match=re.escape(f"{server.url} said (502): Bad Gateway (still busy")
    ):
        _ask(server)


def test_the_class_settings_are_set_with_config_and_bad_values_are_one_line(ip, settings):
    run_cell(ip, "%ollama config retries=2 retry_max_wait=10 queue_timeout=30")
    assert (settings.retries, settings.retry_max_wait, settings.queue_timeout) == (2, 10, 30.0)
    result = run_cell(ip, "%ollama config retries=many")
    assert "retries='many'" in str(result.error_in_exec) and settings.retries == 2
    run_cell(ip, "%ollama config queue_timeout=none shared=true")
    assert settings.queue_timeout is None and settings.shared


def test_the_timeline_names_the_wait_between_loading_and_reading_the_prompt():
    # 3 s queued behind the others: Ollama's total counts it, no other duration does
    metrics = Metrics(total_duration=6_600_000_000, load_duration=500_000_000, prompt_eval_count=400,
                      prompt_eval_duration=2_000_000_000, eval_count=50, eval_duration=1_000_000_000)  # fmt: skip
    turn = ModelTurn(0, "qwen3", 0.0, duration_s=6.65, metrics=metrics, first_token_s=5.55, wait_s=3.0)
    found = [(p.name, round(p.start_s, 2), round(p.duration_s, 2)) for p in phases.phases(turn)]
    assert found[:3] == [("load", 0.0, 0.5), ("wait", 0.5, 3.0), ("prompt", 3.5, 2.0)]
    assert "waiting for the server (other requests ahead, or busy): 3.00 s · reading" in phases.describe(turn)


# -- the reload a cell causes for everyone ------------------------------------------------------
def test_a_cell_that_reloads_the_model_for_everyone_says_so_before_its_answer(server):
    _ask(server)  # loaded with the server's context length (4096)
    reply, shown = _ask(server, options={"num_ctx": 8192})
    (notice,) = reply.trace.notices
    assert notice.text.startswith("This cell sets num_ctx=8192, but llama3.2 is loaded on http://127.0.0.1:")
    assert (
        "with a context of 4096: sending it reloads the model for everyone using that server" in notice.text
    )
    assert "OLLAMA_CONTEXT_LENGTH=8192" in notice.text and notice.text in shown
    assert reply.content  # said, then asked
    quiet, _ = _ask(server, options={"num_ctx": 8192})  # the same as loaded now: nothing to say
    assert not quiet.trace.notices
    maybe, _ = _ask(server, options={"num_ctx": 8192, "num_batch": 64})
    assert maybe.trace.notices[0].text.startswith("This cell sets num_batch: if llama3.2 runs on")


def test_a_shared_server_refuses_a_reload_unless_forced(server):
    _ask(server)
    before = len(server.state.chats())
    with pytest.raises(ollama_nb.SharedServer) as refused:
        _ask(server, options={"num_ctx": 16384}, shared=True)
    assert str(refused.value).endswith("Not sent (shared=true): add --force to send it anyway.")
    assert len(server.state.chats()) == before  # nothing was sent
    forced, _ = _ask(server, options={"num_ctx": 16384}, shared=True, force=True)
    assert forced.content and "reloads the model for everyone" in forced.trace.notices[0].text


def test_shared_in_a_notebook_is_one_line_and_force_sends_it(ip, server, settings):
    run_cell(ip, "%%ollama -m llama3.2\nhi")
    run_cell(ip, "%ollama config shared=true")
    refused = run_cell(ip, "%%ollama -m llama3.2 -o num_ctx=8192\nhi")
    assert isinstance(refused.error_in_exec, ollama_nb.SharedServer)
    assert "\n" not in str(refused.error_in_exec) and "add --force" in str(refused.error_in_exec)
    forced = run_cell(ip, "%%ollama -m llama3.2 -o num_ctx=8192 --force\nhi")
    assert forced.error_in_exec is None and ip.user_ns["_ollama"].content

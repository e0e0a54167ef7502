"""The context meter: measured from the done lines and the server's context length, saved with the
reply, followed across a conversation, and put in words when a prompt or an answer was cut."""

from __future__ import annotations

import json

import pytest

import ollama_nb
from ollama_nb import context
from ollama_nb.standin import Turn
from ollama_nb.trace import ContextUse

from .conftest import run_cell


def use(prompts: list[int], answer: int = 10, limit: int | None = 4096, **kw) -> ContextUse:
    return ContextUse(prompts=prompts, answer_tokens=answer, limit=limit, source="num_ctx", **kw)


# -- in words -----------------------------------------------------------------------------------
def test_a_prompt_at_the_limit_was_cut_and_the_warning_says_what_to_do():
    (text,) = context.warnings(use([4096]), chat="notes")
    assert "did not fit" in text and "4,096 tokens" in text
    assert "-o num_ctx=16384" in text and "%ollama reset notes" in text


def test_a_prompt_smaller_than_the_turn_before_lost_its_oldest_messages():
    shrunk = use([1800], previous_prompt=3900)
    (text,) = context.warnings(shrunk, chat="notes")
    assert "took 1,800 tokens, but the turn before took 3,900" in text and "oldest messages" in text
    within_a_cell = use([900, 1200, 700])  # a tool loop whose third request was cut
    assert context.prompt_shrank(within_a_cell) == (1200, 700)


def test_an_answer_cut_by_num_predict_or_by_the_context_says_which():
    by_predict = use([20], answer=5, done_reason="length", num_predict=5)
    assert context.warnings(by_predict) == [
        "The answer was cut off at num_predict=5 tokens: raise it with -o num_predict=20, or leave it out."
    ]
    (by_context,) = context.warnings(use([4000], answer=96, done_reason="length"))
    assert "reached the end of the 4,096-token context" in by_context and "-o num_ctx=" in by_context


def test_a_healthy_context_says_nothing_and_a_nearly_full_conversation_warns_ahead():
    assert context.warnings(use([500], answer=100)) == []
    assert context.warnings(use([3600], answer=200)) == []  # one-off: no next turn to spoil
    (ahead,) = context.warnings(use([3600], answer=200), chat="notes")
    assert "93 % full" in ahead and "next turn of 'notes'" in ahead


def test_the_meter_reads_as_numbers_and_a_bar_that_survive_plain_text():
    full = use([3800], answer=100)
    assert context.meter_text(full) == "3,900 / 4,096 tokens · 95 %"
    assert context.summary(full) == "context ██████████ 3,900 / 4,096 tokens · 95 %"
    assert context.bar(0.42) == "████░░░░░░"
    assert context.meter_text(use([10], limit=None)) == "20 tokens in context (its length is unknown)"
    assert context.trend_text(use([2000], answer=48, trend=[512, 1024])) == "12 % → 25 % → 50 %"


def test_a_server_refusal_for_length_is_one_line_with_what_to_do():
    body = {"options": {"num_ctx": 256}, "truncate": False}
    line = context.refusal("the input length exceeds the context length", body)
    assert line is not None and "\n" not in line
    assert "num_ctx=256" in line and "--strict-context" in line and "-o num_ctx=512" in line
    assert context.refusal("model 'x' not found", body) is None


# -- measured through the real client against the stand-in --------------------------------------
def test_every_answer_carries_its_meter_with_the_servers_context_length(server):
    reply = ollama_nb.chat("Hello there", model="llama3.2", host=server.url, display="none")
    meter = reply.context
    assert meter is not None and meter.source == "server" and meter.limit == 4096  # from /api/ps
    assert (
        meter.prompt_tokens == reply.metrics.prompt_eval_count
        and meter.answer_tokens == reply.metrics.eval_count
    )
    assert context.warnings(meter) == []
    sized = ollama_nb.chat(
        "Hello", model="llama3.2", host=server.url, display="none", options={"num_ctx": 2048}
    )
    assert (sized.context.limit, sized.context.source) == (2048, "server")
    saved = ollama_nb.Reply.from_record(json.loads(json.dumps(sized.to_record())))
    assert saved.context == sized.context  # the meter is in the saved output


def test_without_ps_the_meter_falls_back_to_num_ctx_then_the_models_maximum(server):
    class NoPs:
        """A backend for an older server: /api/ps does not answer (a real server's other answers)."""

        def __init__(self, real):
            self.real = real

        def running(self):
            raise ollama_nb.ServerError("Ollama said (404): 404 page not found")

        def show(self, model):
            return self.real.show(model)

    backend = NoPs(ollama_nb.connect(server.url))
    assert context.context_length(backend, "llama3.2", {"num_ctx": 1024}) == (1024, "num_ctx")
    assert context.context_length(backend, "llama3.2", {}) == (131072, "model")


def test_a_conversation_that_overflows_a_small_context_is_warned_about(ip, server):
    """Three cells of one conversation in a 64-token context: the stand-in drops the oldest
    messages as Ollama does, and the meter says so, with the trend across the cells."""
    for word in ("apples", "pears", "plums"):
        server.push(Turn(content="Noted. " * 3))
        result = run_cell(ip, f"import ollama_nb\n_ollama = ollama_nb.chat({f'{word} ' * 20!r}, model='llama3.2', "
                              "chat='small', options={'num_ctx': 64}, display='none')")  # fmt: skip
        assert result.success
    meter = ip.user_ns["_ollama"].context
    assert len(meter.trend) == 2 and meter.limit == 64
    assert context.prompt_cut(meter)
    (warning, *_) = context.warnings(meter, "small")
    assert "oldest messages" in warning and "%ollama reset small" in warning
    # the third prompt is no shorter than the second, but shorter than the second plus its answer
    # and the new prompt: messages were dropped all the same
    assert meter.prompt_tokens >= meter.previous_prompt
    assert f"the turn before took {meter.previous_prompt}" in warning and "needs at least" in warning


def test_strict_context_makes_the_server_refuse_in_one_line(server):
    body = "word " * 100
    with pytest.raises(ollama_nb.ContextFull) as caught:
        ollama_nb.chat(body, model="llama3.2", host=server.url, display="none", options={"num_ctx": 64},
                       strict_context=True)  # fmt: skip
    sent = server.state.chats()[-1]
    assert sent["truncate"] is False and sent["shift"] is False
    assert "does not fit in the context (num_ctx=64)" in str(caught.value) and "\n" not in str(caught.value)
    relaxed = ollama_nb.chat(body, model="llama3.2", host=server.url, display="none", options={"num_ctx": 64})
    assert relaxed.context.prompt_tokens == 64 and context.prompt_at_limit(relaxed.context)


def test_the_chat_box_shows_the_meter_under_each_reply(server):
    from ollama_nb import ChatWidget

    chat = ChatWidget(model="llama3.2", host=server.url)
    chat.ask("Hello", wait=True)
    chat.ask("And again", wait=True)
    status = chat.history.children[3].children[-1].value  # the second reply's status line
    assert 'class="ollama-nb-context"' in status and "/ 4,096 tokens · " in status
    assert " → " in status  # the conversation's trend, reply by reply

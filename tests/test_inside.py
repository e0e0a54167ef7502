"""Seeing inside the model: the prompt as the model reads it, where a turn's time went, token
probabilities, and variants side by side; through the real client, the stand-in and real kernels."""

from __future__ import annotations

import json
import re

import pytest

import ollama_nb
from ollama_nb import comparison, comparison_html, inside_html, options, phases
from ollama_nb.comparison import Variant
from ollama_nb.standin import StandInServer, Turn
from ollama_nb.stream import Metrics
from ollama_nb.trace import ModelTurn, RenderedPrompt

from .conftest import execute_notebook, quick

ADD = '''
def add_two_numbers(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b
'''


def live_html(html: str) -> list[str]:
    """Tags a browser would run or fetch with: what model text must never become."""
    return re.findall(
        r"<(?:script|img|iframe|object|embed)\b|<[a-z][^>]*\s(?:on\w+=|href=\W*javascript:)", html, re.I
    )


# -- what the model is sent ----------------------------------------------------------------------
def test_the_rendered_prompt_shows_system_tools_and_conversation(server):
    server.push(Turn(content="Not asked for."))

    def add_two_numbers(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    rendered = ollama_nb.render_prompt("What is 3 + 1?", model="llama3.2", host=server.url, system="Be exact.",
                                       tools=[add_two_numbers])  # fmt: skip
    text = rendered.text
    assert text.startswith("<|im_start|>system\nBe exact.")
    assert '"name": "add_two_numbers"' in text and "<tools>" in text
    assert text.endswith("<|im_start|>user\nWhat is 3 + 1?<|im_end|>\n<|im_start|>assistant\n")
    (sent,) = server.state.chats()
    assert sent["_debug_render_only"] is True and sent["stream"] is False
    assert sent["tools"][0]["function"]["name"] == "add_two_numbers"
    assert len(server.state.script) == 1  # nothing was generated: the scripted answer is still there


def test_render_with_the_answer_keeps_the_rendered_prompt_in_the_trace(server):
    reply = ollama_nb.chat("Hi", model="llama3.2", host=server.url, display="none", render=True)
    assert reply.rendered == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert [e.kind for e in reply.trace.entries][:2] == ["rendered", "turn"]
    assert ollama_nb.Reply.from_record(json.loads(json.dumps(reply.to_record()))).rendered == reply.rendered


def test_an_older_server_cannot_render_and_says_so_in_one_line_without_running_the_model():
    with StandInServer(responder=quick) as old:
        old.state.version = "0.9.6"
        with pytest.raises(ollama_nb.Unsupported) as caught:
            ollama_nb.render_prompt("Hi", model="llama3.2", host=old.url)
        assert "runs Ollama 0.9.6" in str(caught.value) and "0.11.5 or newer" in str(caught.value)
        assert old.state.chats() == []  # an old server would have run the model: nothing was sent
        reply = ollama_nb.chat("Hi", model="llama3.2", host=old.url, display="none", render=True)
        assert reply.content == "OK." and reply.rendered is None
        assert "cannot show the rendered prompt" in reply.trace.notices[0].text


def test_the_rendered_block_escapes_the_template_and_marks_its_tokens():
    html = inside_html.rendered_html(
        RenderedPrompt("<|im_start|>user\n<script>alert(1)</script><|im_end|>\n")
    )
    assert live_html(html) == [] and "&lt;script&gt;" in html
    assert html.count('class="ollama-nb-marker"') == 2 and "<details" in html


# -- where the time went -------------------------------------------------------------------------
def slow_turn() -> ModelTurn:
    """A real turn's shape: 0.5 s loading, 2 s reading 400 tokens, 1 s writing 50."""
    metrics = Metrics(total_duration=3_600_000_000, load_duration=500_000_000, prompt_eval_count=400,
                      prompt_eval_duration=2_000_000_000, eval_count=50, eval_duration=1_000_000_000)  # fmt: skip
    return ModelTurn(0, "qwen3", started_s=0.0, duration_s=3.65, metrics=metrics, first_token_s=2.55)


def test_a_turn_splits_into_loading_reading_and_writing():
    found = phases.phases(slow_turn())
    assert [(p.name, round(p.start_s, 2), round(p.duration_s, 2)) for p in found] == [
        ("load", 0.0, 0.5), ("prompt", 0.5, 2.0), ("other", 2.5, 0.1), ("writing", 2.6, 1.0), ("other", 3.6, 0.05),
    ]  # fmt: skip
    assert phases.describe(slow_turn()) == (
        "loading the model: 500.0 ms · reading the prompt: 400 tokens in 2.00 s (200.0/s) · first token at "
        "2.55 s · writing the answer: 50 tokens in 1.00 s (50.0/s)"
    )
    assert phases.phases(ModelTurn(0, "qwen3", 0.0)) == []  # a turn that did not finish


def test_the_timeline_shows_the_phases_of_each_turn_and_the_first_token(server):
    server.push(Turn(content="Let me add.", tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 2}}]),
                Turn(content="3"))  # fmt: skip

    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    reply = ollama_nb.chat("1+2?", model="llama3.2", host=server.url, display="none", tools=[add])
    svg = inside_html.timeline_svg(reply.trace)
    assert svg.count("<title>loading the model") == 2 and svg.count("<title>writing the answer") == 2
    assert svg.count("<title>first token at") == 2 and "<title>add:" in svg
    block = inside_html.time_html(reply.trace)
    assert "Timeline: where the time went" in block and "turn 2: loading the model" in block
    assert "times by the server&#x27;s own clock" in block  # the stand-in's figures are its own


# -- token probabilities -------------------------------------------------------------------------
def test_logprobs_are_asked_kept_and_shaded_with_alternatives_on_hover(server):
    server.push(Turn(content=["The", " <b>sky</b>", " is blue."]))
    reply = ollama_nb.chat(
        "Why?", model="llama3.2", host=server.url, display="none", logprobs=True, top_logprobs=3
    )
    sent = server.state.chats()[-1]
    assert (sent["logprobs"], sent["top_logprobs"]) == (True, 3)
    assert [p["token"] for p in reply.logprobs] == ["The", " <b>sky</b>", " is blue."]
    html = inside_html.logprobs_html(reply.logprobs)
    assert live_html(html) == [] and "&lt;b&gt;sky&lt;/b&gt;" in html and "<b>sky" not in html
    assert html.count("<span title=") == 3 and "alternatives:" in html and "rgba(255,111,0," in html
    saved = ollama_nb.Reply.from_record(json.loads(json.dumps(reply.to_record())))
    assert [p["token"] for p in saved.logprobs] == ["The", " <b>sky</b>", " is blue."]
    assert "bytes" not in saved.logprobs[0]  # kept lean in the notebook


def test_a_server_that_sends_no_logprobs_is_named(server):
    server.state.version = "0.12.10"  # logprobs came in 0.12.11: an older server ignores the field
    reply = ollama_nb.chat("Why?", model="llama3.2", host=server.url, display="none", logprobs=True)
    assert reply.logprobs == [] and "no token probabilities" in reply.trace.notices[-1].text


# -- variants side by side -----------------------------------------------------------------------
def test_variants_are_every_combination_of_models_thinking_and_option_values():
    values = options.option_values(["temperature=0,1", 'stop=["a","b"]'])
    assert values == {"temperature": [0.0, 1.0], "stop": [["a", "b"]]}
    grid = comparison.variants(["llama3.2", "qwen3"], ["low", "high"], {"temperature": [0, 1]})
    assert len(grid) == 8 and grid[0] == Variant("llama3.2", "low", (("temperature", 0),))
    assert grid[-1].label == "qwen3 · think high · temperature=1"
    with pytest.raises(ollama_nb.OptionError, match="at most 8"):
        comparison.variants(["a", "b", "c"], [None], {"seed": [1, 2, 3]})
    with pytest.raises(ollama_nb.OptionError, match="takes a whole number"):
        options.option_values(["num_ctx=2048,lots"])


def test_a_comparison_asks_each_variant_and_tabulates_the_figures(server):
    server.push(Turn(content="Short."), Turn(content="A longer answer, in more words.", thinking="Hmm."))
    result = ollama_nb.compare("Why is the sky blue?", models=["llama3.2", "qwen3"], host=server.url,
                               display="none", options={"seed": 1})  # fmt: skip
    first, second = result
    assert (first.content, second.content, second.thinking) == (
        "Short.",
        "A longer answer, in more words.",
        "Hmm.",
    )
    assert [b["model"] for b in server.state.chats()] == ["llama3.2", "qwen3"]
    assert all(b["options"] == {"seed": 1} for b in server.state.chats())
    rows = result.rows()
    assert [r.label for r in rows] == ["llama3.2", "qwen3"] and [r.tokens for r in rows] == [1, 7]
    assert all(r.first_token_s is not None and r.total_s > 0 and r.outcome == "ok" for r in rows)
    assert rows[0].context.endswith("/ 4,096 tokens · 0 %")
    assert result.reply("qwen3") is second
    assert (
        comparison.Comparison.from_record(json.loads(json.dumps(result.to_record()))).table()
        == result.table()
    )


def test_one_failing_variant_does_not_stop_the_others(server):
    result = ollama_nb.compare(
        "Hi", models=["nope", "llama3.2"], host=server.url, display="none", parallel=True
    )
    assert result[0] is not None and not result[0].received and "not on" in result.errors[0]
    assert result[1].content == "OK."
    failed, fine = result.rows()
    assert failed.outcome.startswith("Model 'nope' is not on") and fine.outcome == "ok"
    html = comparison_html.figures_html(result)
    assert "Model &#x27;nope&#x27; is not on" in html


def test_comparison_columns_and_table_escape_model_text(server):
    server.push(Turn(content="<img src=x onerror=alert(1)> **bold**"), Turn(content="plain"))
    result = ollama_nb.compare("Hi", models=["llama3.2", "gemma:2b"], host=server.url, display="none")
    html = comparison_html.comparison_html(result)
    assert live_html(html) == [] and "<strong>bold</strong>" in html
    assert html.count('<td><div class="ollama-nb">') == 2 and '<table class="ollama-nb-figures">' in html


def test_a_two_model_comparison_streams_two_columns_then_leaves_columns_and_table(server):
    """In a real kernel: live columns while streaming, a static output the saved notebook keeps."""
    server.push(
        Turn(content="From the first model.", delay=0.01), Turn(content="From the second.", delay=0.01)
    )
    nb = execute_notebook(["import ollama_nb",
                           "c = ollama_nb.compare('Why?', models=['llama3.2', 'qwen3'])",
                           "print(c.table())"], server)  # fmt: skip
    outputs = nb.cells[1].outputs
    assert len(outputs) == 1  # the live columns were replaced by the static comparison
    data = outputs[0]["data"]
    assert comparison.MIME in data and 'class="ollama-nb-columns"' in data["text/html"]
    assert "From the first model." in data["text/html"] and "From the second." in data["text/html"]
    assert data["text/plain"].startswith("variant") and "── qwen3 ──" in data["text/plain"]
    record = comparison.Comparison.from_record(data[comparison.MIME])
    assert [r.content for r in record] == ["From the first model.", "From the second."]
    live = [m for m in nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
            .get("state", {}).values() if m.get("model_name") == "HBoxModel"]  # fmt: skip
    assert live, "the columns were widgets while streaming"
    assert "llama3.2" in nb.cells[2].outputs[0]["text"]

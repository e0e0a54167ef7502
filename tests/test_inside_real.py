"""Seeing inside the model on a real Ollama (v0.24.0, SmolLM2-135M), through a real kernel: the
rendered template, the meter's warning on a conversation that overflows a small context, the
refusal with --strict-context, and two models side by side with phases and token probabilities.
Answers are kept to a few tokens: the point is what the server says about them."""

from __future__ import annotations

import json

import pytest

from ollama_nb.comparison import MIME as COMPARISON

from .real import PLAIN, TOOLS, Kernel, Run, one_line
from .test_inside import ADD

pytestmark = pytest.mark.real

SHORT = "-o temperature=0 -o seed=7 -o num_predict=3"


@pytest.fixture(scope="module")
def kernel(real_host: str):
    started = Kernel(real_host)
    started.run(f"import ollama_nb\n{ADD}")
    yield started
    started.close()


def shown(run: Run) -> dict:
    assert not run.errors, run.errors
    (data,) = [m["content"]["data"] for m in run.of("display_data")]
    return data


def test_render_shows_the_real_template_tools_and_what_a_small_context_keeps(kernel):
    plain = shown(kernel.run(f"%ollama render -m {PLAIN} --system 'Be brief.' Hi"))
    assert plain["text/plain"] == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    assert "What the model reads" in plain["text/html"] and 'class="ollama-nb-marker"' in plain["text/html"]
    tools = shown(kernel.run(f"%%ollama render -m {TOOLS} --tools add_two_numbers\nWhat is 3 + 1?"))[
        "text/plain"
    ]
    assert "<tools>" in tools and "add_two_numbers" in tools and "Add two numbers." in tools
    assert '"a":{"type":"integer","description":"The first number."}' in tools  # the schema the model reads
    history = [{"role": "user", "content": "Remember these: " + "apples " * 30},
               {"role": "assistant", "content": "I will remember the apples."}]  # fmt: skip
    kernel.run(f"history = {history!r}")
    code = f"print(ollama_nb.render_prompt('And these: pears', model={PLAIN!r}, history=history, options=%s).text)"
    roomy, small = kernel.run(code % {"num_ctx": 4096}).text(), kernel.run(code % {"num_ctx": 32}).text()
    assert "apples apples" in roomy and "apples apples" not in small  # Ollama dropped the oldest message
    assert small.endswith("<|im_start|>user\nAnd these: pears<|im_end|>\n<|im_start|>assistant\n\n")


def test_the_meter_warns_when_a_conversation_overflows_a_small_num_ctx(kernel):
    """Two cells of one conversation in a 64-token context: the second prompt no longer fits,
    Ollama drops the first message, and the meter under the answer says so in words."""
    for word in ("apples", "pears"):
        run = kernel.run(f"%%ollama -m {PLAIN} --chat overflow -o num_ctx=64 {SHORT}\n"
                         f"Remember these: {' '.join([word] * 30)}")  # fmt: skip
        assert not run.errors, run.errors
    html, text = run.final["text/html"], run.final["text/plain"]
    assert "/ 64 tokens · " in html and "conversation &#x27;overflow&#x27;: " in html  # the trend
    assert "⚠ The prompt lost its oldest messages" in text and "%ollama reset overflow" in text
    assert kernel.value("(_ollama.context.limit, _ollama.context.source)") == (64, "server")  # from /api/ps


def test_strict_context_is_refused_by_the_real_server_in_one_line(kernel):
    name, line = one_line(kernel.run(f"%%ollama -m {PLAIN} --strict-context -o num_ctx=32 {SHORT}\n"
                                     + "apples " * 80))  # fmt: skip
    assert name == "ContextFull"
    assert "The prompt does not fit in the context (num_ctx=32), and --strict-context" in line


def test_two_real_models_side_by_side_with_phases_and_token_probabilities(kernel):
    run = kernel.run(f"%%ollama -m {PLAIN},{TOOLS} --logprobs 2 {SHORT}\nSay hi.")
    assert not run.errors, run.errors
    (data,) = [
        d for m in run.of("display_data", "update_display_data") if COMPARISON in (d := m["content"]["data"])
    ]
    assert (
        'class="ollama-nb-columns"' in data["text/html"] and 'class="ollama-nb-figures"' in data["text/html"]
    )
    record = data[COMPARISON]
    assert [r["model"] for r in record["replies"]] == [PLAIN, TOOLS] and record["errors"] == [None, None]
    for index, reply in enumerate(record["replies"]):
        assert reply["content"] and reply["done_reason"] == "length"
        assert 1 <= len(reply["logprobs"]) <= 3 and all(
            len(p["top_logprobs"]) == 2 for p in reply["logprobs"]
        )
        described = kernel.value(f"ollama_nb.phases.describe(_ollama[{index}].trace.turns[0])")
        assert "loading the model" in described and "reading the prompt" in described
        assert "first token at" in described and "writing the answer" in described
    assert data["text/html"].count("Token probabilities: ") == 2  # the shaded view in each column
    rows = kernel.value("[(r.label, r.tokens, r.first_token_s is not None) for r in _ollama.rows()]")
    assert rows == [(PLAIN, 3, True), (TOOLS, 3, True)]
    assert json.dumps(record)  # the saved output holds it all as JSON

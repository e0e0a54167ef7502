"""Seeing inside the model from the %%ollama magic: the meter in every status and saved output,
%ollama render and --render, --strict-context, --logprobs, and models side by side."""

from __future__ import annotations

from ollama_nb import comparison
from ollama_nb.reply import MIME
from ollama_nb.standin import Turn

from .conftest import execute_notebook, run_cell


def outputs_of(nb, index: int) -> list[dict]:
    return nb.cells[index].outputs


def saved(nb, index: int, mime: str = MIME) -> dict:
    (found,) = [o for o in outputs_of(nb, index) if mime in o.get("data", {})]
    return found["data"]


# -- the context meter ---------------------------------------------------------------------------
def test_every_status_shows_the_context_meter(ip, server, capsys):
    run_cell(ip, "%%ollama -m llama3.2 -o num_ctx=2048\nHello there")
    out = capsys.readouterr().out
    meter = ip.user_ns["_ollama"].context
    assert f"context ░░░░░░░░░░ {meter.used} / 2,048 tokens · {100 * meter.used / 2048:.0f} %" in out


def test_the_saved_output_keeps_the_meter_and_a_conversations_trend_and_warning(server):
    server.push(*[Turn(content="Noted, thank you.") for _ in range(3)])
    cells = ["%load_ext ollama_nb"] + [
        f"%%ollama -m llama3.2 --chat fruit -o num_ctx=64\nRemember: {' '.join([word] * 20)}"
        for word in ("apples", "pears", "plums")
    ]
    nb = execute_notebook(cells, server)
    first, last = saved(nb, 1), saved(nb, 3)
    assert 'class="ollama-nb-context"' in first["text/html"] and "/ 64 tokens · " in first["text/html"]
    assert 'class="ollama-nb-warning"' not in first["text/html"]
    html, text = last["text/html"], last["text/plain"]
    assert (
        "conversation &#x27;fruit&#x27;: " in html and " → " in html
    )  # the trend over the conversation's cells
    assert "⚠ The prompt lost its oldest messages" in text and "%ollama reset fruit" in text
    assert last[MIME]["trace"]["entries"][-1]["kind"] == "context"


def test_strict_context_sends_no_cutting_and_the_refusal_is_one_line(server):
    nb = execute_notebook(["%load_ext ollama_nb",
                           f"%%ollama -m llama3.2 --strict-context -o num_ctx=32\n{'word ' * 60}",
                           "%ollama config strict_context=true",
                           "%ollama -m llama3.2 'a short one'"], server, allow_errors=True)  # fmt: skip
    (error,) = [o for o in outputs_of(nb, 1) if o["output_type"] == "error"]
    assert error["ename"] == "ContextFull" and len(error["traceback"]) == 1
    assert "does not fit in the context (num_ctx=32)" in error["traceback"][0]
    refused, configured = server.state.chats()
    assert (refused["truncate"], refused["shift"]) == (False, False)
    assert (configured["truncate"], configured["shift"]) == (False, False)
    assert "strict_context=True" in outputs_of(nb, 2)[0]["text"]


# -- what the model is sent ----------------------------------------------------------------------
def test_ollama_render_shows_the_prompt_as_the_model_reads_it_and_nothing_runs(server):
    server.push(Turn(content="Not asked for."))
    nb = execute_notebook(["%load_ext ollama_nb",
                           "%ollama render -m llama3.2 --system 'Be brief.' Why is the sky blue",
                           "%%ollama render -m qwen3 --think\nAnd the sea?"], server)  # fmt: skip
    line = outputs_of(nb, 1)[0]["data"]
    assert "What the model reads" in line["text/html"] and "<details" in line["text/html"]
    assert line["text/plain"] == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n"
                                  "Why is the sky blue<|im_end|>\n<|im_start|>assistant\n")  # fmt: skip
    assert outputs_of(nb, 2)[0]["data"]["text/plain"].endswith("<|im_start|>assistant\n<think>\n")
    assert all(body["_debug_render_only"] for body in server.state.chats())
    assert len(server.state.script) == 1  # nothing was generated: the scripted answer is still there


def test_render_next_to_the_answer_and_the_line_where_the_server_cannot(server):
    nb = execute_notebook(["%load_ext ollama_nb", "%%ollama -m llama3.2 --render\nHi"], server)
    html = saved(nb, 1)["text/html"]
    assert 'class="ollama-nb-rendered"' in html and "&lt;|im_start|&gt;</span>user\nHi" in html
    assert html.index('class="ollama-nb-answer"') < html.index('class="ollama-nb-rendered"')
    server.state.version = "0.9.0"
    nb = execute_notebook(["%load_ext ollama_nb", "%%ollama -m llama3.2 --render\nHi"], server)
    text = saved(nb, 1)["text/plain"]
    assert (
        "runs Ollama 0.9.0, which cannot show the rendered prompt (that needs Ollama 0.11.5 or newer)."
        in text
    )


# -- token probabilities -------------------------------------------------------------------------
def test_logprobs_shade_the_answer_in_the_saved_output(server):
    server.push(Turn(content=["Blue", " because", " of", " <scattering>"]))
    nb = execute_notebook(["%load_ext ollama_nb", "%%ollama -m llama3.2 --logprobs 3\nWhy?"], server)
    html = saved(nb, 1)["text/html"]
    assert 'class="ollama-nb-logprobs"' in html and html.count("<span title=") == 4
    assert "&lt;scattering&gt;" in html and "<scattering>" not in html
    assert server.state.chats()[0]["top_logprobs"] == 3


# -- where the time went -------------------------------------------------------------------------
def test_every_saved_answer_says_where_the_time_went(server):
    nb = execute_notebook(["%load_ext ollama_nb", "%%ollama -m llama3.2\nHi"], server)
    html = saved(nb, 1)["text/html"]
    assert "Timeline: where the time went" in html and "<title>reading the prompt" in html
    assert "turn 1: loading the model" in html


# -- models side by side -------------------------------------------------------------------------
def test_two_models_stream_into_two_columns_then_leave_columns_and_table(server):
    server.push(Turn(content="The first one.", delay=0.01), Turn(content="The second one.", delay=0.01))
    nb = execute_notebook(["%load_ext ollama_nb", "%%ollama -m llama3.2,qwen3\nWhy is the sky blue?",
                           "print(type(_ollama).__name__, [r.content for r in _ollama])"], server)  # fmt: skip
    (output,) = outputs_of(nb, 1)  # the live columns were replaced by the static comparison
    data = output["data"]
    assert (
        'class="ollama-nb-columns"' in data["text/html"] and 'class="ollama-nb-figures"' in data["text/html"]
    )
    assert "<th>llama3.2</th><th>qwen3</th>" in data["text/html"]
    assert data["text/plain"].startswith("variant") and "first token" in data["text/plain"]
    assert [r.content for r in comparison.Comparison.from_record(data[comparison.MIME])] == [
        "The first one.",
        "The second one.",
    ]
    assert outputs_of(nb, 2)[0]["text"] == "Comparison ['The first one.', 'The second one.']\n"
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert any(m["model_name"] == "HBoxModel" for m in state.values())  # the columns while streaming


def test_thinking_levels_and_option_values_are_compared_as_a_grid(ip, server, capsys):
    run_cell(ip, "%%ollama -m qwen3 --think low,high -o temperature=0,1 -o seed=7 --plain\nWhy?")
    sent = [(b["think"], b["options"]) for b in server.state.chats()]
    assert sent == [("low", {"seed": 7, "temperature": 0.0}), ("low", {"seed": 7, "temperature": 1.0}),
                    ("high", {"seed": 7, "temperature": 0.0}), ("high", {"seed": 7, "temperature": 1.0})]  # fmt: skip
    out = capsys.readouterr().out
    assert "── qwen3 · think high · temperature=1.0 ──" in out and out.rstrip().splitlines()[-5].startswith(
        "variant"
    )
    assert len(ip.user_ns["_ollama"]) == 4


def test_a_comparison_cannot_continue_a_conversation(ip, server):
    result = run_cell(ip, "%%ollama -m llama3.2,qwen3 --chat c\nHi")
    assert not result.success and "cannot continue a conversation" in str(result.error_in_exec)
    assert server.state.chats() == []

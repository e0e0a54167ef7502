"""The product against a real Ollama (built from its source) and a real model (SmolLM2-135M).

Everything goes through a real kernel, as a notebook user would run it, and asserts what that
user notices: the answer drawn as it arrives, the status and metrics, the one-line errors, what
is kept when an answer breaks off. Answers are kept short (``num_predict``): the model is real,
and so is its speed on a 2-core machine.
"""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from .real import PLAIN, THINK, TOOLS, Kernel, Run, one_line, own_server

pytestmark = pytest.mark.real

GREEDY = "-o temperature=0 -o seed=7"


@pytest.fixture(scope="module")
def kernel(real_host: str):
    started = Kernel(real_host)
    started.run(
        "import ollama_nb\n\ndef add_two_numbers(a: int, b: int) -> int:\n    'Add two numbers.'\n    return a + b"
    )
    yield started
    started.close()


def _ok(run: Run) -> dict:
    assert not run.errors and not run.text("stderr"), (run.errors, run.text("stderr"))
    return run.reply


def test_an_answer_streams_in_and_reports_real_metrics(kernel):
    run = kernel.run(
        f"%%ollama -m {PLAIN} {GREEDY} -o num_predict=60\nWrite a story about a lighthouse keeper."
    )
    reply = _ok(run)
    assert run.live_updates >= 3, "drawn several times while it streamed, not once at the end"
    assert run.redraw_spread > 0.2
    assert reply["content"].strip() and reply["done_reason"] == "length"  # cut by num_predict
    assert f"{PLAIN} · " in run.final["text/html"] and "tokens/s" in run.final["text/html"]
    metrics = kernel.value("_ollama.metrics.to_dict()")
    assert metrics["eval_count"] == 60 and metrics["prompt_eval_count"] > 10
    assert 0 < metrics["eval_duration"] < metrics["total_duration"] and metrics["load_duration"] > 0
    assert 0.5 < metrics["tokens_per_s"] < 5000


def test_an_answer_cut_by_num_predict_says_so(kernel):
    """Ollama's done_reason "length": the words under the answer say it was cut, not finished."""
    run = kernel.run(
        f"%%ollama -m {PLAIN} {GREEDY} -o num_predict=6\nWrite a story about a lighthouse keeper."
    )
    reply = _ok(run)
    assert reply["done_reason"] == "length" and kernel.value("_ollama.truncated") is True
    status = run.final["text/plain"].strip().splitlines()[-1].lower()
    assert any(word in status for word in ("cut", "length", "truncat", "limit", "num_predict")), status


def test_no_stream_system_out_and_num_ctx(kernel, real_host):
    run = kernel.run(
        f'%%ollama -m {PLAIN} --no-stream --out short --system "Answer in five words." '
        f"-o num_ctx=1024 {GREEDY} -o num_predict=12\nName a colour."
    )
    reply = _ok(run)
    assert run.redraw_spread < 0.05, "with --no-stream the answer appears at once"
    assert reply["content"].strip() and reply["metrics"]["eval_count"] > 0
    assert reply["messages"][0] == {"role": "system", "content": "Answer in five words."}
    assert kernel.value("short.content == _ollama.content and short is _ollama") is True
    loaded = {m["model"]: m for m in httpx.get(f"{real_host}/api/ps").json()["models"]}
    assert loaded[f"{PLAIN}:latest"]["context_length"] == 1024, "the server loaded the model with it"


@pytest.mark.parametrize("forever", ["-1", "-1.0"])
def test_keep_alive_minus_one_keeps_the_model_loaded(kernel, real_host, forever):
    """chat() documents keep_alive -1 as "keeps": given as it comes from a command line (text),
    the real server must get it in a form it takes (it refuses the string "-1")."""
    run = kernel.run(
        f'ollama_nb.chat("hi", model="{TOOLS}", keep_alive="{forever}", display="none", options={{"num_predict": 2}})'
    )
    assert not run.errors, run.errors
    (loaded,) = [
        m for m in httpx.get(f"{real_host}/api/ps").json()["models"] if m["model"] == f"{TOOLS}:latest"
    ]
    assert loaded["expires_at"] > "2100", "loaded for good"


def test_format_with_a_pydantic_model_and_a_schema(kernel):
    kernel.run(
        "from pydantic import BaseModel, Field\n"  # bounded fields: a 135M model rambles otherwise
        "class Colour(BaseModel):\n    name: str = Field(max_length=16)\n    warm: bool\n"
        'answer_schema = {"type": "object", "properties": {"answer": {"type": "integer", "minimum": 0, "maximum": 100000}}, "required": ["answer"]}'
    )
    run = kernel.run(f"%%ollama -m {PLAIN} --format Colour {GREEDY} -o num_predict=60\nA colour, as JSON.")
    _ok(run)
    assert kernel.value("type(_ollama.parsed).__name__") == "Colour"
    assert set(json.loads(kernel.value("_ollama.content"))) == {"name", "warm"}  # constrained decoding
    run = kernel.run(f"%%ollama -m {PLAIN} --format answer_schema {GREEDY} -o num_predict=20\n17 times 23?")
    _ok(run)
    parsed = kernel.value("_ollama.parsed")
    assert set(parsed) == {"answer"} and isinstance(parsed["answer"], int)


def test_a_model_that_is_not_there_lists_the_real_ones(kernel):
    name, line = one_line(kernel.run("%%ollama -m llama9\nhi"))
    assert name == "ModelNotFound"
    assert "llama9" in line and f"{PLAIN}:latest" in line and f"{TOOLS}:latest" in line


def test_tools_and_thinking_the_model_cannot_do_are_one_line(kernel):
    name, line = one_line(kernel.run(f"%%ollama -m {PLAIN} --tools add_two_numbers\nWhat is 3 plus 1?"))
    assert name == "CapabilityError" and "tools" in line and PLAIN in line
    name, line = one_line(kernel.run(f"%%ollama -m {PLAIN} --think\nhi"))
    assert name == "CapabilityError" and "think" in line and PLAIN in line


@pytest.mark.parametrize("level", ["", "low", "high"])
def test_a_thinking_model_thinks_at_each_level(kernel, level):
    run = kernel.run(f"%%ollama -m {THINK} --think {level} {GREEDY} -o num_predict=10\nWhy is the sky blue?")
    reply = _ok(run)
    assert reply["thinking"].strip(), "the words inside <think> arrive as thinking"
    assert "Thinking" in run.final["text/html"]


def test_chat_over_three_cells(kernel):
    prompt_counts = []
    for question in ("My name is Ada.", "What is my name?", "Say it again."):
        reply = _ok(kernel.run(f"%%ollama -m {PLAIN} --chat ada {GREEDY} -o num_predict=8\n{question}"))
        prompt_counts.append(reply["metrics"]["prompt_eval_count"])
    assert kernel.value("len(ollama_nb.conversation('ada').messages)") == 6
    assert prompt_counts[0] < prompt_counts[1] < prompt_counts[2], "the server saw the earlier turns"


def test_an_earlier_tool_call_and_its_result_are_accepted(kernel):
    kernel.run(
        "import ollama_nb\n"
        "ollama_nb.conversation('tools').messages[:] = [\n"
        " {'role': 'user', 'content': 'What is 2 plus 5?'},\n"
        " {'role': 'assistant', 'content': '', 'tool_calls': [{'id': 'call_k3j8x0qz', 'function':"
        " {'index': 0, 'name': 'add_two_numbers', 'arguments': {'a': 2, 'b': 5}}}]},\n"
        " {'role': 'tool', 'tool_name': 'add_two_numbers', 'tool_call_id': 'call_k3j8x0qz', 'content': '7'}]"
    )
    run = kernel.run(
        f"%%ollama -m {TOOLS} --chat tools --tools add_two_numbers {GREEDY} -o num_predict=12\nAnd so?"
    )
    reply = _ok(run)
    assert reply["metrics"]["prompt_eval_count"] > 60, "the call and its result were part of the prompt"
    sent = kernel.value("ollama_nb.conversation('tools').messages[:3]")
    assert sent[1]["tool_calls"][0]["id"] == "call_k3j8x0qz" and sent[2]["tool_call_id"] == "call_k3j8x0qz"


def test_models_lists_the_real_models_and_capabilities(kernel):
    out = kernel.run("%ollama models").text()
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
    assert "tools" in rows[f"{TOOLS}:latest"] and "tools" not in rows[f"{PLAIN}:latest"]
    assert "thinking" in rows[f"{THINK}:latest"] and "completion" in rows[f"{PLAIN}:latest"]


def _after_updates(count: int, action):
    """A watcher that does ``action`` once, when ``count`` redraws of the answer have arrived."""
    fired = threading.Event()

    def watch(run: Run) -> None:
        if not fired.is_set() and run.live_updates >= count:
            fired.set()
            action()

    return watch


def test_interrupting_the_kernel_keeps_the_partial_answer(kernel):
    run = kernel.run(
        f"%%ollama -m {PLAIN} {GREEDY} -o num_predict=400\nWrite a long story about a lighthouse.",
        watch=_after_updates(4, kernel.interrupt),
    )
    assert [name for name, _ in run.errors] == ["Interrupted"]
    reply = run.reply
    assert reply["interrupted"] and reply["content"].strip()
    assert reply["content"][:20] in run.final["text/plain"]
    again = _ok(kernel.run(f"%%ollama -m {PLAIN} {GREEDY} -o num_predict=5\nhi"))
    assert again["content"].strip(), "the next cell answers as usual"


def test_a_server_killed_mid_answer_keeps_the_partial_answer(kernel):
    with own_server() as server:
        run = kernel.run(
            f"%%ollama -m {PLAIN} --host {server.url} {GREEDY} -o num_predict=400\nWrite a long story.",
            watch=_after_updates(4, server.kill),
        )
    name, line = one_line(run)
    assert name == "StreamBroken" and "127.0.0.1" in line
    reply = run.reply
    assert reply["content"].strip() and reply["error"]
    assert reply["content"][:20] in run.final["text/plain"]


def test_a_notebook_question_is_answered_from_a_value_printed_three_cells_above(real_host):
    """The tiny real model reads the cells sent ahead of the question: the value it gives was
    printed three cells above, and without --notebook it does not have it."""
    fresh = Kernel(real_host)  # its own run numbers, so that the prompt is the same each time
    try:
        for cell in (
            "city = 'Reykjavik'\nprint('city =', city)",
            "colours = ['red', 'green']",
            "len(colours)",
        ):
            assert not fresh.run(cell).errors
        asked = f"%%ollama -m {PLAIN} {GREEDY} -o num_predict=40 --notebook 3\nWhich city was printed?"
        reply = _ok(fresh.run(asked))
        sent = reply["messages"][0]["content"]
        assert "In [2]:" in sent and "city = Reykjavik" in sent and "In [4]:" in sent
        assert "Reykjavik" in reply["content"], reply["content"]
        alone = _ok(fresh.run(f"%%ollama -m {PLAIN} {GREEDY} -o num_predict=40\nWhich city was printed?"))
        assert "Reykjavik" not in alone["content"], alone["content"]
    finally:
        fresh.close()

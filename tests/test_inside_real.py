"""Seeing inside the model on a real Ollama (v0.24.0 with SmolLM2-135M, see scripts/real_ollama.py).

The server: ``OLLAMA_NB_REAL_OLLAMA`` (the URL of one already running, with ``smollm2`` and
``smollm2-tools`` created as ``make real-ollama`` creates them), else the one ``make real-ollama``
built, started here. Without either, these tests are skipped and say why. Answers are kept to a
few tokens: the point is what the server says about them, not what the tiny model writes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import ollama_nb
from ollama_nb import context, inside_html, phases

from .conftest import run_cell

PLAIN, TOOLS = "smollm2", "smollm2-tools"
SHORT = {"num_predict": 3, "temperature": 0, "seed": 1}


def _built_server() -> Iterator[str] | None:
    script = Path(__file__).resolve().parent.parent / "scripts" / "real_ollama.py"
    if not script.exists():
        return None
    spec = importlib.util.spec_from_file_location("real_ollama", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("real_ollama", module)
    spec.loader.exec_module(module)
    if not module.ready():
        return None

    def serve() -> Iterator[str]:
        with module.RealOllama() as running:
            yield running.url

    return serve()


@pytest.fixture(scope="module")
def real() -> Iterator[str]:
    url = os.environ.get("OLLAMA_NB_REAL_OLLAMA")
    served = None if url else _built_server()
    if served is not None:
        url = next(served)
    if not url:
        pytest.skip(
            "no real Ollama here: `make real-ollama` builds one (needs Go), or set OLLAMA_NB_REAL_OLLAMA"
        )
    with urllib.request.urlopen(f"{url}/api/tags", timeout=10) as answer:
        names = {m["name"].split(":")[0] for m in json.load(answer)["models"]}
    if not {PLAIN, TOOLS} <= names:
        pytest.skip(f"the real Ollama at {url} lacks {PLAIN} and {TOOLS}: `make real-ollama` creates them")
    yield url
    if served is not None:
        served.close()


def add_two_numbers(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


def test_render_shows_the_real_template_tools_and_what_a_small_context_keeps(real):
    rendered = ollama_nb.render_prompt("Hi", model=PLAIN, host=real, system="Be brief.")
    assert (
        rendered.text
        == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    with_tools = ollama_nb.render_prompt(
        "What is 3 + 1?", model=TOOLS, host=real, tools=[add_two_numbers]
    ).text
    # the tool as the model reads it: its name, description and parameters, in the template's
    # words (Ollama 0.14 to 0.24 print `{{ .Function }}` as a Go struct, ollama/ollama#14601)
    assert "<tools>" in with_tools and "add_two_numbers" in with_tools and "Add two numbers." in with_tools
    assert '"a":{"type":"integer","description":"The first number."}' in with_tools
    history = [{"role": "user", "content": "Remember these: " + "apples " * 30},
               {"role": "assistant", "content": "I will remember the apples."}]  # fmt: skip
    roomy = ollama_nb.render_prompt("And these: pears", model=PLAIN, host=real, history=history).text
    small = ollama_nb.render_prompt("And these: pears", model=PLAIN, host=real, history=history,
                                    options={"num_ctx": 32}).text  # fmt: skip
    assert "apples apples" in roomy and "apples apples" not in small  # Ollama dropped the oldest message
    assert small.endswith("<|im_start|>user\nAnd these: pears<|im_end|>\n<|im_start|>assistant\n")


def test_the_meter_warns_when_a_conversation_overflows_a_small_num_ctx(ip, real):
    """Two cells of one conversation in a 64-token context, through IPython: the second prompt
    no longer fits, Ollama drops the first message, and the meter says so in words."""
    for word in ("apples", "pears"):
        code = (f"import ollama_nb\n_ollama = ollama_nb.chat({'Remember these: ' + f'{word} ' * 30!r}, "
                f"model={PLAIN!r}, host={real!r}, chat='overflow', display='none', "
                f"options={{'num_ctx': 64, **{SHORT!r}}})")  # fmt: skip
        assert run_cell(ip, code).success
    meter = ip.user_ns["_ollama"].context
    assert (meter.limit, meter.source) == (64, "server")  # what /api/ps says the model runs with
    assert len(meter.trend) == 1 and context.prompt_cut(meter)
    warning = context.warnings(meter, "overflow")[0]
    assert (
        "lost its oldest messages" in warning
        and "-o num_ctx=" in warning
        and "%ollama reset overflow" in warning
    )
    assert "⚠ The prompt probably lost its oldest messages" in inside_html.meter_html(meter, "overflow")


def test_strict_context_is_refused_by_the_real_server_in_one_line(real):
    with pytest.raises(ollama_nb.ContextFull) as caught:
        ollama_nb.chat("apples " * 80, model=PLAIN, host=real, display="none", options={"num_ctx": 32, **SHORT},
                       strict_context=True)  # fmt: skip
    assert str(caught.value).startswith(
        "The prompt does not fit in the context (num_ctx=32), and --strict-context"
    )


def test_two_real_models_side_by_side_with_phases_and_token_probabilities(real):
    result = ollama_nb.compare("Say hi.", models=[PLAIN, TOOLS], host=real, display="none", options=SHORT,
                               logprobs=True, top_logprobs=2)  # fmt: skip
    assert [r.model for r in result] == [PLAIN, TOOLS] and all(r.received for r in result)
    for reply in result:
        (turn,) = reply.trace.turns
        assert [p.name for p in phases.phases(turn) if p.name != "other"] == ["load", "prompt", "writing"]
        assert "reading the prompt:" in phases.describe(turn) and "first token at" in phases.describe(turn)
        assert 1 <= len(reply.logprobs) <= 3 and all(len(p["top_logprobs"]) == 2 for p in reply.logprobs)
        assert reply.logprobs[0]["token"] in reply.content
        assert "alternatives:" in inside_html.logprobs_html(reply.logprobs)
    rows = result.rows()
    assert all(r.first_token_s and r.tokens_per_s and r.tokens <= 3 for r in rows)
    # the server's default context length; the second model shares the first's weights, and so its
    # loaded runner, which /api/ps lists under the first name: its meter falls back to /api/show
    assert " / 4,096 tokens · " in rows[0].context and all(" tokens · " in r.context for r in rows)

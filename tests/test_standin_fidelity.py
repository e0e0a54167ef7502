"""What the stand-in learned from the real Ollama (tests/test_differential.py), seen as a user sees it."""

from __future__ import annotations

import httpx

from ollama_nb.standin import Turn

from .conftest import run_cell


def test_no_stream_reports_plausible_speed_and_prompt_size(ip, server):
    server.push(Turn(content="Twelve words arrive here all at once for the user to read now."))
    run_cell(ip, "%%ollama -m llama3.2 --no-stream\nhi")
    short = ip.user_ns["_ollama"].metrics
    assert 5 < short.tokens_per_s < 1000, "not hundreds of thousands of tokens per second"
    run_cell(ip, "%%ollama -m llama3.2 --no-stream\n" + "A much longer question. " * 40)
    assert ip.user_ns["_ollama"].metrics.prompt_eval_count > 10 * short.prompt_eval_count


def test_num_predict_cuts_the_answer_as_ollama_does(ip, server):
    server.push(Turn(content="one two three four five six"))
    run_cell(ip, "%%ollama -m llama3.2 -o num_predict=3\ncount")
    reply = ip.user_ns["_ollama"]
    assert (reply.content, reply.done_reason, reply.metrics.eval_count) == ("one two three ", "length", 3)


def test_loaded_models_and_their_context_are_listed(server):
    httpx.post(
        f"{server.url}/api/chat", json={"model": "qwen3", "messages": [], "options": {"num_ctx": 2048}}
    )
    (loaded,) = httpx.get(f"{server.url}/api/ps").json()["models"]
    assert (loaded["model"], loaded["context_length"], loaded["size_vram"]) == ("qwen3:latest", 2048, 0)


def test_logprobs_come_with_each_chunk_when_asked(server):
    server.push(Turn(content="Hi there"))
    lines = httpx.post(
        f"{server.url}/api/chat",
        json={"model": "llama3.2", "messages": [], "logprobs": True, "top_logprobs": 2},
    ).text.splitlines()
    first = httpx.Response(200, content=lines[0]).json()
    assert first["logprobs"][0]["token"] == "Hi " and len(first["logprobs"][0]["top_logprobs"]) == 2


def test_refusals_have_ollamas_status_and_words(server):
    def chat(**body):
        return httpx.post(f"{server.url}/api/chat", json={"model": "gemma:2b", "messages": [], **body})

    bad = chat(options={"temperature": "hot"})
    assert (bad.status_code, bad.json()) == (500, {"error": 'option "temperature" must be of type float32'})
    tools = chat(tools=[{"type": "function", "function": {"name": "f"}}])
    assert tools.json()["error"] == "registry.ollama.ai/library/gemma:2b does not support tools"
    think = chat(think="very")
    assert think.status_code == 400 and think.json()["error"].startswith('invalid think value: "very"')
    lost = httpx.get(f"{server.url}/api/nothing")
    assert (lost.status_code, lost.headers["content-type"], lost.text) == (
        404,
        "text/plain",
        "404 page not found",
    )


def test_a_prompt_longer_than_the_context_is_cut_or_refused(server):
    long = {"model": "llama3.2", "messages": [{"role": "user", "content": "word " * 400}], "stream": False}
    cut = httpx.post(f"{server.url}/api/chat", json={**long, "options": {"num_ctx": 64}}).json()
    assert cut["prompt_eval_count"] == 64, "Ollama keeps the prompt's start and end, up to num_ctx"
    refused = httpx.post(
        f"{server.url}/api/chat", json={**long, "options": {"num_ctx": 64}, "truncate": False}
    )
    assert (refused.status_code, refused.json()) == (
        400,
        {"error": "the input length exceeds the context length"},
    )
    late = httpx.post(f"{server.url}/api/chat", json={**long, "keep_alive": "soon"})
    assert late.json() == {"error": 'time: invalid duration "soon"'}

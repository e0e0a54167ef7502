"""The stand-in checked against the real Ollama: the same requests to both, the answers compared.

For each request: the status, the content type, and the shape of the body (every object's field
names, every value's JSON type; a stream chunk by chunk: text chunks, thinking chunks, the done
line). Where the words are the server's own (errors), the words too. The stand-in's canned text
differs from a model's; everything else must not, except the differences kept on purpose, listed
in ``ollama_nb.standin.server.ON_PURPOSE`` and allowed for here by name.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any

import httpx
import pytest

from ollama_nb.standin import Model, StandInServer, Turn
from ollama_nb.standin.server import ON_PURPOSE

from .real import PLAIN, THINK, TOOLS

pytestmark = pytest.mark.real

# the stand-in knows our three real models by the same names, with the same details
SMOL = {"family": "llama", "parameter_size": "134.52M", "quantization_level": "Q4_1", "size": 98_363_284,
        "context_length": 8192}  # fmt: skip
MODELS = (
    Model(f"{PLAIN}:latest", capabilities=("completion",), **SMOL),
    Model(f"{TOOLS}:latest", capabilities=("completion", "tools"), **SMOL),
    Model(f"{THINK}:latest", capabilities=("completion", "thinking"), **SMOL),
)
ASK = [{"role": "user", "content": "Why is the sky blue?"}]
SHORT = {"num_predict": 4, "temperature": 0, "seed": 1}
ADD = {"type": "function", "function": {"name": "add_two_numbers", "description": "Add two numbers.",
       "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                      "required": ["a", "b"]}}}  # fmt: skip
LONG = [{"role": "user", "content": "Tell me about the sea and the ships on it. " * 40}]
NUMBER = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
HISTORY = [  # an earlier tool call and its result, with the ids current servers use
    {"role": "user", "content": "What is 2 plus 5?"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_k3j8x0qz", "function": {"index": 0, "name": "add_two_numbers", "arguments": {"a": 2, "b": 5}}}]},
    {"role": "tool", "tool_name": "add_two_numbers", "tool_call_id": "call_k3j8x0qz", "content": "7"},
    {"role": "user", "content": "And 3 plus 1?"},
]  # fmt: skip


def chat(**body: Any) -> tuple[str, str, Any]:
    return ("POST", "/api/chat", body)


CASES: dict[str, tuple[str, str, Any]] = {
    "streamed answer": chat(model=PLAIN, messages=ASK, options=SHORT),
    "stream false": chat(model=PLAIN, messages=ASK, options=SHORT, stream=False),
    "tools offered": chat(model=TOOLS, messages=ASK, tools=[ADD], options=SHORT),
    "tool call and result in the history": chat(model=TOOLS, messages=HISTORY, tools=[ADD], options=SHORT),
    "thinking": chat(model=THINK, messages=ASK, think=True, options=SHORT),
    "thinking, stream false": chat(model=THINK, messages=ASK, think="high", options=SHORT, stream=False),
    "think false on a thinking model": chat(model=THINK, messages=ASK, think=False, options=SHORT),
    "logprobs": chat(model=PLAIN, messages=ASK, logprobs=True, top_logprobs=2, options=SHORT),
    "format schema": chat(
        model=PLAIN, messages=ASK, format=NUMBER, options={**SHORT, "num_predict": 8}, stream=False
    ),
    "think max": chat(model=THINK, messages=ASK, think="max", options=SHORT),
    "newer options and keep_alive": chat(
        model=PLAIN, messages=ASK, keep_alive="5m", options={**SHORT, "min_p": 0.1, "draft_num_predict": 2}
    ),
    "format json": chat(model=PLAIN, messages=ASK, format="json", options=SHORT, stream=False),
    "an unknown role": chat(model=PLAIN, messages=[{"role": "narrator", "content": "Hi"}], options=SHORT),
    "a prompt longer than num_ctx": chat(
        model=PLAIN, messages=LONG, options={**SHORT, "num_ctx": 64}, stream=False
    ),
    "a prompt longer than num_ctx, truncate false": chat(
        model=PLAIN, messages=LONG, truncate=False, options={**SHORT, "num_ctx": 64}
    ),
    "unknown model": chat(model="llama9", messages=ASK),
    "no model": chat(messages=ASK),
    "tools on a plain model": chat(model=PLAIN, messages=ASK, tools=[ADD]),
    "think on a plain model": chat(model=PLAIN, messages=ASK, think=True),
    "a think level on a plain model": chat(model=PLAIN, messages=ASK, think="low"),
    "a bad think value": chat(model=THINK, messages=ASK, think="very"),
    "num_ctx as text": chat(model=PLAIN, messages=ASK, options={"num_ctx": "big"}),
    "temperature as text": chat(model=PLAIN, messages=ASK, options={"temperature": "hot"}),
    "stop as text": chat(model=PLAIN, messages=ASK, options={"stop": "END"}),
    "a bad keep_alive": chat(model=PLAIN, messages=ASK, keep_alive="soon"),
    "keep_alive -1 as text": chat(model=PLAIN, messages=ASK, keep_alive="-1"),
    "keep_alive -1": chat(model=PLAIN, messages=ASK, keep_alive=-1, options=SHORT),
    "keep_alive with an unknown unit": chat(model=PLAIN, messages=ASK, keep_alive="5x"),
    "top_logprobs over 20": chat(model=PLAIN, messages=ASK, logprobs=True, top_logprobs=30),
    "format yaml": chat(model=PLAIN, messages=ASK, format="yaml"),
    "not JSON": ("POST", "/api/chat", b"{bad"),
    "no body": ("POST", "/api/chat", b""),
    "show": ("POST", "/api/show", {"model": TOOLS}),
    "show an unknown model": ("POST", "/api/show", {"model": "llama9"}),
    "tags": ("GET", "/api/tags", None),
    "version": ("GET", "/api/version", None),
    "ps": ("GET", "/api/ps", None),
    "root": ("GET", "/", None),
    "unknown path": ("GET", "/api/nothing", None),
    "unload": ("POST", "/api/generate", {"model": PLAIN, "keep_alive": 0}),
}
# making and fetching models; in this order (a model made, shown, removed). The blob's bytes are
# new on every run, so the real server does not have it yet.
BLOB = b"ollama_nb differential " + os.urandom(16)
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()
COPY = "smollm2-differential"
MODELS_CASES: dict[str, tuple[str, str, Any]] = {
    "a blob the server does not have": ("HEAD", f"/api/blobs/{DIGEST}", None),
    "a blob whose bytes do not match its digest": ("POST", f"/api/blobs/{DIGEST}", BLOB + b"!"),
    "a blob uploaded": ("POST", f"/api/blobs/{DIGEST}", BLOB),
    "the blob is there now": ("HEAD", f"/api/blobs/{DIGEST}", None),
    "create from a model, with a system prompt": (
        "POST", "/api/create", {"model": COPY, "from": PLAIN, "system": f"Be brief. {DIGEST}"}),
    "show the model made": ("POST", "/api/show", {"model": COPY}),
    # (a name on this machine's loopback: Ollama pulls a model it lacks, and must reach nothing else)
    "create from a model that is not there": ("POST", "/api/create", {"model": COPY, "from": "127.0.0.1:1/x/y"}),
    "create from nothing": ("POST", "/api/create", {"model": COPY}),
    "create with a name that is not one": ("POST", "/api/create", {"model": "Bad Name!", "from": PLAIN}),
    "create with a blob that is not there": (
        "POST", "/api/create", {"model": COPY, "files": {"x.gguf": "sha256:" + "0" * 64}}),
    "delete the model made": ("DELETE", "/api/delete", {"model": COPY}),
    "delete a model that is not there": ("DELETE", "/api/delete", {"model": COPY}),
    "pull from a registry that cannot be reached": ("POST", "/api/pull", {"model": "127.0.0.1:1/x/y"}),
}  # fmt: skip


def shape(value: Any) -> Any:
    """The JSON types of a value: objects by field, lists by their first item."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}[type(value)]


def ask(base: str, method: str, path: str, body: Any) -> dict[str, Any]:
    """One request, and what came back, reduced to what must match."""
    data = {"content": body} if isinstance(body, bytes) else {"json": body}
    response = httpx.request(method, base + path, timeout=120, **data)
    kind = response.headers.get("content-type", "")
    answer: dict[str, Any] = {"status": response.status_code, "content-type": kind}
    words_decide = isinstance(body, dict) and body.get("format")  # where a model stops in JSON
    if "ndjson" in kind and path in ("/api/pull", "/api/create"):
        answer["lines"] = _progress_lines([json.loads(line) for line in response.text.splitlines()])
    elif "ndjson" in kind:
        chunks = [json.loads(line) for line in response.text.splitlines()]
        assert all(line for line in response.text.splitlines()), "no blank lines"
        answer["chunks"] = _chunk_shapes(chunks)
        answer["done_reason"] = None if words_decide else chunks[-1].get("done_reason")
    elif "json" in kind and method == "HEAD":
        answer["body"] = response.text
    elif "json" in kind:
        payload = response.json()
        answer["error" if "error" in payload else "shape"] = payload.get("error") or _body_shape(
            path, payload
        )
        if "done_reason" in payload and not words_decide:
            answer["done_reason"] = payload["done_reason"]
        if isinstance(body, dict) and payload.get("prompt_eval_count") == body.get("options", {}).get(
            "num_ctx"
        ):
            answer["prompt cut to the context"] = True
    else:
        answer["text"] = response.text
    return answer


def _progress_lines(lines: list[dict[str, Any]]) -> list[Any]:
    """A pull's or a create's lines, each status once in order, digests written as ``…``; an
    error line by its words."""
    seen: list[Any] = []
    for line in lines:
        kept = (
            re.sub(r"open \S+/blobs/", "open …/blobs/", line["error"])  # the server's own models folder
            if "error" in line
            else re.sub(r"sha256:[0-9a-f]{64}", "sha256:…", line["status"])
        )
        item = {"error": kept} if "error" in line else {"status": kept, "shape": shape(line)}
        if item not in seen:
            seen.append(item)
    return seen


def _chunk_shapes(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Shapes by kind of chunk: the done line, text chunks, thinking chunks (each kind alike)."""
    kinds: dict[str, list[Any]] = {}
    for chunk in chunks:
        kind = "done" if chunk.get("done") else "thinking" if chunk["message"].get("thinking") else "text"
        kinds.setdefault(kind, []).append(shape(chunk))
    for kind, shapes in kinds.items():
        assert all(s == shapes[0] for s in shapes), f"every {kind} chunk has the same fields"
    assert list(kinds)[-1] == "done" and len(kinds["done"]) == 1, "one done line, at the end"
    return {kind: shapes[0] for kind, shapes in kinds.items()}


def _body_shape(path: str, payload: dict[str, Any]) -> Any:
    found = shape(payload)
    if path == "/api/show":  # on purpose: no weights, so no tensors and only two model_info keys
        found.pop("tensors", None)
        found["model_info"] = {k: v for k, v in found["model_info"].items()
                               if k in ("general.architecture", "llama.context_length")}  # fmt: skip
    return found


@pytest.fixture(scope="module")
def stand_in():
    with StandInServer(models=MODELS, responder=lambda request, thinks: Turn(
        content="The sky is blue because of Rayleigh scattering of sunlight.",
        thinking="The user asks about the sky." if thinks else "",
    )) as server:  # fmt: skip
        yield server


@pytest.fixture(scope="module")
def warm(real_host):
    """The real server's answers once the model is loaded (as /api/ps then lists it)."""
    for model in (PLAIN, TOOLS, THINK):
        httpx.post(
            f"{real_host}/api/chat", json={"model": model, "messages": ASK, "options": SHORT}, timeout=120
        )
    return real_host


@pytest.mark.parametrize("case", list(CASES))
def test_the_stand_in_answers_as_ollama_does(case, warm, stand_in):
    method, path, body = CASES[case]
    if case == "ps":  # the stand-in, too, has answered each model once
        for model in (PLAIN, TOOLS, THINK):
            httpx.post(f"{stand_in.url}/api/chat", json={"model": model, "messages": ASK, "options": SHORT})
    real, ours = ask(warm, method, path, body), ask(stand_in.url, method, path, body)
    assert ours == real, f"{case}: the stand-in differs (kept on purpose: {sorted(ON_PURPOSE)})"


@pytest.mark.parametrize("case", list(MODELS_CASES))
def test_the_stand_in_makes_and_fetches_models_as_ollama_does(case, warm, stand_in):
    method, path, body = MODELS_CASES[case]
    real, ours = ask(warm, method, path, body), ask(stand_in.url, method, path, body)
    assert ours == real, f"{case}: the stand-in differs (kept on purpose: {sorted(ON_PURPOSE)})"

"""The real Ollama calls an MCP server's tool, end to end: its parser turns the model's output into
``tool_calls``, the call goes to mcp-server-time over stdio, and its result goes back to the real
server with the call's id.

The recipe of the real-tool-call tests (issue 25): ``smollm2-toolcall`` writes calls as bare JSON,
and a ``format`` naming the tool with every argument pinned by ``enum`` (temperature 0, a seed)
makes its constrained answer exactly that call. ``format`` goes with the first round only (a
real backend around the real one sets it), so the model answers the second in words.
"""

from __future__ import annotations

import json

import pytest

import ollama_nb
from ollama_nb import mcp
from ollama_nb.ollama_backend import OllamaBackend
from scripts.real_ollama import TOOLCALL

from .test_tools_real import RoundFormats

pytestmark = pytest.mark.real

TOKYO_TO_KOLKATA = {"source_timezone": "Asia/Tokyo", "time": "09:00", "target_timezone": "Asia/Kolkata"}
CONVERT = {"type": "object", "required": ["name", "parameters"], "properties": {
    "name": {"enum": ["convert_time"]},
    "parameters": {"type": "object", "required": list(TOKYO_TO_KOLKATA),
                   "properties": {k: {"enum": [v]} for k, v in TOKYO_TO_KOLKATA.items()}}}}  # fmt: skip


def test_the_real_ollama_calls_an_mcp_tool_end_to_end(real_host):
    mcp.add("clock", "python -m mcp_server_time --local-timezone UTC")
    try:
        backend = RoundFormats(OllamaBackend(real_host), [CONVERT])  # the format on the first round only
        reply = ollama_nb.chat("It is 09:00 in Asia/Tokyo. What time is it in Asia/Kolkata?", model=TOOLCALL,
                               tools=["mcp:clock/convert_time"], backend=backend, display="none",
                               options={"temperature": 0, "seed": 42, "num_predict": 120})  # fmt: skip
    finally:
        mcp.remove("clock")
    (call,) = reply.trace.rounds
    assert (call.server, call.name, call.arguments, call.status) == (
        "clock",
        "convert_time",
        TOKYO_TO_KOLKATA,
        "ok",
    )
    assert call.id.startswith("call_")  # the real server's id for the call
    assert json.loads(call.result or "")["time_difference"] == "-3.5h"  # the real MCP server's answer
    first, second = backend.bodies
    assert [t["function"]["name"] for t in first["tools"]] == ["convert_time"]
    sent = second["messages"][-1]
    assert (sent["role"], sent["tool_name"], sent["tool_call_id"]) == ("tool", "convert_time", call.id)
    assert reply.trace.turns[-1].metrics is not None and reply.content  # the real model answered after it

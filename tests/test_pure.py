"""The pure parts, table-driven and fast: no server, no kernel."""

from __future__ import annotations

import pytest

from ollama_nb.loop import Request
from ollama_nb.markdown import BlockSplitter
from ollama_nb.options import parse_options
from ollama_nb.schema import _tidy
from ollama_nb.settings import Settings
from ollama_nb.stream import (
    BadChunk,
    Done,
    TextDelta,
    ThinkingDelta,
    ThinkTagSplitter,
    ToolCallEvent,
    TurnReader,
)


def _split(pieces: list[str]) -> list[tuple[str, str]]:
    splitter = ThinkTagSplitter()
    events = [e for p in pieces for e in splitter.feed(p)] + list(splitter.flush())
    joined: list[tuple[str, str]] = []
    for event in events:
        kind = "think" if isinstance(event, ThinkingDelta) else "text"
        if joined and joined[-1][0] == kind:
            joined[-1] = (kind, joined[-1][1] + event.text)
        else:
            joined.append((kind, event.text))
    return joined


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        (["plain answer"], [("text", "plain answer")]),
        (["<think>hmm</think>\n\nanswer"], [("think", "hmm"), ("text", "answer")]),
        (
            ["<thi", "nk>hm", "m</th", "ink>answer"],
            [("think", "hmm"), ("text", "answer")],
        ),  # tags cut anywhere
        (["a < b and <thin"], [("text", "a < b and <thin")]),  # a cut tag that never completes is text
        (["\n<think>x</think>"], [("think", "x")]),  # blank text before thinking is not an answer
        (["2 <", " 3"], [("text", "2 < 3")]),
    ],
)
def test_think_tags_are_split_out(pieces, expected):
    assert _split(pieces) == expected


@pytest.mark.parametrize(
    ("pieces", "finished", "tail"),
    [
        (["# Title\n\nPara"], "# Title\n\n", "Para"),
        (["one\n", "\ntwo\n\nthr"], "one\n\ntwo\n\n", "thr"),
        (["```\ncode\n\nmore"], "", "```\ncode\n\nmore"),  # an open fence is one block
        (["just text"], "", "just text"),
    ],
)
def test_block_splitter_hands_out_finished_blocks_once(pieces, finished, tail):
    splitter = BlockSplitter()
    for piece in pieces:
        splitter.feed(piece)
    assert splitter.take_finished() == finished
    assert splitter.tail == tail
    assert splitter.take_finished() == ""  # never twice


def _chunk(content: str = "", done: bool = False, **message: object) -> dict:
    return {"model": "m", "message": {"role": "assistant", "content": content, **message}, "done": done}


def test_turn_reader_collects_text_thinking_calls_with_ids_and_metrics():
    reader = TurnReader()
    call = {"id": "call_ab12cd34", "function": {"index": 0, "name": "f", "arguments": {"x": 1}}}
    done = {**_chunk(done=True), "done_reason": "stop", "eval_count": 3, "eval_duration": 1_000_000_000,
            "total_duration": 2, "brand_new_field": 1}  # fmt: skip
    events = list(reader.read([_chunk(thinking="hm"), _chunk("Hel"), _chunk("lo", tool_calls=[call]), done]))
    assert [type(e) for e in events] == [ThinkingDelta, TextDelta, TextDelta, ToolCallEvent, Done]
    turn = reader.turn
    assert (turn.content, turn.thinking, turn.done, turn.done_reason) == ("Hello", "hm", True, "stop")
    assert turn.tool_calls[0].id == "call_ab12cd34" and turn.metrics.tokens_per_s == 3.0
    assert events[-1].extra == {"brand_new_field": 1}  # new done-line fields are not lost
    assert turn.message()["tool_calls"] == [call]  # sent back as it came, id included


def test_calls_on_the_final_chunk_and_all_index_zero_get_their_own_positions():
    reader = TurnReader()
    calls = [{"function": {"index": 0, "name": "f", "arguments": {}}}] * 2
    list(reader.read([{**_chunk(done=True, tool_calls=calls)}]))
    assert [c.position for c in reader.turn.tool_calls] == [0, 1]


@pytest.mark.parametrize(
    ("chunk", "problem"),
    [
        ({"message": None, "done": False}, "'message' is null"),
        (_chunk(5), "'content' is a int"),
        (_chunk(thinking=["x"]), "'thinking' is a list"),
        (_chunk(tool_calls="f()"), "'tool_calls' is a str"),
        (_chunk(tool_calls=[{"function": {"arguments": {}}}]), "without a function name"),
    ],
)
def test_chunks_of_the_wrong_shape_are_named(chunk, problem):
    reader = TurnReader()
    list(reader.read([_chunk("kept ")]))
    with pytest.raises(BadChunk, match=problem):
        list(reader.read([chunk]))
    assert reader.turn.content == "kept "


@pytest.mark.parametrize(
    ("request_", "body"),
    [
        (Request("m", []), {"model": "m", "messages": [], "stream": True}),
        (Request("m", [], stream=False, fields=Settings(think=False).body_fields()),
         {"model": "m", "messages": [], "stream": False, "think": False}),
        (Request("m", [], fields=Settings(options={"num_ctx": 8}, keep_alive="0", truncate=False).body_fields()),
         {"model": "m", "messages": [], "stream": True, "options": {"num_ctx": 8}, "keep_alive": 0,
          "truncate": False}),
        (Request("m", [], fields=Settings(strict_context=True, keep_alive="5m", top_logprobs=3).body_fields()),
         {"model": "m", "messages": [], "stream": True, "truncate": False, "shift": False, "keep_alive": "5m",
          "logprobs": True, "top_logprobs": 3}),
    ],
)  # fmt: skip
def test_request_body_leaves_unset_settings_to_the_server(request_, body):
    assert request_.body([], None) == body


@pytest.mark.parametrize(
    ("schema", "tidy"),
    [
        ({"properties": {"a": {"title": "A", "type": "integer"}}, "required": ["a"], "title": "f"},
         {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}),
        ({"properties": {"a": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}}},
         {"type": "object", "properties": {"a": {"type": ["integer", "null"], "default": None,
                                                 "description": "Default: null."}}, "required": []}),
        ({"$defs": {"C": {"enum": ["r", "g"], "type": "string", "title": "C"}},
          "properties": {"c": {"$ref": "#/$defs/C"}}},
         {"type": "object", "properties": {"c": {"enum": ["r", "g"], "type": "string"}}, "required": []}),
    ],
)  # fmt: skip
def test_schema_tidier_inlines_refs_and_drops_noise(schema, tidy):
    assert _tidy(schema) == tidy


@pytest.mark.parametrize(
    ("pairs", "options"),
    [
        (["num_ctx=32000"], {"num_ctx": 32000}),
        (["temperature=1"], {"temperature": 1.0}),
        (["stop=END"], {"stop": ["END"]}),
        (['stop=["a","b"]', "use_mmap=false"], {"stop": ["a", "b"], "use_mmap": False}),
    ],
)
def test_options_are_typed_as_the_server_types_them(pairs, options):
    assert parse_options(pairs) == (options, [])


@pytest.mark.parametrize(
    ("arguments", "sent_back"),
    [({"a": 1}, {"a": 1}), ('{"a": 1}', {"a": 1}), ("not json", {}), (None, {}), ([1], {})],
)
def test_calls_go_back_to_the_server_with_object_arguments(arguments, sent_back):
    reader = TurnReader()
    call = {"function": {"name": "f", "arguments": arguments}}
    list(reader.read([_chunk(done=True, tool_calls=[call])]))
    assert reader.turn.tool_calls[0].arguments == arguments  # the trace keeps what the model sent
    assert reader.turn.message()["tool_calls"][0]["function"]["arguments"] == sent_back

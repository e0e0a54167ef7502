"""Schemas from signatures: a corpus of real-world functions, and the checks behind it."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest

from ollama_nb import api
from ollama_nb.schema import ArgumentError, SchemaError, build, tool_spec

from . import schema_corpus as corpus

EXPECTED = json.loads((Path(__file__).parent / "schema_expected.json").read_text())


def parameters(function) -> dict:
    return build(function).schema["function"]["parameters"]


def test_corpus_is_large_enough_and_matches_the_reviewed_schemas():
    assert len(corpus.CORPUS) >= 30
    for function in corpus.CORPUS:
        assert build(function).schema == {"type": "function", "function": EXPECTED[function.__name__]}


@pytest.mark.parametrize("function", [corpus.add_two_numbers, corpus.search_web, corpus.read_text])
def test_descriptions_from_google_numpy_and_rest_docstrings(function):
    props = parameters(function)["properties"]
    assert all(p.get("description") for p in props.values()), props
    assert build(function).schema["function"]["description"].endswith(".")


def test_what_the_official_client_drops_is_kept():
    weather = parameters(corpus.get_current_weather)
    assert weather["properties"]["format"]["enum"] == ["celsius", "fahrenheit"]
    assert weather["required"] == ["city"]  # a default makes it optional
    assert weather["properties"]["format"]["default"] == "celsius"
    assert parameters(corpus.mean)["properties"]["values"]["items"] == {"type": "number"}
    assert parameters(corpus.lookup)["properties"]["key"]["type"] == ["integer", "string"]
    assert parameters(corpus.log_values)["required"] == ["label"]  # no *args/**kwargs


def test_rich_types():
    assert parameters(corpus.convert_temperature)["properties"]["unit"]["enum"] == ["celsius", "fahrenheit"]
    assert parameters(corpus.set_priority)["properties"]["priority"] == {
        "enum": [1, 2], "type": "integer", "description": "Its new priority."
    }  # fmt: skip
    address = parameters(corpus.ship_to)["properties"]["address"]
    assert address["type"] == "object" and set(address["properties"]) == {"street", "city"}
    person = parameters(corpus.register)["properties"]["person"]
    assert person["properties"]["name"]["description"] == "Full name" and person["required"] == ["name"]
    assert parameters(corpus.sleep_for)["properties"]["seconds"] == {
        "description": "How long to sleep", "minimum": 0, "type": "integer"
    }  # fmt: skip
    assert parameters(corpus.events_after)["properties"]["start"]["format"] == "date-time"
    assert parameters(corpus.centroid)["properties"]["points"]["items"]["required"] == ["x"]
    assert "$ref" not in json.dumps([parameters(f) for f in corpus.CORPUS])  # inlined for Ollama


def test_missing_hint_is_a_string_and_says_so():
    spec = build(corpus.echo)
    assert spec.schema["function"]["parameters"]["properties"]["message"] == {"type": "string"}
    assert spec.notes == ("'message' has no type hint: the model is told it is a string",)


def test_every_schema_problem_is_reported_once_naming_the_function():
    def bad(a: socket.socket, b: int, c: threading.Event) -> None:
        """Cannot be a tool."""

    with pytest.raises(SchemaError) as caught:
        build(bad)
    message = str(caught.value)
    assert message.startswith("cannot make a tool of bad:")
    assert "'a'" in message and "'c'" in message and "'b'" not in message


def test_schemas_are_built_once_per_function():
    assert tool_spec(corpus.mean) is tool_spec(corpus.mean)


@pytest.mark.parametrize(
    ("function", "sent", "received"),
    [
        (corpus.add_two_numbers, {"a": "3", "b": 1}, {"a": 3, "b": 1}),
        (corpus.mean, {"values": "[1, 2.5]"}, {"values": [1.0, 2.5]}),
        (corpus.mean, '{"values": [1]}', {"values": [1.0]}),
        (
            corpus.convert_temperature,
            {"value": 20, "unit": "fahrenheit"},
            {"value": 20.0, "unit": corpus.Unit.FAHRENHEIT},
        ),
        (corpus.plot_point, {"point": {"x": 1}}, {"point": corpus.Point(1.0, 0.0)}),
        (corpus.register, {"person": {"name": "Ada"}}, {"person": corpus.Person(name="Ada")}),
        (corpus.holidays_in, {"day": "2026-12-25"}, {"day": __import__("datetime").date(2026, 12, 25)}),
        (corpus.read_text, {"path": "/tmp/x"}, {"path": Path("/tmp/x"), "encoding": "utf-8"}),
    ],
)
def test_arguments_are_coerced(function, sent, received):
    assert build(function).validate(sent) == received


@pytest.mark.parametrize(
    ("sent", "problem"),
    [
        ({"a": 1}, "missing required argument 'b'"),
        ({"a": 1, "b": 2, "c": 3}, "unexpected argument 'c'"),
        ({"a": "three", "b": 1}, "'a': Input should be a valid integer"),
        (["a", "b"], "arguments must be a JSON object"),
    ],
)
def test_bad_arguments_name_the_problem(sent, problem):
    with pytest.raises(ArgumentError, match=problem):
        build(corpus.add_two_numbers).validate(sent)


def test_the_schema_reaches_the_server_whole(server):
    """The client's own request model would drop anyOf, default and nested properties."""
    tools = [build(f).schema for f in (corpus.book_flight, corpus.register, corpus.lookup)]
    body = {
        "model": "llama3.2",
        "messages": [{"role": "user", "content": "x"}],
        "tools": tools,
        "stream": False,
    }
    list(api.connect(server.url).chat(body))
    assert server.state.chats()[0]["tools"] == tools


def test_builtins_and_callable_objects_are_tools_too():
    class Greeter:
        def __call__(self, name: str) -> str:
            """Greet someone.

            Args:
                name: Who to greet.
            """
            return f"hi {name}"

    greeter = tool_spec(Greeter())
    assert greeter.name == "Greeter" and greeter.schema["function"]["description"] == "Greet someone."
    assert greeter.schema["function"]["parameters"]["properties"]["name"] == {
        "description": "Who to greet.",
        "type": "string",
    }
    assert tool_spec(len).schema["function"]["parameters"]["required"] == ["obj"]

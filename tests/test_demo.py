"""The demo model answers the README's and tutorials' kinds of prompts so that the answer fits."""

from __future__ import annotations

import json

import ollama
import pydantic
import pytest

import ollama_nb
from ollama_nb.standin import DemoResponder, StandInServer
from ollama_nb.standin.demo import demo_turn
from ollama_nb.trace import ToolRound


def ask(prompt: str, *, system: str = "", history: tuple[dict, ...] = (), thinks: bool = False, **extra):
    messages = [*([{"role": "system", "content": system}] if system else []), *history]
    return demo_turn({"messages": [*messages, {"role": "user", "content": prompt}], **extra}, thinks)


def joined(turn) -> str:
    return "".join(turn.content_chunks())


CANNED = "stand-in server"


@pytest.mark.parametrize(
    ("prompt", "system", "expected"),
    [
        ("What is 17 times 23?", "", "17 × 23 = 391"),
        ("What is three plus one?", "", "3 + 1 = 4"),
        ("What is 84 divided by 4?", "", "= 21"),
        ("Divide three by zero.", "", "division by zero is undefined"),
        ("Write a haiku about notebooks.", "You answer in one sentence.", "the kernel listens."),
        ("My name is Ada and I teach physics.", "", "Nice to meet you, Ada!"),
        (
            "Summarise this text:\n\nOllama runs models locally. It is fast.",
            "",
            "Ollama runs models locally.",
        ),
        ("Summarise a long text.", "", "no text to summarise"),
        ("hello", "", "Hello!"),
    ],
)
def test_the_answer_fits_the_prompt(prompt, system, expected):
    answer = joined(ask(prompt, system=system))
    assert expected in answer and CANNED not in answer


def test_a_short_list_has_the_number_of_points_asked_for():
    three = joined(ask("Why is the sky blue? Answer in three short bullet points."))
    assert three.count("\n- ") == 2 and three.startswith("- ") and "Rayleigh" in three
    two = joined(ask("Why is the sky blue? Two bullet points please."))
    assert two.count("- ") == 2


def test_one_sentence_is_one_sentence():
    answer = joined(ask("Why is the sky blue?", system="You answer in one sentence."))
    assert answer.count(". ") == 0 and answer.endswith(".")


def test_a_haiku_has_three_lines():
    assert len(joined(ask("Write a haiku about the sea.")).splitlines()) == 3


def test_a_name_is_recalled_from_the_conversation_only():
    history = (
        {"role": "user", "content": "Hi, I'm Grace."},
        {"role": "assistant", "content": "Nice to meet you, Grace!"},
    )
    assert "Your name is Grace." in joined(ask("What is my name?", history=history))
    assert "not told me your name" in joined(ask("What is my name?"))


def test_thinking_shows_the_working_when_the_model_thinks():
    turn = ask("What is 17 times 23?", thinks=True)
    assert "17 × 20 = 340" in "".join(turn.thinking_chunks()) and "391" in joined(turn)
    assert not ask("What is 17 times 23?", thinks=False).thinking


WEATHER = {"type": "function", "function": {"name": "get_current_weather", "parameters": {
    "type": "object", "required": ["city"], "properties": {
        "city": {"type": "string", "description": "The name of the city"},
        "format": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}}}  # fmt: skip
ADD = {"type": "function", "function": {"name": "add_two_numbers", "parameters": {
    "type": "object", "required": ["a", "b"],
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}}}  # fmt: skip
WORD = {"type": "function", "function": {"name": "count_letters", "parameters": {
    "type": "object", "required": ["word", "letter"],
    "properties": {"word": {"type": "string"}, "letter": {"type": "string"}}}}}  # fmt: skip


@pytest.mark.parametrize(
    ("prompt", "tools", "calls"),
    [
        ("What is three plus one?", [WEATHER, ADD], [("add_two_numbers", {"a": 3, "b": 1})]),
        ("What is the weather in Toronto in fahrenheit?", [WEATHER, ADD],
         [("get_current_weather", {"city": "Toronto", "format": "fahrenheit"})]),
        ("Count the letter 'r' in the word 'strawberry'.", [WORD],
         [("count_letters", {"word": "strawberry", "letter": "r"})]),
        ("Count the letters of 'strawberry' and 'r'.", [WORD],
         [("count_letters", {"word": "strawberry", "letter": "r"})]),
        ("Why is the sky blue?", [WEATHER, ADD], []),
    ],
)  # fmt: skip
def test_tools_are_called_with_arguments_from_the_prompt(prompt, tools, calls):
    turn = ask(prompt, tools=tools)
    assert [(c["name"], c["arguments"]) for c in turn.tool_calls] == calls


def test_the_answer_after_a_tool_uses_its_result_or_its_error():
    done = demo_turn({"messages": [{"role": "user", "content": "3+1?"},
                                   {"role": "tool", "tool_name": "add_two_numbers", "content": "4"}]}, False)  # fmt: skip
    assert joined(done) == "add_two_numbers returned 4."
    failed = demo_turn({"messages": [{"role": "user", "content": "3/0?"}, {"role": "tool", "tool_name": "divide",
                        "content": "Error: ZeroDivisionError: division by zero"}]}, False)  # fmt: skip
    assert "divide failed (ZeroDivisionError: division by zero)" in joined(failed)


class Person(pydantic.BaseModel):
    name: str
    born: int
    city: str
    tags: list[str] = []
    role: str | None = None


def test_format_json_is_json_and_a_schema_is_followed():
    plain = json.loads(joined(ask("What is 17 times 23?", format="json")))
    assert plain == {"answer": "17 × 23 = 391."}
    prompt = "Ada Lovelace was born in 1815 in London. Give her name, birth year and city."
    person = Person.model_validate_json(joined(ask(prompt, format=Person.model_json_schema())))
    assert (person.name, person.born, person.city) == ("Ada Lovelace", 1815, "London")


def test_the_real_client_gets_a_structured_answer_from_the_stand_in():
    with StandInServer(responder=DemoResponder(delay=0)) as server:
        response = ollama.Client(server.url).chat(
            "llama3.2",
            [{"role": "user", "content": "Ada Lovelace was born in 1815 in London."}],
            format=Person.model_json_schema(),
        )
    assert Person.model_validate_json(response.message.content).born == 1815


def convert_units(value: float, from_unit: str, to_unit: str) -> float:
    """Convert a value between units.

    Args:
        value: The amount to convert.
        from_unit: The unit of the value, e.g. "miles".
        to_unit: The unit wanted, e.g. "km".
    """
    return value * 1.609344


def lookup_capital(country: str) -> str:
    """The capital city of a country.

    Args:
        country: The country, e.g. "france".
    """
    return {"France": "Paris", "Japan": "Tokyo"}[country]


@pytest.fixture
def demo():
    with StandInServer(responder=DemoResponder(delay=0)) as server:
        yield server


def test_a_teachers_two_questions_call_both_tools_with_the_prompts_words(demo):
    """The issue's try: two sentences, two tools; arguments as the prompt writes them."""
    reply = ollama_nb.chat("How many km is 26.2 miles? And what is the capital of France?", model="llama3.2",
                           host=demo.url, tools=[convert_units, lookup_capital], display="none")  # fmt: skip
    calls = [(t.name, t.arguments) for t in reply.trace if isinstance(t, ToolRound)]
    assert calls == [("convert_units", {"value": 26.2, "from_unit": "miles", "to_unit": "km"}),
                     ("lookup_capital", {"country": "France"})]  # fmt: skip
    assert "Paris" in reply.content and "42.16" in reply.content


def test_a_country_named_in_the_prompt_keeps_its_case(demo):
    reply = ollama_nb.chat("What is the capital of Japan?", model="llama3.2", host=demo.url,
                           tools=[convert_units, lookup_capital], display="none")  # fmt: skip
    assert [(t.name, t.arguments) for t in reply.trace if isinstance(t, ToolRound)] == [
        ("lookup_capital", {"country": "Japan"})]  # fmt: skip


def test_when_the_prompt_does_not_give_an_argument_the_demo_model_says_so(demo):
    reply = ollama_nb.chat("What is the capital?", model="llama3.2", host=demo.url,
                           tools=[lookup_capital], display="none")  # fmt: skip
    assert not [t for t in reply.trace if isinstance(t, ToolRound)]
    assert "could not tell the `country` for `lookup_capital`" in reply.content


def test_token_probabilities_vary_by_token_and_alternatives_are_tokens(demo):
    reply = ollama_nb.chat("Why is the sky blue?", model="llama3.2", host=demo.url, display="none",
                           logprobs=True, top_logprobs=3)  # fmt: skip
    chances = {round(p["logprob"], 3) for p in reply.logprobs}
    assert len(chances) > 5 and all(-0.8 < c <= 0 for c in chances)
    alternatives = [a["token"] for p in reply.logprobs for a in p["top_logprobs"][1:]]
    assert alternatives and not any("<alt" in a for a in alternatives)

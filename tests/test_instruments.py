"""Instruments that tell the truth: the context meter, the timeline, thinking, nested turns and
the loaders, each as a user meets it (IPython's shell, a real kernel, the real Ollama)."""

from __future__ import annotations

import json
import re
from xml.etree import ElementTree

import nbformat
import pytest

import ollama_nb
from ollama_nb import inside_html, phases, render
from ollama_nb.reply import MIME, Reply
from ollama_nb.standin import Turn
from ollama_nb.stream import Metrics
from ollama_nb.trace import ContextUse, ModelTurn, ToolRound, Trace

from .conftest import execute_notebook, run_cell
from .rawserver import Answer, RawServer, chunk


# -- a plain model's <think> is its words ---------------------------------------------------------
def test_a_plain_models_literal_think_tag_stays_in_its_answer(ip, server):
    words = ["Write ", "<thi", "nk> to open a block, ", "</think> to close it. Done."]
    server.push(Turn(content=words))
    run_cell(ip, "%%ollama -m llama3.2\nHow do I mark thinking?")  # llama3.2 does not declare thinking
    reply = ip.user_ns["_ollama"]
    assert reply.content == "".join(words) and reply.thinking == ""
    server.push(Turn(content=["<think>", "Let me see.", "</think>\n\n", "Like this."]))
    run_cell(ip, "%%ollama -m qwen3\nHow do I mark thinking?")  # qwen3 declares it: its tags are thinking
    reply = ip.user_ns["_ollama"]
    assert (reply.thinking, reply.content) == ("Let me see.", "Like this.")


# -- loaders validate what they hand back ---------------------------------------------------------
def _saved_reply(tmp_path, **fields) -> str:
    record = Reply("llama3.2", [{"role": "user", "content": "hi"}], Trace("llama3.2")).to_record()
    record.update(fields)
    nb = nbformat.v4.new_notebook()
    output = nbformat.v4.new_output("display_data", data={"text/plain": "hi", MIME: record})
    nb.cells.append(nbformat.v4.new_code_cell("%%ollama --chat c\nhi", outputs=[output]))
    path = tmp_path / "class.ipynb"
    nbformat.write(nb, path)
    return str(path)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"messages": [{"role": "evil", "content": "x"}]}, "messages.0.role: Input should be 'system'"),
        (
            {"messages": [{"role": "user", "content": 1}]},
            "messages.0.content: Input should be a valid string",
        ),
        ({"history": -5}, "history: Input should be greater than or equal to 0"),
    ],
)
def test_load_conversation_refuses_a_record_the_server_would_not_take(ip, tmp_path, fields, problem):
    path = _saved_reply(tmp_path, **fields)
    result = run_cell(ip, f"import ollama_nb\nmessages = ollama_nb.load_conversation({path!r})")
    error = result.error_in_exec
    assert isinstance(error, ollama_nb.RecordError)
    assert len(error._render_traceback_()) == 1 and "\n" not in str(error)  # one line, no traceback
    assert str(error).startswith(f"{path}, cell 1: {problem}")


@pytest.mark.parametrize(
    ("turns", "problem"),
    [
        ([{"cell": "a", "start": 0, "prompt_tokens": -5}], "turns.0"),
        ([{"cell": "a", "start": -5}], "each start must be a message index"),
    ],
)
def test_conversation_load_refuses_negative_counts(ip, tmp_path, turns, problem):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"version": 1, "name": "c", "messages": [{"role": "user", "content": "hi"}],
                                "turns": turns}))  # fmt: skip
    result = run_cell(ip, f"from ollama_nb import Conversation\nc = Conversation.load({str(path)!r})")
    error = result.error_in_exec
    assert isinstance(error, ollama_nb.RecordError) and str(path) in str(error) and problem in str(error)


# -- no turn inside a turn of the same conversation ------------------------------------------------
ASKS_AGAIN = '''
def look_up(topic: str) -> str:
    """Look a topic up in the class notes."""
    get_ipython().run_cell_magic("ollama", "-m llama3.2 --chat tides", f"What do the notes say about {topic}?")
    return "nothing found"
'''


def test_a_tool_cannot_add_a_turn_to_the_conversation_that_called_it(ip, server):
    run_cell(ip, ASKS_AGAIN)
    server.push(Turn(tool_calls=[{"name": "look_up", "arguments": {"topic": "tides"}}]),
                Turn(content="The notes say nothing about tides."))  # fmt: skip
    result = run_cell(ip, "%%ollama -m llama3.2 --chat tides --tools look_up\nWhat about tides?")
    assert result.success
    reply = ip.user_ns["_ollama"]
    (trip,) = reply.trace
    assert (
        trip.status == "error"
        and "Conversation 'tides' is waiting for the answer that called this tool" in trip.error
    )
    assert "\n" not in trip.error
    assert len(server.state.chats()) == 2  # the inner turn was never sent
    chat = ollama_nb.api.conversation("tides")
    assert [m["role"] for m in chat.messages] == ["user", "assistant", "tool", "assistant"]
    assert chat.messages[0]["content"] == "What about tides?" and len(chat) == 1
    server.push(Turn(content="Tides follow the moon."))  # and the conversation goes on
    assert run_cell(ip, "%%ollama --chat tides\nAnd the moon?").success and len(chat) == 2


# -- the timeline agrees with itself --------------------------------------------------------------
def _metrics(load: float, prompt: float, writing: float, extra: float = 0.001) -> Metrics:
    ns = 1_000_000_000
    return Metrics(total_duration=int((load + prompt + writing + extra) * ns), load_duration=int(load * ns),
                   prompt_eval_count=120, prompt_eval_duration=int(prompt * ns), eval_count=30,
                   eval_duration=int(writing * ns))  # fmt: skip


def _trace(server: tuple[float, float, float], wall: float, first: float | None, gap: float = 0.01) -> Trace:
    """Two model turns around a tool call; the server reports ``server`` (load, prompt, writing)
    for each, this machine measured ``wall`` seconds a turn with the first token after ``first``."""
    trace = Trace("qwen3")
    one = ModelTurn(0, "qwen3", 0.0, wall, _metrics(*server), "stop", 1, first_token_s=first)
    trip = ToolRound("add", {}, 0, 0, status="ok", started_s=wall + gap, duration_s=0.05, result="3")
    two = ModelTurn(1, "qwen3", wall + 2 * gap + 0.05, wall, _metrics(*server), "stop", first_token_s=first)
    trace.entries += [one, trip, two]
    return trace


def _bars(svg: str) -> list[list[tuple[float, float, str]]]:
    """Each row's rectangles (x, width, title), the row's own bar first."""
    root = ElementTree.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    rows: dict[float, list[tuple[float, float, str]]] = {}
    for rect in root.iter(f"{ns}rect"):
        title = rect.find(f"{ns}title")
        if title is not None:  # the legend's squares have none
            rows.setdefault(float(rect.get("y")), []).append(
                (float(rect.get("x")), float(rect.get("width")), title.text or "")
            )
    return [rows[y] for y in sorted(rows)]


SHAPES = [
    ((0.5, 2.0, 1.0), 3.65, 2.55),  # a live server: its work fits inside the measured turn
    ((0.02, 0.174, 1.07), 0.67, 0.056),  # the stand-in and recordings: the server reports more
    ((3.0, 9.0, 20.0), 0.01, 0.001),  # much more
    ((0.0, 0.0, 0.5), 2.0, None),  # no first token seen, nothing loaded
    ((0.1, 0.1, 0.1), 0.0005, None),  # a turn too short to see
]


@pytest.mark.parametrize(("server", "wall", "first"), SHAPES)
def test_the_timeline_keeps_every_bar_inside_its_turn_and_the_drawing(server, wall, first):
    trace = _trace(server, wall, first)
    width = 600
    rows = _bars(inside_html.timeline_svg(trace, width=width))
    assert [title.split(":")[0] for (_, _, title), *_ in rows] == ["model turn 1", "add", "model turn 2"]
    ends = []
    for (x, w, _), *inner in rows:
        assert x >= 0 and x + w <= width + 1e-6  # nothing past the drawing's edge
        ends.append(x + w)
        for px, pw, title in inner:  # the phases: inside their turn (a bar is at least a pixel)
            assert x - 1.01 <= px and px + pw <= x + max(w, 1.0) + 1.01, title
            assert px + pw <= width + 1e-6
        assert sum(pw for _, pw, _ in inner) <= max(w, 1.0) * 1.01 + len(inner)  # never more than the turn
    starts = [x for (x, _, _), *_ in rows]
    assert (
        starts == sorted(starts) and ends[0] <= starts[1] + 1.01 and ends[1] <= starts[2] + 1.01
    )  # in order
    for turn in trace.turns:
        found = phases.phases(turn)
        assert sum(p.duration_s for p in found) == pytest.approx(phases.span(turn))
        assert all(p.start_s >= 0 and p.end_s <= phases.span(turn) + 1e-9 for p in found)
        words = phases.describe(turn)
        if turn.first_token_s is not None and "server" not in words:  # in one clock: the order holds
            read = sum(p.duration_s for p in found if p.name in ("load", "prompt"))
            assert turn.first_token_s >= read - 1e-3, words


@pytest.mark.parametrize(("server", "wall", "first"), SHAPES)
def test_the_status_never_says_the_model_took_longer_than_the_whole(server, wall, first):
    trace = _trace(server, wall, first)
    reply = Reply("qwen3", [], trace, metrics=sum((t.metrics for t in trace.turns), Metrics()))
    line = render.reply_status(reply)
    model_s, all_s = re.search(r"model ([\d.]+ \S+) .* ([\d.]+ \S+) in all", line).groups()
    assert _seconds(model_s) <= _seconds(all_s), line


def _seconds(text: str) -> float:
    number, unit = text.split()
    return float(number) * {"s": 1, "ms": 1e-3, "µs": 1e-6}[unit]


def test_a_stand_in_answer_with_a_tool_round_draws_a_consistent_timeline_in_a_real_kernel(server):
    """The stand-in reports server times (20 ms loading, 2 ms a prompt token, 25 ms a token
    written) far longer than its instant answers: the saved output must still agree with itself."""
    server.push(Turn(content="Let me add.", tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 2}}]),
                Turn(content="It is 3."))  # fmt: skip
    tool = 'def add(a: int, b: int) -> int:\n    """Add two numbers."""\n    return a + b'
    nb = execute_notebook(
        ["%load_ext ollama_nb", tool, "%%ollama -m llama3.2 --tools add\nWhat is 1+2?"], server
    )
    (data,) = [o["data"] for o in nb.cells[2].outputs if MIME in o.get("data", {})]
    html = data["text/html"]
    svg = html[html.index("<svg") : html.index("</svg>") + 6]
    width = int(re.search(r'<svg[^>]* width="(\d+)"', svg).group(1))
    rows = _bars(svg)
    assert [title.split(":")[0] for (_, _, title), *_ in rows] == ["model turn 1", "add", "model turn 2"]
    for (x, w, _), *inner in rows:
        assert x + w <= width and all(px + pw <= min(x + max(w, 1.0) + 1.01, width) for px, pw, _ in inner)
    (turn_one, _), (trip, _) = rows[0][0][:2], rows[1][0][:2]
    assert turn_one + rows[0][0][1] <= trip + 1.01  # the tool call starts after turn 1's writing
    status = re.search(r'class="ollama-nb-status">([^<]*)<', html).group(1)
    model_s, all_s = re.search(r"model ([\d.]+ \S+) .* ([\d.]+ \S+) in all", status).groups()
    assert _seconds(model_s) <= _seconds(all_s), status
    assert (
        "times by the server&#x27;s own clock" in html
    )  # its figures are named as its own where they do not fit


# -- the context meter cries no wolf ----------------------------------------------------------------
NOTES_TOOL = '''
def look_up_notes(topic: str, chapter: int = 1, detail: str = "short") -> str:
    """Look a topic up in the class notes, the handouts of this term and the reading list.

    Args:
        topic: What to look up, in a few words, as a student would say it in class.
        chapter: The chapter of the course book the topic belongs to, when known.
        detail: How much to say back: "short" for a line, "long" for a paragraph.
    """
    return f"{topic}: see chapter {chapter}"
'''


def test_a_chat_cell_without_the_tools_of_the_one_before_does_not_cry_wolf(ip, server):
    """At 3 % of the context, a cell that no longer sends tool schemas has a shorter prompt than
    the one before: nothing was dropped, and the server's own rendering says so."""
    run_cell(ip, NOTES_TOOL)
    server.push(Turn(content="Hello! Ask me about the notes."), Turn(content="You are welcome."))
    assert run_cell(ip, "%%ollama -m llama3.2 --chat wolf --tools look_up_notes\nHello").success
    first = ip.user_ns["_ollama"].context
    assert run_cell(ip, "%%ollama --chat wolf\nThanks").success
    meter = ip.user_ns["_ollama"].context
    assert meter.prompt_tokens < meter.previous_prompt and (meter.fraction or 1) < 0.05  # shorter, and tiny
    assert ollama_nb.context.warnings(meter, "wolf") == []
    assert "oldest messages" not in render.static_html(ip.user_ns["_ollama"])
    assert first.carried[-1].tools > 500  # the record says what the turn carried
    assert meter.carried_before.tools == first.carried[-1].tools and meter.carried[-1].tools == 0
    assert meter.check == "kept"  # asked the server: it kept every message


def test_where_the_server_cannot_say_the_meter_says_may_and_why(ip, server):
    server.state.version = "0.11.0"  # before truncate: false: it cannot render a prompt uncut
    run_cell(ip, NOTES_TOOL)
    server.push(Turn(content="Hello!"), Turn(content="Welcome."))
    run_cell(ip, "%%ollama -m llama3.2 --chat may --tools look_up_notes\nHello")
    run_cell(ip, "%%ollama --chat may\nThanks")
    meter = ip.user_ns["_ollama"].context
    assert meter.check == "unchecked" and "cannot render a prompt uncut" in meter.check_note
    (words,) = ollama_nb.context.warnings(meter, "may")
    assert words.startswith("The prompt may have lost its oldest messages")
    assert "tool schemas (" in words and "none now" in words and "could not say" in words


def test_messages_really_dropped_are_named_as_dropped_by_the_server(ip, server):
    for word in ("apples", "pears", "plums"):
        server.push(Turn(content="Noted. " * 3))
        run_cell(ip, f"%%ollama -m llama3.2 --chat fruit -o num_ctx=64\n{f'{word} ' * 20}")
    meter = ip.user_ns["_ollama"].context
    assert meter.check == "dropped"
    (words, *_) = ollama_nb.context.warnings(meter, "fruit")
    assert words.startswith("The prompt lost its oldest messages") and "may" not in words.split(":")[0]


@pytest.mark.parametrize("said", [-4096, True, 0, "4096"])
def test_a_context_length_that_cannot_be_one_is_unknown(ip, said):
    done = chunk("Hi.", done=True, prompt_eval_count=13, eval_count=2)
    ps = json.dumps({"models": [{"model": "m", "name": "m", "context_length": said}]})
    show = json.dumps({"model_info": {"llama.context_length": said}, "capabilities": ["completion"]})
    with RawServer(Answer(lines=[done]), Answer(content_type="application/json", lines=[ps]),
                   Answer(content_type="application/json", lines=[show])) as raw:  # fmt: skip
        result = run_cell(ip, f"%%ollama -m m --host {raw.url}\nhi")
    assert result.success
    meter = ip.user_ns["_ollama"].context
    assert meter.limit is None and meter.fraction is None
    assert ollama_nb.context.meter_text(meter) == "15 tokens in context (its length is unknown)"
    assert ollama_nb.context.warnings(meter) == []
    saved = Reply.from_record({**ip.user_ns["_ollama"].to_record()})
    assert saved.context.limit is None
    hostile = ContextUse(prompts=[13], answer_tokens=2, limit=-4096)  # a record that says so
    assert "-4,096" not in ollama_nb.context.meter_text(hostile) and "%" not in ollama_nb.context.summary(
        hostile
    )


def test_what_a_turn_carried_is_kept_in_a_saved_conversation(ip, server, tmp_path):
    run_cell(ip, NOTES_TOOL)
    server.push(Turn(content="Hi."))
    run_cell(ip, "%%ollama -m llama3.2 --chat kept --tools look_up_notes\nHello")
    path = tmp_path / "kept.json"
    run_cell(ip, f"import ollama_nb\nollama_nb.api.conversation('kept').save({str(path)!r})")
    (turn,) = ollama_nb.Conversation.load(path).turns
    assert turn.carried is not None and turn.carried.tools > 500 and turn.carried.model.startswith("llama3.2")

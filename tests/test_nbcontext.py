"""The notebook as context: cells recorded in a real kernel, the text built from them (budget,
secrets, skip cells), --fix's cells, code taken out of an answer, and ``{{df}}``."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from ollama_nb import nbcontext, render
from ollama_nb.depends import dependencies, names_defined
from ollama_nb.markdown import answer_code, code_blocks
from ollama_nb.masking import Secret, find_secrets
from ollama_nb.nbcontext import Cell, build, build_fix, estimate_tokens
from ollama_nb.reply import MIME, Reply
from ollama_nb.standin import Turn
from ollama_nb.trace import FromNotebook, Trace
from ollama_nb.values import text_form

from .conftest import execute_notebook, run_cell

ASK = "%%ollama -m llama3.2 --notebook\nWhat happened above?"


def shown(server, index: int = -1) -> str:
    """The notebook message a request carried (the one just ahead of its prompt)."""
    messages = server.state.chats()[index]["messages"]
    assert messages[-2]["role"] == "user" and messages[-2]["content"].startswith(nbcontext.NOTEBOOK_HEADER)
    return messages[-2]["content"]


def entry(nb) -> dict:
    """The 'From the notebook' trace entry of the last %%ollama cell's saved reply."""
    (record,) = [o["data"][MIME] for o in nb.cells[-1].outputs if MIME in o.get("data", {})]
    (found,) = [e for e in record["trace"]["entries"] if e["kind"] == "notebook"]
    return found


def said(nb) -> str:
    return "".join(o.get("data", {}).get("text/plain", "") + o.get("text", "") for o in nb.cells[-1].outputs)


# -- through a real kernel ----------------------------------------------------------------------------
def test_the_request_carries_code_printed_text_results_and_errors(server, monkeypatch):
    monkeypatch.setenv("OLLAMA_API_KEY", "ollama-key-0123456789")
    cells = [
        "%load_ext ollama_nb",
        "rows = [3, 5, 8]\nprint('mean is', sum(rows) / len(rows))",
        "import sys\nprint('careful', file=sys.stderr)\nmax(rows) * 2",
        "import pandas as pd\npd.DataFrame({'city': ['Oslo', 'Lima'], 'rain_mm': [763, 6]})",
        "def ratio(a, b):\n    return a / b\nratio(1, 0)",
        "# ollama: skip\nprint('my diary')",
        "github_token = 'ghp_secretvalue42'\nprint('token is', github_token)",
        "import os\nprint(os.environ['OLLAMA_API_KEY'], 'https://ada:pa55word@example.com/x')",
        "%%ollama -m llama3.2\nSay OK.",
        ASK,
    ]
    nb = execute_notebook(cells, server, allow_errors=True)
    text, found = shown(server), entry(nb)
    assert server.state.chats()[-1]["messages"][-1]["content"] == "What happened above?"
    assert "rows = [3, 5, 8]" in text and "mean is 5.333333333333333" in text  # code and printed text
    assert "careful" in text and "Out[3]:\n```\n16\n```" in text  # stderr and a result
    assert "city  rain_mm" in text and "Oslo" in text  # a DataFrame's text form
    assert "ZeroDivisionError: division by zero" in text and "in ratio\n    return a / b" in text
    assert "interactiveshell" not in text  # the user's frames only
    assert "my diary" not in text and found["skipped"] == [6]
    for secret in ("ghp_secretvalue42", "ollama-key-0123456789", "pa55word"):
        assert secret not in text
    assert "[masked: github_token]" in text and "https://ada:[masked]@example.com" in text
    assert found["masked"] == {"github_token": 2, "OLLAMA_API_KEY": 1, "a password in a URL": 2}
    assert "Say OK.\n```\nOutput:\n```\nOK.\n```" in text and "tokens/s" not in text  # the answer only
    assert [c["number"] for c in found["cells"]] == [
        1,
        2,
        3,
        4,
        5,
        7,
        8,
        9,
    ]  # in run order, not the asking cell
    assert "What happened above" not in text
    assert text.index("In [2]:") < text.index("In [5]:") < text.index("In [9]:")
    assert "From the notebook: 8 cells · ~" in said(nb) and "5 values masked" in said(nb)


def test_two_hundred_cells_send_what_fits_newest_first(server):
    cells = ["%load_ext ollama_nb"] + [
        f"value_{i} = {i} * 3\nprint('cell {i} gives', value_{i})" for i in range(200)
    ]
    nb = execute_notebook([*cells, ASK], server)
    text, found = shown(server), entry(nb)
    sent = [c["number"] for c in found["cells"]]
    assert found["budget"] == 1024  # a quarter of the stand-in's 4,096-token context
    assert sent == list(range(202 - len(sent), 202))  # the newest, whole, in run order
    assert sum(c["tokens"] for c in found["cells"]) <= found["tokens"] <= 1024
    assert nbcontext.estimate_tokens(text) <= 1024
    assert found["left_out"] == list(range(1, 202 - len(sent)))  # said, by number
    assert "cell 199 gives 597" in text and "cell 0 gives" not in text
    assert text.count("\nIn [") == len(sent) and len(sent) > 10
    assert f"{201 - len(sent)} left out for the budget" in said(nb)


def test_fix_sends_the_failing_code_its_error_and_the_cells_it_uses(server):
    cells = [
        "%load_ext ollama_nb",
        "prices = {'tea': 3, 'cake': 4}",
        "noise = 'unrelated'",
        "def total(order):\n    return sum(prices[item] for item in order)",
        "total(['tea', 'scone'])",
        "print('still fine')",
        "%ollama fix -m llama3.2",
    ]
    execute_notebook(cells, server, allow_errors=True)
    messages = server.state.chats()[-1]["messages"]
    fix, question = messages[-2]["content"], messages[-1]["content"]
    assert (
        fix.startswith(nbcontext.FIX_HEADER)
        and question == "Explain the error, then give the corrected cell."
    )
    assert "The failing cell:\n\nIn [5]:\n```python\ntotal(['tea', 'scone'])" in fix
    assert "KeyError: 'scone'" in fix and "in total\n    return sum(prices[item] for item in order)" in fix
    assert "prices = {'tea': 3, 'cake': 4}" in fix and "def total(order)" in fix  # what it depends on
    assert "unrelated" not in fix and "still fine" not in fix


def test_code_comes_back_as_exactly_one_new_cell_holding_only_the_code(server):
    from .real import Kernel

    server.push(
        Turn(content="Like this:\n\n```python\nprint(sum([1, 2]))\n```\n\nand\n\n```python\nx = 2\n```\n")
    )
    kernel = Kernel(server.url)
    try:
        client = kernel.client
        msg_id = client.execute("%%ollama -m llama3.2 --code\nAdd up 1 and 2 in Python.", allow_stdin=True)
        reply = client.get_shell_msg(timeout=60)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = client.get_shell_msg(timeout=60)
        payloads = reply["content"]["payload"]
        assert payloads == [{"source": "set_next_input", "text": "print(sum([1, 2]))", "replace": False}]
        assert kernel.value("_ollama.code") == "print(sum([1, 2]))\n"
    finally:
        kernel.close()


def test_a_cell_run_again_counts_once_at_its_last_place(ip, server):
    from ollama_nb import cells

    recorder = cells.recorder(ip)
    assert recorder is not None
    ip.run_cell("seen = 'first'\nprint(seen)", store_history=True, cell_id="cell-a")
    ip.run_cell("other = 2", store_history=True, cell_id="cell-b")
    ip.run_cell("seen = 'second'\nprint(seen)\nseen", store_history=True, cell_id="cell-a")
    *_, other, again = recorder.cells()
    assert other.code == "other = 2" and (again.output, again.result) == ("second", "'second'")
    assert [c.code for c in recorder.cells()].count("seen = 'first'\nprint(seen)") == 0


# -- the builder -----------------------------------------------------------------------------------
def many(n: int) -> list[Cell]:
    return [Cell(i, f"x_{i} = {i}\nprint(x_{i})", output=f"{i}\n") for i in range(1, n + 1)]


def test_the_budget_is_kept_with_whole_cells_and_n_takes_the_last_n():
    built = build(many(200), budget=500)
    assert 0 < built.entry.tokens <= 500 and estimate_tokens(built.text) <= 500
    assert built.entry.cells[-1].number == 200 and built.entry.left_out[0] == 1
    assert len(built.entry.cells) + len(built.entry.left_out) == 200
    last = build(many(200), last=3)
    assert [c.number for c in last.entry.cells] == [198, 199, 200] and "In [197]" not in last.text
    assert "3 left out" not in render.notebook_summary(last.entry)
    assert "197 left out (only the last 3 asked for)" in render.notebook_summary(last.entry)


def test_a_budget_too_small_for_any_cell_sends_nothing_and_says_so():
    built = build(many(5), budget=10)
    assert built.text == "" and built.entry.cells == [] and built.entry.left_out == [1, 2, 3, 4, 5]
    assert "No cell was sent" in render.notebook_html(built.entry)


def test_secrets_are_found_by_name_in_the_notebook_and_the_environment():
    found = find_secrets(
        {"db_password": "correct horse", "config": {"apiKey": "abcd1234", "user": "ada"}, "x": "correct horse2",
         "Token": b"bytes-token", "short_key": "ab", "_private_token_cache": "zzzzzz"},
        {"OLLAMA_API_KEY": "k-123456", "HOME": "/root", "AWS_SECRET_ACCESS_KEY": "aws-secret-1"},
    )  # fmt: skip
    names = {s.name for s in found}
    assert names == {"db_password", "config['apiKey']", "Token", "_private_token_cache", "OLLAMA_API_KEY",
                     "AWS_SECRET_ACCESS_KEY"}  # fmt: skip
    cells = [
        Cell(1, "db_password = 'correct horse'\nprint(db_password, 'correct horse2')", output="correct horse")
    ]
    built = build(cells, secrets=found)
    assert "correct horse'" not in built.text and built.text.count("[masked: db_password]") == 3
    assert built.entry.masked == {"db_password": 3}  # the value that merely starts alike is masked too
    assert "correct horse" not in render.notebook_html(built.entry)


def test_the_trace_entry_is_kept_in_the_saved_record_and_rendered_safely():
    built = build([Cell(4, "a = 1"), Cell(5, "# ollama: skip <b>")], secrets=[Secret("<script>", "a = 1")])
    trace = Trace("m", entries=[built.entry])
    again = Reply.from_record(Reply("m", [], trace, content="ok").to_record())
    assert again.trace.notebook == built.entry and isinstance(again.trace.notebook, FromNotebook)
    html = render.static_html(again)
    assert "<script>" not in html and "&lt;script&gt;" in html and "In [4]" in html
    assert "From the notebook: 1 cell · ~" in render.static_text(again)
    assert render.numbers([1, 2, 3, 7, 9, 10]) == "In [1]–[3], [7], [9]–[10]"


# -- --fix --------------------------------------------------------------------------------------------
def test_fix_sends_the_failing_cell_and_the_cells_it_depends_on():
    cells = [
        Cell(1, "import math\nfrom os import path as p"),
        Cell(2, "unrelated = 'lorem ipsum'"),
        Cell(3, "radius = 2.0"),
        Cell(4, "def area(r):\n    local_name = 1\n    return math.pi * r ** 2"),
        Cell(5, "%%ollama\nsomething"),
        Cell(6, "print(area(radius) / count)", error="NameError: name 'count' is not defined"),
        Cell(7, "fine = 1"),
    ]
    built = build_fix(cells)
    assert built is not None
    assert [c.number for c in built.entry.cells] == [6, 1, 3, 4] and built.entry.purpose == "fix"
    assert "print(area(radius) / count)" in built.text and "NameError: name 'count'" in built.text
    assert "unrelated" not in built.text and "fine = 1" not in built.text
    assert "corrected version" in built.text and built.text.index("In [6]") < built.text.index("In [1]")
    assert names_defined(cells[3].code) == {"area"}  # not its locals
    assert build_fix(cells[:5]) is None  # nothing failed
    tight = build_fix(cells, budget=built.entry.tokens - 1)
    assert tight is not None and [c.number for c in tight.entry.cells] == [6, 3, 4]
    assert tight.entry.left_out == [1]


def test_dependencies_follow_names_through_earlier_cells():
    cells = [Cell(1, "a = 1"), Cell(2, "a = 2\n!ls\n%time b = 0"), Cell(3, "for i, c in enumerate([a]):\n    pass"),
             Cell(4, "with open('f') as handle:\n    d = c")]  # fmt: skip
    assert dependencies("print(d, handle)", [c.code for c in cells]) == [3, 2, 1]


# -- --code ---------------------------------------------------------------------------------------------
def test_code_comes_out_of_an_answer_from_fences_only():
    answer = (
        "Use this:\n\n```python\nx = 1\n```\n\nNot `inline`, nor\n\n    indented = 1\n\n~~~\ny = 2\n~~~\n"
    )
    assert code_blocks(answer) == ["x = 1\n", "y = 2\n"]
    assert answer_code(answer) == "x = 1\n" and answer_code(answer, every=True) == "x = 1\n\ny = 2\n"
    assert answer_code("no code here") is None
    assert answer_code("```python\nunclosed = True\n") == "unclosed = True\n"


# -- {{df}} ---------------------------------------------------------------------------------------------
def test_a_dataframe_is_sent_as_its_shape_columns_first_rows_and_numbers(ip, server):
    ip.user_ns["sales"] = pd.DataFrame({"region": ["north", "south"] * 50, "units": range(100)})
    run_cell(ip, "%%ollama -m llama3.2\nSummarise {{sales}}")
    prompt = server.state.chats()[-1]["messages"][-1]["content"]
    assert "pandas DataFrame: 100 rows × 2 columns" in prompt and "units (int64)" in prompt
    assert "region (" in prompt and "first 5 rows:" in prompt and "mean" in prompt and "49.5" in prompt
    assert len(prompt) < 2000  # not the whole frame


def test_other_values_are_bounded_and_markdown_is_preferred():
    class Table:
        def _repr_markdown_(self) -> str:
            return "| a |\n| - |\n| 1 |"

    assert text_form(Table()) == "| a |\n| - |\n| 1 |"
    big = text_form(list(range(100_000)))
    assert len(big) < 4100 and big.endswith("more characters left out]")
    assert text_form("s" * 10_000) == "s" * 10_000  # a string the user named goes whole
    assert text_form(pd.Series([1.5, 2.5], name="w")).startswith("pandas Series 'w': 2 values, dtype float64")


@pytest.mark.parametrize("code", ["# ollama: skip\nx = 1", "#ollama:skip", "  # Ollama: Skip  \nsecret()"])
def test_skip_cells_are_never_sent(code):
    built = build([Cell(1, code, output="private", result="private"), Cell(2, "y = 2")])
    assert "private" not in built.text and "In [1]" not in built.text and built.entry.skipped == [1]


# -- the stand-in's demo model reads what it is shown (tutorial 06 runs on it) ------------------------
def test_the_demo_model_answers_from_the_cells_it_was_shown():
    from ollama_nb.standin.demo import demo_turn

    cells = [
        Cell(2, "rain = pd.DataFrame({'city': ['Bergen', 'Lima'], 'rain_mm': [2250, 16]})"),
        Cell(
            3,
            "print(f'The wettest city is {w.city} with {w.rain_mm} mm a year.')",
            output="The wettest city is Bergen with 2250 mm a year.\n",
        ),
        Cell(4, "rain['rainfall'].mean()", error="Traceback (most recent call last):\nKeyError: 'rainfall'"),
    ]

    def ask(prompt: str, shown: str | None) -> str:
        messages = [{"role": "user", "content": shown}] if shown else []
        body = {"model": "llama3.2", "messages": [*messages, {"role": "user", "content": prompt}]}
        return demo_turn(body, False).content

    notebook = build(cells).text
    assert "Bergen with 2250 mm" in ask("Which city is the wettest?", notebook)
    assert "Bergen" not in ask("Which city is the wettest?", None)  # not shown, not known
    code = answer_code(ask("Write the code to sort the table by rain_mm, wettest first.", notebook))
    assert code == 'rain.sort_values("rain_mm", ascending=False)\n'
    fix = build_fix(cells)
    assert fix is not None and answer_code(ask("Fix it.", fix.text)) == "rain['rain_mm'].mean()\n"


# -- in a conversation, from code, from the chat box ------------------------------------------------------
def test_in_a_conversation_what_was_shown_stays_once_and_a_rerun_rolls_it_back(ip, server):
    from ollama_nb.conversation import conversation, conversations

    conversations.pop("trip", None)
    run_cell(ip, "harbour = 'Tromsø'\nprint('the harbour is', harbour)")
    first_ask = "%%ollama -m llama3.2 --chat trip --notebook 4\nWhere is the harbour?"
    run_cell(ip, first_ask)
    first = server.state.chats()[-1]["messages"]
    assert "the harbour is Tromsø" in first[-2]["content"] and first[-1]["content"] == "Where is the harbour?"
    run_cell(ip, "%%ollama -m llama3.2 --chat trip\nAnd the weather?")
    second = server.state.chats()[-1]["messages"]
    assert second[:3] == [*first, {"role": "assistant", "content": "OK."}]  # kept as a message, not re-sent
    run_cell(ip, "%%ollama -m llama3.2 --chat trip --notebook 3\nAnything else?")
    third = server.state.chats()[-1]["messages"]
    assert sum(nbcontext.is_shown(m) for m in third) == 1  # the harbour cell and the asks: held already
    shown = ip.user_ns["_ollama"].trace.notebook
    assert shown.cells == [] and len(shown.already) == 3
    assert "3 in the conversation already" in render.static_text(ip.user_ns["_ollama"])
    run_cell(ip, first_ask)  # asked again from the first cell: its turn, and what it was shown, go
    again = server.state.chats()[-1]["messages"]  # the cell's earlier asks are no cells to send
    assert (
        len(again) == 2
        and "the harbour is Tromsø" in again[0]["content"]
        and "--chat trip" not in again[0]["content"]
    )
    assert len(conversation("trip")) == 1 and nbcontext.is_shown(conversation("trip").messages[0])


def test_chat_from_code_takes_the_cells_it_is_given_and_says_where_none_are(server):
    import ollama_nb

    cells = nbcontext.Notebook((Cell(4, "total = 41 + 1", result="42"), Cell(5, "print(total)", output="42")))
    reply = ollama_nb.chat(
        "What is total?", model="llama3.2", host=server.url, display="none", notebook=1, cells=cells
    )
    messages = server.state.chats()[-1]["messages"]
    assert "In [5]:" in messages[0]["content"] and "In [4]:" not in messages[0]["content"]
    assert reply.trace.notebook is not None and reply.trace.notebook.left_out == [4]
    script = (  # a script: no kernel, no cells recorded
        "import ollama_nb\n"
        f"try:\n    ollama_nb.chat('Hi', model='llama3.2', host={server.url!r}, display='none', notebook=True)\n"
        "except ollama_nb.OllamaNbError as exc:\n    print(type(exc).__name__, exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.startswith("InputError The notebook's cells are recorded from %load_ext ollama_nb on")
    assert len(server.state.chats()) == 1  # nothing sent


def test_notebook_is_a_setting_for_every_cell(ip, server):
    from ollama_nb.settings import defaults

    try:
        run_cell(ip, "%ollama config notebook=2")
        assert defaults.notebook == 2
        run_cell(ip, "%%ollama -m llama3.2\nWhat did I do?")
        assert ip.user_ns["_ollama"].trace.notebook.last == 2
        result = run_cell(ip, "%ollama config notebook=maybe")
        assert "notebook takes True" in str(result.error_in_exec)
    finally:
        defaults.notebook = None


def test_the_chat_box_uses_the_notebook_when_asked(ip, server):
    from ollama_nb import ChatWidget

    run_cell(ip, "flight = 'SK 4107'\nprint('flight', flight)")
    chat = ChatWidget(model="llama3.2", host=server.url)
    assert chat.use_notebook.description == "Use the notebook" and not chat.use_notebook.value
    chat.ask("Hello?", wait=True)
    assert "SK 4107" not in str(server.state.chats()[-1]["messages"])
    chat.use_notebook.value = True
    chat.ask("Which flight?", wait=True)
    messages = server.state.chats()[-1]["messages"]
    assert "flight SK 4107" in messages[-2]["content"] and messages[-1]["content"] == "Which flight?"
    chat.ask("And again?", wait=True)
    assert sum(nbcontext.is_shown(m) for m in server.state.chats()[-1]["messages"]) == 1  # not re-sent


def test_fix_with_nothing_failed_is_one_line_and_sends_nothing(server):
    nb = execute_notebook(
        ["%load_ext ollama_nb", "x = 1", "%ollama fix -m llama3.2"], server, allow_errors=True
    )
    (error,) = [o for o in nb.cells[-1].outputs if o["output_type"] == "error"]
    assert (
        len(error["traceback"]) == 1
        and "Nothing to fix: no cell has raised an error" in error["traceback"][0]
    )
    assert server.state.chats() == []


def test_a_conversation_is_not_sent_older_cells_left_out_for_the_budget():
    """Cells left out for the budget when the conversation was first shown the notebook stay
    out later: the budget freed by what was shown is not spent on older cells."""
    cells = [Cell(number=n, code=f"x{n} = {'1' * 200}") for n in range(1, 21)]
    first = nbcontext.build(cells, budget=400)
    shown = {c.number for c in first.entry.cells}
    again = nbcontext.build(cells, budget=400, before=shown)
    assert again.text == "" and min(shown) > 1 and set(again.entry.left_out) >= set(range(1, min(shown)))

"""The live views: the redraw clock, the status as state, and what a real kernel is left with."""

from __future__ import annotations

import time

import pytest

from ollama_nb import render
from ollama_nb.clock import RedrawClock
from ollama_nb.standin import Turn
from ollama_nb.stream import Metrics
from ollama_nb.trace import ToolRound

from .conftest import execute_notebook


class Drawings:
    def __init__(self, cost: float = 0.0) -> None:
        self.calls: list[tuple[float, bool]] = []
        self.cost = cost

    def __call__(self, on_timer: bool) -> None:
        self.calls.append((time.monotonic(), on_timer))
        time.sleep(self.cost)


def test_the_clock_draws_the_first_change_at_once_then_at_most_every_interval():
    drawings = Drawings()
    clock = RedrawClock(drawings, interval=0.2)
    started = time.monotonic()
    clock.tick()
    assert len(drawings.calls) == 1 and drawings.calls[0][1] is False  # at once, on the caller's thread
    for _ in range(20):
        clock.tick()  # a burst of changes: the timer draws them once
    assert len(drawings.calls) == 1
    time.sleep(0.35)
    assert len(drawings.calls) == 2 and drawings.calls[1][1] is True
    assert drawings.calls[1][0] - started >= 0.19
    clock.now()
    assert len(drawings.calls) == 3


def test_a_stopped_clock_never_draws_from_its_timer():
    drawings = Drawings()
    clock = RedrawClock(drawings, interval=0.1)
    clock.tick()
    clock.tick()  # a timer is set
    clock.stop()
    time.sleep(0.25)
    assert len(drawings.calls) == 1


def test_slow_drawing_stretches_the_interval():
    drawings = Drawings(cost=0.03)
    clock = RedrawClock(drawings, interval=0.01)
    clock.tick()
    assert clock.current >= 0.3  # drawing stays under a tenth of the time


def test_the_status_line_is_state_rendered_afresh():
    status = render.LiveStatus("qwen3")
    assert "qwen3 · waiting for the model…" in render.status_html(status)
    status.phase, status.turn = "streaming", 1
    assert "qwen3 · turn 2 · streaming…" in render.status_html(status)
    status.phase, status.tool = "tool", ToolRound("add", {"a": 1}, 0, 0, status="running")
    assert "running add…" in render.status_html(status)
    status.phase, status.problem = "failed", "<b>no</b>"
    assert "✗ &lt;b&gt;no&lt;/b&gt;" in render.status_html(status)


def test_the_status_line_says_which_time_is_which():
    metrics = Metrics(eval_count=12, eval_duration=300_000_000, total_duration=694_000_000)
    line = render.status_line("qwen3", metrics, rounds=1, wall_s=0.938)
    assert line.endswith("model 694.0 ms · tools 1 call · 938.0 ms in all")
    assert render.status_line("qwen3", metrics).endswith("· model 694.0 ms")


COUNT = (
    "import ipywidgets; print(len(ipywidgets.Widget.widgets), len(get_ipython().kernel.comm_manager.comms))"
)
TOOL = '''
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b
'''


def test_finished_cells_leave_no_widget_open(server):
    cells = 4
    server.push(
        *[
            Turn(content=f"Answer {i}.\n\nMore " + "words " * 30, thinking="Let me think.")
            for i in range(cells)
        ]
    )
    for i in range(cells):
        server.push(Turn(tool_calls=[{"name": "add", "arguments": {"a": 1, "b": i}}]), Turn(content="Done."))
    server.push(*[Turn(content="Plain.") for _ in range(cells)])
    nb = execute_notebook(
        ["%load_ext ollama_nb", TOOL, COUNT]
        + ["%%ollama -m qwen3\nhi"] * cells
        + ["%%ollama -m llama3.2 --tools add\nadd"] * cells
        + ["%%ollama -m llama3.2\nhi"] * cells
        + [COUNT],
        server,
    )
    before, after = nb.cells[2].outputs[0]["text"], nb.cells[-1].outputs[0]["text"]
    assert before.split() == after.split() == ["0", "0"], (before, after)
    html = nb.cells[3].outputs[-1]["data"]["text/html"]
    assert "Answer 0." in html and "tokens/s" in html  # the static output replaced the widgets


INTERRUPTED_IN_FINISH = """
import _thread, threading, time
import ollama_nb
from ollama_nb.view import CellView

view = CellView("llama3.2")

def interrupt_while_finishing():
    while view.status.phase != "finishing":
        time.sleep(0.0005)
    _thread.interrupt_main()

threading.Thread(target=interrupt_while_finishing, daemon=True).start()
try:
    ollama_nb.chat("Tell me everything.", model="llama3.2", view=view)
except KeyboardInterrupt as exc:
    caught = exc
"""


def test_an_interrupt_during_the_final_redraw_leaves_the_static_output(server):
    # a long answer: rendering the static output takes long enough for the interrupt to land in it
    answer = "\n\n".join(f"Paragraph {i}: " + "a *b* `c` " * 200 for i in range(120))
    server.push(Turn(content=[answer[: len(answer) // 2], answer[len(answer) // 2 :]]), Turn(content="Next."))
    nb = execute_notebook(
        ["%load_ext ollama_nb", INTERRUPTED_IN_FINISH,
         "print(type(caught).__name__, len(caught.reply.content), caught.reply.interrupted)",
         COUNT, "%%ollama -m llama3.2\nagain"],
        server, allow_errors=True, timeout=120,
    )  # fmt: skip
    outputs = nb.cells[1].outputs
    assert not [o for o in outputs if o["output_type"] == "error"]
    data = [o for o in outputs if o["output_type"] == "display_data"][-1]["data"]
    assert "application/vnd.jupyter.widget-view+json" not in data  # no dead widget left
    assert "Paragraph 119" in data["text/html"]
    assert nb.cells[2].outputs[0]["text"].split() == ["Interrupted", str(len(answer)), "False"]
    assert nb.cells[3].outputs[0]["text"].split() == ["0", "0"]
    assert "Next." in nb.cells[4].outputs[-1]["data"]["text/html"]  # the kernel goes on


README_SNIPPET = """
from ollama_nb import StreamingMarkdown, TraceView
answer = StreamingMarkdown()
display(answer)
answer.feed("# Notes\\n\\nSome *text*\\n\\nMore text"); answer.draw()
trace = TraceView()
display(trace)
print("after both")
"""


def test_the_readme_widget_kit_snippet_shows_its_parts_in_order(server):
    nb = execute_notebook(
        [README_SNIPPET, COUNT.replace("print(", "print(len(answer._done.outputs), ")], server
    )
    kinds = [(o["output_type"], o.get("text", "")) for o in nb.cells[0].outputs]
    assert [k for k, _ in kinds] == ["display_data", "display_data", "stream"]
    assert kinds[2][1] == "after both\n"  # the cell's own output is not swallowed by the answer
    assert nb.cells[1].outputs[0]["text"].split()[0] == "1"  # the finished blocks, in the answer


@pytest.mark.parametrize("failed", [True, False])
def test_a_failed_call_says_so_in_the_error_colour(failed):
    from ollama_nb.reply import Reply
    from ollama_nb.trace import Trace

    reply = Reply("qwen3", [], Trace("qwen3"), content="Half", error="dropped" if failed else None)
    html = render.reply_status_html(reply)
    assert ('class="ollama-nb-status ollama-nb-failed"' in html) is failed
    assert ('class="ollama-nb-problem">✗ dropped' in html) is failed


def test_thinking_shows_again_when_a_later_turn_thinks():
    import ipywidgets

    from ollama_nb.stream import TextDelta, ThinkingDelta
    from ollama_nb.trace import ModelTurn
    from ollama_nb.view import BoxView

    view = BoxView("qwen3")
    view.turn(ModelTurn(0, "qwen3", 0.0))
    view.event(ThinkingDelta("I need a tool."))
    (thinking,) = [w for w in view.widget.children if isinstance(w, ipywidgets.Accordion)]
    assert thinking.selected_index == 0
    view.event(TextDelta("Let me call it."))
    assert thinking.selected_index is None  # the answer starts: folded away
    view.turn(ModelTurn(1, "qwen3", 1.0))
    view.event(ThinkingDelta("\n\nThe tool said 4."))
    assert thinking.selected_index == 0  # the second turn's thinking is on show
    view.event(TextDelta("It is 4."))
    assert thinking.selected_index is None

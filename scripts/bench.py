"""Streaming and tool-call costs, measured side by side in one run (``make bench``).

Everything runs against the stand-in server on 127.0.0.1 serving chunks as fast as it can (or
paced where a rate matters), with a real kernel (jupyter_client) whose iopub messages are
counted as the front end would receive them. Prints one table; no figure is asserted.
"""

from __future__ import annotations

import itertools
import json
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ollama
from jupyter_client.manager import KernelManager

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ollama_nb import api, loop, masking, nbcontext
from ollama_nb.markdown import to_html
from ollama_nb.nbcontext import Cell
from ollama_nb.standin import StandInServer, Turn
from ollama_nb.tools import Toolbox
from ollama_nb.viewbase import NullView

DISPLAY_TYPES = {"display_data", "update_display_data", "comm_msg", "comm_open", "stream", "clear_output"}

KERNEL_SETUP = r"""
import time, json, ollama, ollama_nb, ipywidgets as widgets
from IPython.display import display
from ollama_nb import api, loop
from ollama_nb.markdown import to_html
from ollama_nb.stream import TextDelta
get_ipython().run_line_magic("load_ext", "ollama_nb")
HOST = api.connect().host

def plain_loop():
    t = time.perf_counter()
    for chunk in ollama.Client(HOST).chat("llama3.2", [{"role": "user", "content": "go"}], stream=True):
        print(chunk.message.content, end="")
    return time.perf_counter() - t

def magic():
    t = time.perf_counter()
    get_ipython().run_cell_magic("ollama", "-m llama3.2", "go")
    return time.perf_counter() - t

class NaiveView(ollama_nb.NullView):
    "The pattern to beat: re-render the whole markdown on every chunk."
    def __init__(self):
        self.text, self.html = "", widgets.HTML()
        display(self.html)
    def event(self, event):
        if isinstance(event, TextDelta):
            self.text += event.text
            self.html.value = to_html(self.text)

def naive():
    t = time.perf_counter()
    request = loop.Request("llama3.2", [{"role": "user", "content": "go"}])
    loop.run(api.connect(), request, view=NaiveView())
    return time.perf_counter() - t
"""


@contextmanager
def kernel(host: str):
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(env={**__import__("os").environ, "OLLAMA_HOST": host})
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    try:
        run(client, KERNEL_SETUP)
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def run(client: Any, code: str) -> tuple[list[tuple[float, dict]], str]:
    """Execute code; return the iopub messages (arrival wall time, message) and its stdout."""
    msg_id = client.execute(code)
    messages, out = [], []
    while True:
        msg = client.get_iopub_msg(timeout=300)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append((time.time(), msg))
        kind = msg["msg_type"]
        if kind == "stream":
            out.append(msg["content"]["text"])
        if kind == "error":
            raise RuntimeError("\n".join(msg["content"]["traceback"]))
        if kind == "status" and msg["content"]["execution_state"] == "idle":
            return messages, "".join(out)


def timed(client: Any, call: str) -> float:
    _, out = run(client, f"print('\\nRESULT', {call})")
    return float(out.rsplit("RESULT", 1)[1])


def chunks(n: int) -> list[str]:
    return [f"w{i} " for i in range(n)]


def markdown_answer(size: int) -> str:
    """A realistic long answer: paragraphs, lists, code and a table, about ``size`` characters."""
    parts, i = [], 0
    while sum(map(len, parts)) < size:
        parts.append(
            f"## Part {i}\n\nThis paragraph explains step {i} with **emphasis**, `code` and a "
            f"[link](https://example.org/{i}); it runs on for a while to look like prose. " * 3 + "\n"
        )
        parts.append("\n".join(f"- item {i}.{k} with some words" for k in range(5)) + "\n")
        parts.append(f"```python\ndef step_{i}(x):\n    return x * {i}\n```\n")
        parts.append("| a | b |\n|---|---|\n" + "\n".join(f"| {k} | {k * i} |" for k in range(4)) + "\n")
        i += 1
    return "\n".join(parts)[:size]


def median_pair(
    client: Any, server: StandInServer, n: int, calls: tuple[str, ...], repeat: int = 3
) -> dict[str, float]:
    times: dict[str, list[float]] = {c: [] for c in calls}
    for _ in range(repeat):
        for call in calls:  # alternate, so drift hits both alike
            server.push(Turn(content=chunks(n)))
            times[call].append(timed(client, call))
    return {c: statistics.median(v) for c, v in times.items()}


def traffic(client: Any, server: StandInServer, call: str, text: str, delay: float) -> dict[str, float]:
    pieces = [text[i : i + 5] for i in range(0, len(text), 5)]
    server.push(Turn(content=["FIRSTTOKEN ", *pieces], delay=delay))
    messages, _ = run(client, f"{call}()")
    shown = [(t, m) for t, m in messages if m["msg_type"] in DISPLAY_TYPES]
    request = [r for r in server.state.requests if r.path == "/api/chat"][-1]  # not /api/ps, asked after it
    first = next(t for t, m in shown if "FIRSTTOKEN" in json.dumps(m["content"]))
    last = max(t for t, m in shown if m["msg_type"] != "update_display_data")  # before the static output
    window = max(last - first, 1e-9)
    streaming = [m for t, m in shown if first <= t <= last]
    final = [m for _, m in shown if m["msg_type"] == "update_display_data"] or [shown[-1][1]]
    live = [m for _, m in shown if m not in final]
    return {
        "messages": len(shown), "per_s": len(streaming) / window, "seconds": window,
        "live_ratio": _size(live) / len(to_html(text)),
        "all_ratio": _size(live + final) / max(_size(final), 1),
        "latency_ms": (first - request.first_chunk_at) * 1e3,
    }  # fmt: skip


def _size(messages: list[dict]) -> int:
    """Bytes of whole messages (header, parent header, metadata, content) as JSON."""
    keys = ("header", "parent_header", "metadata", "content")
    return sum(len(json.dumps({k: m[k] for k in keys}, default=str)) for m in messages)


def noop(x: int) -> int:
    """Return x."""
    return x


def tool_overhead(server: StandInServer, rounds: int = 200) -> tuple[float, float]:
    """Median gap between the end of one answer and the next request: ours vs a hand-written loop."""
    call = lambda i: Turn(tool_calls=[{"name": "noop", "arguments": {"x": i}}])  # noqa: E731
    backend = api.connect(server.url)
    client = ollama.Client(server.url)  # the reference: the tutorial's loop on the official client

    def gaps(start: int) -> list[float]:
        log = [r for r in server.state.requests[start:] if r.path == "/api/chat"]
        return [b.received_at - a.finished_at for a, b in itertools.pairwise(log)]

    start = len(server.state.requests)
    server.push(*[call(i) for i in range(rounds)], Turn(content="done"))
    reply = loop.run(backend, loop.Request("llama3.2", [{"role": "user", "content": "go"}]),
                     toolbox=Toolbox([noop]), view=NullView(), max_rounds=rounds + 1)  # fmt: skip
    ours = [g - r.duration_s for g, r in zip(gaps(start), reply.trace.rounds, strict=False)]

    start = len(server.state.requests)
    server.push(*[call(i) for i in range(rounds)], Turn(content="done"))
    messages: list[dict] = [{"role": "user", "content": "go"}]
    tools = [Toolbox([noop]).schemas()[0]]
    for _ in range(rounds + 1):  # the tutorial's loop, by hand, on the same client
        response = client.chat("llama3.2", messages, tools=tools, stream=True)
        calls_seen = []
        for chunk in response:
            calls_seen += chunk.message.tool_calls or []
        if not calls_seen:
            break
        messages.append({"role": "assistant", "content": "", "tool_calls": calls_seen})
        for tc in calls_seen:
            messages.append(
                {"role": "tool", "tool_name": tc.function.name, "content": str(noop(**tc.function.arguments))}
            )
    by_hand = gaps(start)
    return statistics.median(ours) * 1e3, statistics.median(by_hand) * 1e3


def pull_traffic(client: Any, server: StandInServer, speed: float = 50e6) -> dict[str, float]:
    """``%ollama pull`` of the stand-in's 271 MB model at ``speed`` bytes/s: the messages a front
    end receives while the bars move (redrawn at most four times a second), and the final line."""
    server.state.pull_speed = speed
    server.state.pulled.clear()  # nothing of it on the server yet
    server.state.models = tuple(m for m in server.state.models if m.name != "smollm2:135m")
    started = time.time()
    messages, _ = run(client, "%ollama pull smollm2:135m")
    seconds = time.time() - started
    final = [m for _, m in messages if m["msg_type"] == "update_display_data"][-1]["content"]["data"]
    return {"seconds": seconds, "messages": len(messages), "per_s": len(messages) / seconds,
            "line": final["text/plain"]}  # fmt: skip


CLOCK = "python -m mcp_server_time --local-timezone UTC"
TOKYO_TO_KOLKATA = {"source_timezone": "Asia/Tokyo", "time": "09:00", "target_timezone": "Asia/Kolkata"}


def convert_time(source_timezone: str, time: str, target_timezone: str) -> dict[str, Any]:
    """The notebook function doing what the MCP server's convert_time does, with the same code."""
    from mcp_server_time.server import TimeServer

    return TimeServer().convert_time(source_timezone, time, target_timezone).model_dump()


def _ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def mcp_bench(server: StandInServer, calls: int = 200, starts: int = 5) -> None:
    """The stdio MCP server's start-up, and what one MCP call adds beyond the server's own work,
    beside a notebook function doing the same (mcp-server-time's convert_time)."""
    import asyncio
    import subprocess

    from mcp_server_time.server import TimeServer

    from ollama_nb import mcp

    cold = [float(subprocess.run([sys.executable, "-c", "import time; t = time.perf_counter(); import mcp; "
                                  "print(time.perf_counter() - t)"], capture_output=True, text=True).stdout)
            for _ in range(3)]  # fmt: skip
    clock = mcp.add("bench-clock", CLOCK)
    started, first = [], []
    for _ in range(starts):
        clock.stop()
        t = time.perf_counter()
        box = Toolbox(["mcp:bench-clock/convert_time"])  # the first use starts the server
        started.append(time.perf_counter() - t)
        spec, values = box.prepare("convert_time", TOKYO_TO_KOLKATA)  # type: ignore[misc]
        t = time.perf_counter()
        box.run(spec, dict(values))
        first.append(time.perf_counter() - t)

    # interleaved, so that the machine's load falls on each the same: one call of each kind per step
    mcp_box, function_box = box, Toolbox([convert_time])
    mcp_call = mcp_box.prepare("convert_time", TOKYO_TO_KOLKATA)
    function_call = function_box.prepare("convert_time", TOKYO_TO_KOLKATA)
    loop_ = mcp._runner.loop()

    async def sdk_once() -> float:  # the SDK's own round trip, timed on its loop: no thread hop
        t = time.perf_counter()
        await clock._session.call_tool("convert_time", TOKYO_TO_KOLKATA)  # type: ignore[union-attr]
        return time.perf_counter() - t

    through_mcp, function, work, sdk = [], [], [], []
    for _ in range(calls):
        t = time.perf_counter()
        assert mcp_box.run(*mcp_call).status == "ok"  # type: ignore[misc]
        through_mcp.append(time.perf_counter() - t)
        t = time.perf_counter()
        function_box.run(*function_call)  # type: ignore[misc]
        function.append(time.perf_counter() - t)
        t = time.perf_counter()
        TimeServer().convert_time("Asia/Tokyo", "09:00", "Asia/Kolkata")
        work.append(time.perf_counter() - t)
        sdk.append(asyncio.run_coroutine_threadsafe(sdk_once(), loop_).result())

    backend = api.connect(server.url)
    round_trips: dict[str, list[float]] = {"function": [], "mcp": []}
    for _ in range(10):  # ten rounds of each, alternating
        for label, toolbox in (("function", function_box), ("mcp", mcp_box)):
            start = len(server.state.requests)
            server.push(*[Turn(tool_calls=[{"name": "convert_time", "arguments": TOKYO_TO_KOLKATA}])] * 10,
                        Turn(content="done"))  # fmt: skip
            loop.run(backend, loop.Request("llama3.2", [{"role": "user", "content": "go"}]),
                     toolbox=toolbox, view=NullView(), max_rounds=11)  # fmt: skip
            log = [r for r in server.state.requests[start:] if r.path == "/api/chat"]
            round_trips[label] += [b.received_at - a.finished_at for a, b in itertools.pairwise(log)]
    mcp.remove("bench-clock")

    print(f"7. MCP tools, mcp-server-time over stdio (medians; {calls} calls, {starts} starts):")
    print(f"   the SDK's import in a fresh interpreter {statistics.median(cold):.2f} s · server start on first use "
          f"(spawn, initialize, list tools) {statistics.median(started):.2f} s · the first call after it "
          f"{_ms(first):.2f} ms")  # fmt: skip
    print(f"   one convert_time: notebook function {_ms(function):.3f} ms · MCP {_ms(through_mcp):.3f} ms "
          f"(the server's own work {_ms(work):.3f} ms, the SDK's round trip timed on its loop {_ms(sdk):.3f} ms)")  # fmt: skip
    print(f"   added per MCP call beyond the server's own work {_ms(through_mcp) - _ms(work):.3f} ms, of which "
          f"ollama_nb's thread hop, waiting and mapping {_ms(through_mcp) - _ms(sdk):.3f} ms")  # fmt: skip
    print(f"   tool round-trip in the chat loop, end of answer to next request, tool included: notebook function "
          f"{_ms(round_trips['function']):.3f} ms · MCP {_ms(round_trips['mcp']):.3f} ms")  # fmt: skip


def notebook_cells(n: int = 200) -> list[Cell]:
    """A data-analysis notebook's worth of recorded cells: code, printed text, frames, an error."""
    frame = "\n".join(f"{i:>3}  north  {i * 7:>5}  {i * 0.5:>6.1f}" for i in range(10))
    error = 'Traceback (most recent call last):\n  File "/tmp/ipykernel_1/1.py", line 2, in <module>\n    total / count\nZeroDivisionError: division by zero'
    cells = []
    for i in range(1, n + 1):
        code = f"step_{i} = sales[sales.units > {i}].groupby('region').units.sum()\nprint('step {i}:', step_{i}.sum())"
        cells.append(Cell(i, code, output=f"step {i}: {i * 1234}\n", result=frame if i % 5 == 0 else "",
                          error=error if i % 50 == 0 else ""))  # fmt: skip
    return cells


def notebook_context(runs: int = 200) -> None:
    """Building the context for a 200-cell notebook (secrets found in a namespace of 300 names
    and masked): the time it takes, and the tokens it sends."""
    cells = notebook_cells(200)
    namespace = {f"var_{i}": f"value {i}" for i in range(300)} | {
        "api_key": "sk-123456",
        "db_password": "hunter22",
    }
    environ = {"OLLAMA_API_KEY": "ollama-abcdef", "HOME": "/root", "PATH": "/usr/bin"}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        built = nbcontext.build(
            cells, budget=nbcontext.default_budget(None), secrets=masking.find_secrets(namespace, environ)
        )
        times.append(time.perf_counter() - start)
    whole = nbcontext.build(cells)
    print(f"8. notebook context, 200 cells: built in {statistics.median(times) * 1e3:.2f} ms median of {runs} "
          f"(goal < 10 ms) · sent with the default budget (a quarter of 4,096): {len(built.entry.cells)} cells, "
          f"~{built.entry.tokens:,} tokens, {len(built.entry.left_out)} left out · all 200 cells would be "
          f"~{whole.entry.tokens:,} tokens")  # fmt: skip


def main() -> None:
    if "--mcp" in sys.argv:  # only the MCP part: python scripts/bench.py --mcp
        with StandInServer() as server:
            mcp_bench(server)
        return
    if sys.argv[1:] == ["notebook"]:  # only the figures that need no kernel
        return notebook_context()
    with StandInServer() as server, kernel(server.url) as client:
        print("ollama_nb benchmark: stand-in server on 127.0.0.1, a real ipykernel, medians of 3 runs\n")
        t20 = median_pair(client, server, 20_000, ("plain_loop()", "magic()"))
        t40 = median_pair(client, server, 40_000, ("plain_loop()", "magic()"))
        small = median_pair(client, server, 2_000, ("plain_loop()", "magic()", "naive()"), repeat=1)
        print("1. consumption, 20,000 chunks: plain client loop {:.3f} s · %%ollama {:.3f} s".format(
            t20["plain_loop()"], t20["magic()"]))  # fmt: skip
        print(
            f"   overhead ratio %%ollama / plain loop: {t20['magic()'] / t20['plain_loop()']:.3f} (goal <= 1.10)"
        )
        print(f"   at 2,000 chunks (the naive pattern is quadratic, too slow for more): %%ollama / plain "
              f"{small['magic()'] / small['plain_loop()']:.2f} · naive / plain {small['naive()'] / small['plain_loop()']:.2f}")  # fmt: skip
        print(f"2. scaling 40k/20k: %%ollama {t40['magic()'] / t20['magic()']:.2f} (goal <= 2.2); "
              f"plain loop {t40['plain_loop()'] / t20['plain_loop()']:.2f}")  # fmt: skip
        for size, label, delay, calls in (
            (50_000, "as fast as it can", 0.0, ("magic",)),
            (50_000, "paced ~2,000 chunks/s", 0.0005, ("magic",)),
            (10_000, "as fast as it can", 0.0, ("magic", "naive")),
            (10_000, "paced ~2,000 chunks/s", 0.0005, ("magic", "naive")),
        ):
            answer = markdown_answer(size)
            rows = [(name, traffic(client, server, name, answer, delay)) for name in calls]
            print(
                f"3/4. front-end traffic, {size:,}-character markdown answer, {label} ({rows[0][1]['seconds']:.1f} s):"
            )
            for name, row in rows:
                name = "%%ollama" if name == "magic" else name
                print(f"   {name:9} {row['messages']:5d} messages, {row['per_s']:6.1f}/s while streaming (goal <= ~20/s) · "
                      f"live bytes / rendered answer {row['live_ratio']:7.2f} · all bytes / final output "
                      f"{row['all_ratio']:7.2f} (goal <= 3) · first-chunk latency {row['latency_ms']:.1f} ms (goal <= 50)")  # fmt: skip
        ours_ms, hand_ms = tool_overhead(server)
        print(f"5. tool round-trip, end of answer to next request, tool's own time removed (median of 200): "
              f"ollama_nb {ours_ms:.3f} ms · hand-written client loop {hand_ms:.3f} ms · "
              f"added by ollama_nb {ours_ms - hand_ms:+.3f} ms (goal <= 1 ms)")  # fmt: skip
        pulled = pull_traffic(client, server)
        print(f"6. %ollama pull, 271 MB at 50 MB/s ({pulled['seconds']:.1f} s): {pulled['messages']} messages, "
              f"{pulled['per_s']:.1f}/s (bars redrawn at most 4/s) · left: {pulled['line']!r}")  # fmt: skip
        mcp_bench(server)
    notebook_context()


if __name__ == "__main__":
    main()

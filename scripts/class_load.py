"""A class at once, measured: real kernels as students, each running ``%%ollama`` cells against
the real Ollama built by ``make real-ollama`` (SmolLM2, short answers), and prints tables.

``make class-load`` (or ``.venv/bin/python scripts/class_load.py [--only one,queue,reload,pool,kill]
[--students 5,10,20] [--parallel 1,2]``). Everything runs on this machine's loopback, as processes
of its own (the servers, nginx, the kernels), bounded in count and time, and is stopped at the
end whatever happens.

- one: one server, OLLAMA_NUM_PARALLEL=1 and 2, 5/10/20 students at once: every answer whole?
  time to first token and in all, p50/p95; the wait each cell showed; answers per minute.
- queue: OLLAMA_MAX_QUEUE=2, the model not loaded, 10 students: the 503s asked again, counted.
- reload: half of 10 students send ``-o num_ctx=8192``: what the reloads cost the others.
- pool: two servers behind nginx with deploy/nginx-ollama-pool.conf, 20 students: both used,
  every answer whole; a 5-turn conversation stays on one server, and its prompt evaluation with
  and without the sticky header.
- kill: one of the two servers killed mid-class: answers under way end in one line with what
  arrived kept; the next round goes to the other server.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import re
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts import real_ollama  # noqa: E402 - after the path is set
from scripts.nginx_pool import NginxPool, nginx  # noqa: E402

MIME = "application/vnd.ollama-nb.reply+json"
MODEL = real_ollama.PLAIN
SHORT = "-o num_predict=24 -o temperature=0"
TOTAL_LIMIT_S = 40 * 60  # the whole run stops by itself after this
CELL_LIMIT_S = 300
LOGS = ROOT / "test-artifacts" / "class-load"


def say(text: str) -> None:
    print(text, flush=True)


# -- students: real kernels ------------------------------------------------------------------------
@dataclass
class Answer:
    """What one student's cell showed."""

    student: int
    whole: bool = False
    content: str = ""
    error: str = ""  # the cell's one line, if it failed
    error_lines: int = 0
    first_token_s: float | None = None
    total_s: float | None = None
    wait_s: float = 0.0
    load_s: float = 0.0
    prompt_tokens: int = 0
    prompt_s: float = 0.0  # the server's prompt_eval_duration: short when its cache held the start
    retries: int = 0
    ticked: int = 0  # the highest "waiting for the server: N s" the live status showed
    said_waited: bool = False  # the final status line names the wait
    warned_reload: bool = False  # the cell said it reloads the model for everyone


class Student:
    """A real IPython kernel, started as Jupyter starts one, with this copy of ollama_nb."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.manager = KernelManager(kernel_name="python3")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OLLAMA_HOST": "127.0.0.1:9"}
        LOGS.mkdir(parents=True, exist_ok=True)
        with open(LOGS / f"kernel-{number}.log", "ab") as log:  # its warnings, not on the tables
            self.manager.start_kernel(env=env, stdout=log, stderr=log)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=180)
        messages = self.run("%load_ext ollama_nb")
        if any(m["msg_type"] == "error" for m in messages):
            raise RuntimeError(f"student {number}: the extension did not load")

    def run(self, code: str, timeout: float = CELL_LIMIT_S) -> list[dict[str, Any]]:
        """Execute a cell; its iopub messages until the kernel is idle again."""
        msg_id = self.client.execute(code)
        found, deadline = [], time.monotonic() + timeout
        while True:
            try:
                msg = self.client.get_iopub_msg(timeout=max(deadline - time.monotonic(), 0.1))
            except queue.Empty:
                raise TimeoutError(f"student {self.number}: the cell did not finish in {timeout} s") from None
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return found
            found.append(msg)

    def ask(self, cell: str) -> Answer:
        return read_answer(self.number, self.run(cell))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.stop_channels()
            self.manager.shutdown_kernel(now=True)


def read_answer(number: int, messages: list[dict[str, Any]]) -> Answer:
    """What the student saw: the saved record, the live status lines, the error line."""
    answer = Answer(number)
    records = [m["content"]["data"] for m in messages
               if m["msg_type"] in ("display_data", "update_display_data") and MIME in m["content"]["data"]]  # fmt: skip
    for m in messages:
        value = (
            (m["content"].get("data", {}).get("state", {}) or {}).get("value")
            if m["msg_type"] == "comm_msg"
            else None
        )
        for n in re.findall(r"waiting for the server: (\d+) s", value or ""):
            answer.ticked = max(answer.ticked, int(n))
        if m["msg_type"] == "error":
            answer.error = re.sub(r"\x1b\[[0-9;]*m", "", "".join(m["content"]["traceback"]))
            answer.error_lines = len(m["content"]["traceback"])
    if records:
        data = records[-1]
        record = data[MIME]
        answer.content = record.get("content") or ""
        answer.said_waited = "for the server" in data.get("text/plain", "")
        turns = [e for e in record["trace"]["entries"] if e.get("kind") == "turn"]
        notices = [e["text"] for e in record["trace"]["entries"] if e.get("kind") == "notice"]
        answer.retries = sum(1 for n in notices if "trying again in" in n)
        answer.warned_reload = any("reloads the model for everyone" in n for n in notices)
        if turns:
            answer.first_token_s = turns[0].get("first_token_s")
            answer.total_s = sum(t.get("duration_s") or 0 for t in turns)
        metrics = record.get("metrics") or {}
        answer.wait_s = (metrics.get("wait_duration") or 0) / 1e9
        answer.load_s = (metrics.get("load_duration") or 0) / 1e9
        answer.prompt_tokens = metrics.get("prompt_eval_count") or 0
        answer.prompt_s = (metrics.get("prompt_eval_duration") or 0) / 1e9
        answer.whole = (
            bool(answer.content) and not answer.error and record.get("done_reason") in ("stop", "length")
        )
    return answer


def start_students(count: int) -> list[Student]:
    students: list[Student | None] = [None] * count
    failures: list[BaseException] = []

    def start(i: int) -> None:
        try:
            students[i] = Student(i + 1)
        except BaseException as exc:  # reported below, after the others are up or failed
            failures.append(exc)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
        time.sleep(0.3)  # a gentler start on a shared machine
    for t in threads:
        t.join()
    ready = [s for s in students if s is not None]
    if failures:
        for s in ready:
            s.close()
        raise RuntimeError(f"{len(failures)} kernel(s) did not start: {failures[0]}")
    return ready


def at_once(students: list[Student], cell: Callable[[int], str]) -> tuple[list[Answer], float]:
    """Every student runs its cell at the same moment; their answers and the wall time."""
    answers: list[Answer | None] = [None] * len(students)
    barrier = threading.Barrier(len(students) + 1)

    def go(i: int, student: Student) -> None:
        barrier.wait()
        try:
            answers[i] = student.ask(cell(student.number))
        except TimeoutError as exc:
            answers[i] = Answer(student.number, error=str(exc))

    threads = [threading.Thread(target=go, args=(i, s)) for i, s in enumerate(students)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.monotonic()
    for t in threads:
        t.join()
    return [a for a in answers if a is not None], time.monotonic() - started


def question(extra: str = "", host: str = "") -> Callable[[int], str]:
    where = f" --host {host}" if host else ""
    return lambda n: (
        f"%%ollama -m {MODEL}{where} {SHORT} {extra}\nStudent {n}: tell me one fact about the number {n}."
    )


# -- servers ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def server(name: str, **env: str) -> Iterator[real_ollama.RealOllama]:
    LOGS.mkdir(parents=True, exist_ok=True)
    ollama = real_ollama.RealOllama(log=LOGS / f"{name}.log")
    ollama.env.update(env)
    with ollama:
        yield ollama


def since(log: Path, offset: int) -> str:
    """What a server wrote to its log after ``offset`` (the logs are appended to, run after run)."""
    with open(log, "rb") as text:
        text.seek(offset)
        return text.read().decode(errors="replace")


def warm(url: str) -> None:
    """Load the model (the first answer pays for it, not the class)."""
    httpx.post(f"{url}/api/chat", timeout=300, json={"model": MODEL, "stream": False, "options": {"num_predict": 1},
                                                     "messages": [{"role": "user", "content": "hi"}]}).raise_for_status()  # fmt: skip


# -- tables ----------------------------------------------------------------------------------------
def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


HEAD = ("| run | students | whole | first token p50 / p95 s | in all p50 / p95 s | waited p50 / p95 s "
        "| wait shown | retries | answers/min |\n|---|---|---|---|---|---|---|---|---|")  # fmt: skip


def row(label: str, answers: list[Answer], wall: float) -> str:
    whole = [a for a in answers if a.whole]
    first = [a.first_token_s for a in whole if a.first_token_s is not None]
    total = [a.total_s for a in whole if a.total_s is not None]
    waits = [a.wait_s for a in whole]
    shown = sum(1 for a in whole if a.ticked or a.said_waited)
    retries = sum(a.retries for a in answers)
    per_minute = len(whole) / wall * 60 if wall else 0
    return (f"| {label} | {len(answers)} | {len(whole)} | {seconds(pct(first, 50))} / {seconds(pct(first, 95))} "
            f"| {seconds(pct(total, 50))} / {seconds(pct(total, 95))} | {seconds(pct(waits, 50))} / "
            f"{seconds(pct(waits, 95))} | {shown} | {retries} | {per_minute:.0f} |")  # fmt: skip


def problems(answers: list[Answer]) -> list[str]:
    return [f"  student {a.student}: {a.error.strip()[:160] or 'incomplete'}" for a in answers if not a.whole]


# -- the scenarios ---------------------------------------------------------------------------------
@dataclass
class Run:
    students: list[Student]
    counts: list[int]
    parallel: list[int]
    rows: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def record(self, label: str, answers: list[Answer], wall: float) -> None:
        with open(LOGS / "answers.jsonl", "a") as out:  # every answer's figures, for a closer look
            out.writelines(json.dumps({"run": label, **asdict(a)}) + "\n" for a in answers)
        self.rows.append(row(label, answers, wall))
        say(self.rows[-1])
        for line in problems(answers):
            say(line)


def one_server(run: Run) -> None:
    for parallel in run.parallel:
        with server(f"one-p{parallel}", OLLAMA_NUM_PARALLEL=str(parallel)) as ollama:
            warm(ollama.url)
            for count in run.counts:
                answers, wall = at_once(run.students[:count], question(host=ollama.url))
                run.record(f"one server, NUM_PARALLEL={parallel}", answers, wall)


def queue_full(run: Run) -> None:
    count = min(10, len(run.students))
    with server("queue", OLLAMA_NUM_PARALLEL="1", OLLAMA_MAX_QUEUE="2") as ollama:  # nothing loaded yet
        offset = ollama.log.stat().st_size
        answers, wall = at_once(run.students[:count], question(host=ollama.url))
        run.record("MAX_QUEUE=2, model loading", answers, wall)
        busy = len(re.findall(r"\| +503 \|", since(ollama.log, offset)))
        run.notes.append(f"queue full: the server answered 503 {busy} time(s); the cells asked again "
                         f"{sum(a.retries for a in answers)} time(s); {sum(a.whole for a in answers)} of "
                         f"{count} answers whole")  # fmt: skip


def reload_storm(run: Run) -> None:
    """Half the class asks for another context length, twice: each change reloads the model."""
    count = min(10, len(run.students))
    with server("reload", OLLAMA_NUM_PARALLEL="1") as ollama:
        warm(ollama.url)
        base, wall = at_once(run.students[:count], question(host=ollama.url))
        run.record("reload: nobody sets num_ctx", base, wall)
        plain, big = question(host=ollama.url), question("-o num_ctx=8192", host=ollama.url)
        for number in (1, 2):
            offset = ollama.log.stat().st_size
            answers, wall = at_once(run.students[:count], lambda n: big(n) if n % 2 else plain(n))
            run.record(f"reload round {number}: half send num_ctx=8192", answers, wall)
            others = [a for a in answers if a.student % 2 == 0]
            run.rows.append(row("  of which the others", others, wall))
            say(run.rows[-1])
            loads = since(ollama.log, offset).count("llama runner started")
            first = pct([a.first_token_s or 0 for a in others if a.whole], 50)
            warned = sum(a.warned_reload for a in answers if a.student % 2)
            run.notes.append(f"reload round {number}: {warned} of the {count - len(others)} num_ctx=8192 cells said "
                             f"they reload the model for everyone; the model was loaded {loads} time(s); the others' first "
                             f"token p50 {seconds(first)} s against "
                             f"{seconds(pct([a.first_token_s or 0 for a in base if a.whole], 50))} s when nobody "
                             "set num_ctx")  # fmt: skip


def pool(run: Run, kill: bool) -> None:
    if nginx() is None:
        run.notes.append("pool: nginx is not installed (make class-load installs nginx-light): left out")
        return
    with server("pool-a", OLLAMA_NUM_PARALLEL="1") as a, server("pool-b", OLLAMA_NUM_PARALLEL="1") as b:
        names = {a.url[7:]: "A", b.url[7:]: "B"}
        with NginxPool(list(names)) as nginx_:
            warm(a.url)
            warm(b.url)
            count = min(20, len(run.students))
            answers, wall = at_once(run.students[:count], question(host=nginx_.url))
            run.record("pool of 2 behind nginx", answers, wall)
            chats = Counter(names.get(e.upstream, e.upstream) for e in nginx_.log() if e.path == "/api/chat")
            run.notes.append(f"pool: the {count} chats went {dict(chats)}; a cell's /api/ps went where its chat went: "
                             f"{_same_server(nginx_)}")  # fmt: skip
            conversation(run, nginx_, names)
            if kill:
                killed(run, nginx_, a, names)


def _same_server(nginx_: NginxPool) -> str:
    by_id: dict[str, set[str]] = {}
    for e in nginx_.log():
        if e.conversation:
            by_id.setdefault(e.conversation, set()).add(e.upstream)
    kept = sum(1 for ups in by_id.values() if len(ups) == 1)
    return f"{kept} of {len(by_id)} cells"


def conversation(run: Run, nginx_: NginxPool, names: dict[str, str]) -> None:
    """Five turns of one conversation, through ollama_nb (sticky), then the same turns sent
    without the header (spread by least_conn): the prompt tokens each later turn evaluated."""
    student = run.students[0]
    before = len(nginx_.log())
    sticky: list[str] = []
    for turn in range(1, 6):
        answer = student.ask(f"%%ollama -m {MODEL} --host {nginx_.url} {SHORT} --chat lesson\n"
                             f"Turn {turn}: add one more fact about the sea.")  # fmt: skip
        sticky.append(f"{answer.prompt_tokens} in {answer.prompt_s * 1000:.0f} ms")
    went = [names.get(e.upstream, e.upstream) for e in nginx_.log()[before:] if e.path == "/api/chat"]
    messages: list[dict[str, Any]] = []
    loose: list[str] = []
    loose_went: list[str] = []
    for turn in range(1, 6):
        messages.append({"role": "user", "content": f"Turn {turn}: add one more fact about the ocean."})
        before = len(nginx_.log())
        answer = httpx.post(f"{nginx_.url}/api/chat", timeout=300, json={
            "model": MODEL, "messages": messages, "stream": False,
            "options": {"num_predict": 24, "temperature": 0}}).json()  # fmt: skip
        messages.append(answer["message"])
        loose.append(
            f"{answer.get('prompt_eval_count') or 0} in {(answer.get('prompt_eval_duration') or 0) / 1e6:.0f} ms"
        )
        loose_went += [names.get(e.upstream, e.upstream) for e in nginx_.log()[before:]]
    run.notes.append(f"conversation of 5 turns with the header: servers {''.join(went)}, prompt tokens evaluated "
                     f"per turn (the server's prompt_eval_count and _duration) {sticky}; without it: servers {''.join(loose_went)}, {loose}")  # fmt: skip


def killed(run: Run, nginx_: NginxPool, victim: real_ollama.RealOllama, names: dict[str, str]) -> None:
    count = min(10, len(run.students))
    long = lambda n: (f"%%ollama -m {MODEL} --host {nginx_.url} -o num_predict=160 -o temperature=0\n"  # noqa: E731
                      f"Student {n}: write a long story about the number {n}.")  # fmt: skip
    threading.Timer(3.0, victim.kill).start()
    before = len(nginx_.log())
    answers, wall = at_once(run.students[:count], long)
    run.record("pool, 160-token answers, A killed at 3 s", answers, wall)
    broken = [a for a in answers if not a.whole]
    one_line = sum(1 for a in broken if a.error_lines == 1)
    partial = sum(1 for a in broken if a.content)
    after, wall = at_once(run.students[:count], question(host=nginx_.url))
    run.record("pool, the next round", after, wall)
    went = Counter(
        names.get(e.upstream.split(", ")[-1], e.upstream)
        for e in nginx_.log()[before:]
        if e.path == "/api/chat"
    )
    run.notes.append(f"killed server: {len(broken)} answer(s) under way broke, {one_line} of them in one line, "
                     f"{partial} with their partial answer kept; chats since the kill went {dict(went)} "
                     "(nginx passes a request that cannot reach A on to B)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="one,queue,reload,pool,kill")
    parser.add_argument("--students", default="5,10,20", help="class sizes for the one-server runs")
    parser.add_argument(
        "--parallel", default="1,2", help="OLLAMA_NUM_PARALLEL values for the one-server runs"
    )
    args = parser.parse_args(argv)
    if not real_ollama.ready():
        say("class-load needs the real Ollama: make real-ollama")
        return 1
    only = set(args.only.split(","))
    counts = [int(n) for n in args.students.split(",")]
    needed = max([*(counts if "one" in only else []), 20 if "pool" in only else 10 if only - {"one"} else 0])
    signal.signal(
        signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("class-load ran out of time"))
    )
    signal.alarm(TOTAL_LIMIT_S)
    say(f"starting {needed} kernels (students)…")
    students = start_students(needed)
    run = Run(students, counts, [int(n) for n in args.parallel.split(",")])
    try:
        say(HEAD)
        if "one" in only:
            one_server(run)
        if "queue" in only:
            queue_full(run)
        if "reload" in only:
            reload_storm(run)
        if "pool" in only or "kill" in only:
            pool(run, kill="kill" in only)
    finally:
        signal.alarm(0)
        for student in students:
            student.close()
    say(f"\n{SHORT} ({MODEL}, SmolLM2-135M Q4_1, num_thread 1) on {os.cpu_count()} cores; figures from the "
        "kernels' own records: first token and in all from the request, waited = time to first byte minus "
        "the server's load and prompt durations.\n")  # fmt: skip
    say(HEAD)
    for line in run.rows:
        say(line)
    say("")
    for note in run.notes:
        say(f"- {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

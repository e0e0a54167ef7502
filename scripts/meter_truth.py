"""How often the context meter's truncation alarm is right, against the real Ollama.

    python scripts/meter_truth.py [--out FILE]      # needs `make real-ollama`; a measurement, not a test

Starts the real Ollama that ``scripts/real_ollama.py`` built (with ``OLLAMA_DEBUG=1``, on a free
loopback port), runs conversations through ``ollama_nb.chat`` with ``--chat`` semantics (tools
added and removed, the system prompt changed, thinking switched, a JSON format, long and short
messages, ``num_ctx`` 256 to 4096) and compares, cell by cell, what the meter says with what the
server did. The truth comes from the server's own log, read per request (each request ends with
its ``[GIN]`` line): ``truncating input messages which exceed context length`` (chatPrompt dropped
the oldest messages) and ``truncating input prompt`` (the runner cut a prompt still too long),
in the cell's chat requests only (not in the meter's own render requests after them).

Images are left out: no vision model can be had here. The table goes to stdout (and ``--out``):
one row per cell, then true/false positives and negatives for the alarm, and for the bare
heuristic the meter used before (a prompt shorter than the turn before, or at the limit).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ollama_nb
from ollama_nb import context
from ollama_nb.conversation import Conversation
from ollama_nb.trace import ContextUse
from scripts.real_ollama import PLAIN, THINK, TOOLS, RealOllama, ready

SHORT = "Name one fruit."
MEDIUM = "Tell me about the water cycle: evaporation, condensation, rain and rivers. " * 3
LONG = "The history of the printing press, from movable type to the modern newspaper, in detail. " * 14
HUGE = "Summarise the following notes on photosynthesis, light and chlorophyll for a class. " * 40
SYSTEM_LONG = "You are a patient teacher. Answer in one short sentence, with an example a child knows. " * 12
SYSTEM_SHORT = "Be brief."
GREEDY = {"temperature": 0, "seed": 1, "num_predict": 12}


def look_up_notes(topic: str, chapter: int = 1, detail: str = "short", source: str = "handouts") -> str:
    """Look a topic up in the class notes, the handouts of this term and the reading list.

    Args:
        topic: What to look up, in a few words, as a student would say it in class.
        chapter: The chapter of the course book the topic belongs to, when it is known.
        detail: How much to say back: "short" for a line, "long" for a paragraph.
        source: Where to look first: "handouts", "notes" or "reading list".
    """
    return f"{topic}: see chapter {chapter} of the {source}"


def convert_units(value: float, unit_from: str, unit_to: str) -> str:
    """Convert a measurement between metric and imperial units for a science lesson.

    Args:
        value: The number to convert.
        unit_from: The unit it is in (cm, m, km, inch, foot, mile, g, kg, pound).
        unit_to: The unit wanted.
    """
    return f"{value} {unit_from} in {unit_to}"


@dataclass
class Ask:
    """One cell of a conversation: its prompt and what it sends besides."""

    prompt: str
    tools: bool = False
    system: str | None = None
    think: bool | None = None
    format: str | None = None


@dataclass
class Plan:
    name: str
    model: str
    num_ctx: int
    asks: list[Ask]
    what: str = ""


PLANS = [
    Plan("tools-then-none", TOOLS, 4096, [Ask(SHORT, tools=True), Ask(SHORT), Ask(SHORT)],
         "tools offered, then not (3 % of the context)"),
    Plan("none-tools-none", TOOLS, 2048, [Ask(SHORT), Ask(MEDIUM, tools=True), Ask(SHORT), Ask(SHORT, tools=True)],
         "tools added and removed"),
    Plan("system-long-to-short", PLAIN, 2048, [Ask(SHORT, system=SYSTEM_LONG), Ask(SHORT, system=SYSTEM_SHORT),
                                               Ask(SHORT, system=SYSTEM_SHORT)], "system prompt shortened"),
    Plan("system-dropped-small", PLAIN, 512, [Ask(MEDIUM, system=SYSTEM_LONG), Ask(SHORT), Ask(SHORT)],
         "a long system prompt, then none sent (the conversation keeps it)"),
    Plan("short-growing-256", PLAIN, 256, [Ask(MEDIUM), Ask(MEDIUM), Ask(MEDIUM), Ask(SHORT)],
         "medium messages outgrow 256 tokens"),
    Plan("long-512", PLAIN, 512, [Ask(LONG), Ask(LONG), Ask(SHORT)], "long messages in 512"),
    Plan("huge-last-256", PLAIN, 256, [Ask(SHORT), Ask(HUGE)], "one message longer than the context"),
    Plan("tools-near-limit-1024", TOOLS, 1024, [Ask(LONG, tools=True), Ask(LONG, tools=True), Ask(SHORT),
                                                Ask(LONG, tools=True)], "tools on and off near the limit"),
    Plan("system-changed-512", PLAIN, 512, [Ask(SHORT, system=SYSTEM_SHORT), Ask(MEDIUM, system=SYSTEM_LONG),
                                            Ask(MEDIUM, system=SYSTEM_SHORT), Ask(MEDIUM)],
         "system prompt changed while growing"),
    Plan("long-4096-fits", PLAIN, 4096, [Ask(LONG), Ask(LONG), Ask(LONG)], "long messages that fit"),
    Plan("growth-768", PLAIN, 768, [Ask(LONG), Ask(MEDIUM), Ask(LONG), Ask(SHORT)], "growth past 768"),
    Plan("think-on-off-1024", THINK, 1024, [Ask(MEDIUM, think=True), Ask(SHORT, think=False),
                                            Ask(SHORT, think=True), Ask(SHORT)], "thinking switched on and off"),
    Plan("format-json-512", PLAIN, 512, [Ask(SHORT, format="json"), Ask(MEDIUM), Ask(MEDIUM, format="json"),
                                         Ask(MEDIUM)], "a JSON format on and off"),
    Plan("tools-dropped-at-half-768", TOOLS, 768, [Ask(LONG, tools=True), Ask(SHORT), Ask(SHORT, tools=True),
                                                   Ask(SHORT)], "tools removed past half the context"),
    Plan("medium-growing-256", PLAIN, 256, [Ask(MEDIUM)] * 6, "medium messages well past 256 tokens"),
    Plan("tools-off-while-full-512", TOOLS, 512, [Ask(MEDIUM, tools=True), Ask(LONG), Ask(MEDIUM, tools=True),
                                                  Ask(LONG)], "tools on and off in a full context"),
    Plan("system-kept-while-dropping-384", PLAIN, 384, [Ask(MEDIUM, system=SYSTEM_LONG), Ask(MEDIUM), Ask(MEDIUM),
                                                        Ask(SHORT, system=SYSTEM_SHORT), Ask(MEDIUM)],
         "a long system prompt kept while older messages go, then shortened"),
    Plan("huge-system-256", PLAIN, 256, [Ask(SHORT), Ask(SHORT, system=HUGE)], "a system prompt longer than the context"),
]  # fmt: skip


@dataclass
class Row:
    plan: str
    cell: int
    num_ctx: int
    sent: str
    prompt: int = 0
    before: int | None = None
    dropped: bool = False  # the server's log: messages dropped
    cut: bool = False  # the server's log: the runner cut the prompt
    alarm: str = ""  # what the meter says now
    old: bool = False  # the bare heuristic the meter used before
    check: str = ""
    error: str = ""
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def truth(self) -> bool:
        return self.dropped or self.cut

    @property
    def alarmed(self) -> bool:
        return bool(self.alarm)


def alarm_of(use: ContextUse) -> str:
    """The meter's alarm about the prompt, as a short word: cut (the runner), dropped (the
    server said so), may (the signs say so, the server could not), or nothing."""
    if context.prompt_at_limit(use):
        return "cut"
    return {"yes": "dropped", "may": "may", "": ""}[context.dropped(use)]


def truth_of(new_log: str) -> tuple[bool, bool]:
    """Messages dropped, prompt cut: in the cell's chat requests (each segment ends with its
    [GIN] line), up to its first GET /api/ps (the meter's requests come after)."""
    dropped = cut = False
    segment: list[str] = []
    for line in new_log.splitlines():
        segment.append(line)
        if not line.startswith("[GIN]"):
            continue
        if '"/api/ps"' in line:
            break
        if '"/api/chat"' in line:
            text = "\n".join(segment)
            dropped |= "truncating input messages which exceed context length" in text
            cut |= "truncating input prompt" in text
        segment = []
    return dropped, cut


def sent_words(ask: Ask) -> str:
    parts = [{SHORT: "short", MEDIUM: "medium", LONG: "long", HUGE: "huge"}[ask.prompt]]
    if ask.tools:
        parts.append("tools")
    if ask.system:
        parts.append("system " + {SYSTEM_LONG: "long", SYSTEM_SHORT: "short", HUGE: "huge"}[ask.system])
    if ask.think is not None:
        parts.append(f"think={ask.think}")
    if ask.format:
        parts.append(f"format={ask.format}")
    return ", ".join(parts)


def run_plan(plan: Plan, url: str, log: Path) -> list[Row]:
    chat = Conversation(plan.name)
    rows = []
    for number, ask in enumerate(plan.asks, 1):
        row = Row(plan.name, number, plan.num_ctx, sent_words(ask))
        start, began = log.stat().st_size, time.monotonic()
        settings: dict[str, Any] = {"tools": [look_up_notes, convert_units] if ask.tools else [],
                                    "system": ask.system, "think": ask.think, "format": ask.format}  # fmt: skip
        try:
            reply = ollama_nb.chat(ask.prompt, model=plan.model, host=url, chat=chat, display="none",
                                   options={**GREEDY, "num_ctx": plan.num_ctx}, max_rounds=2, **settings)  # fmt: skip
        except ollama_nb.OllamaNbError as exc:
            row.error = type(exc).__name__
            reply = exc.reply  # type: ignore[assignment]
        row.seconds = time.monotonic() - began
        time.sleep(0.2)  # the runner's lines reach the log through a pipe
        with open(log, "rb") as file:
            file.seek(start)
            row.dropped, row.cut = truth_of(file.read().decode("utf-8", "replace"))
        use = reply.context if reply is not None else None
        if use is not None:
            row.prompt, row.before, row.check = use.prompt_tokens, use.previous_prompt, use.check
            row.alarm = alarm_of(use)
            row.old = context.prompt_at_limit(use) or context.prompt_shrank(use) is not None
            row.warnings = context.warnings(use, plan.name)
        rows.append(row)
        print(f"  {plan.name} #{number}: {row.sent} · prompt {row.prompt} · truth "
              f"{'dropped' if row.dropped else ''}{' cut' if row.cut else ''} · alarm {row.alarm or '-'} · "
              f"{row.seconds:.1f} s", file=sys.stderr, flush=True)  # fmt: skip
    return rows


def score(rows: list[Row], alarm: str) -> dict[str, int]:
    counts = {"TP": 0, "FP": 0, "FN": 0, "TN": 0}
    for row in rows:
        said = row.alarmed if alarm == "new" else row.old
        counts[("T" if said == row.truth else "F") + ("P" if said else "N")] += 1
    return counts


def table(rows: list[Row]) -> str:
    lines = [
        "| conversation | cell | num_ctx | sent | prompt | before | server: dropped / cut | meter | check | old heuristic | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        truth = " / ".join(w for w, on in (("dropped", r.dropped), ("cut", r.cut)) if on) or "kept"
        verdict = ("T" if r.alarmed == r.truth else "F") + ("P" if r.alarmed else "N")
        heuristic = "alarm" if r.old else "-"
        lines.append(f"| {r.plan} | {r.cell} | {r.num_ctx} | {r.sent} | {r.prompt} | {r.before or '-'} | "
                     f"{truth} | {r.alarm or '-'}{' (' + r.error + ')' if r.error else ''} | {r.check or '-'} | "
                     f"{heuristic} | {verdict} |")  # fmt: skip
    new, old = score(rows, "new"), score(rows, "old")
    conversations = len({r.plan for r in rows})
    checks = sum(1 for r in rows if r.check)
    lines += [
        "",
        f"{conversations} conversations, {len(rows)} cells, {sum(r.truth for r in rows)} with a prompt the server "
        f"cut; the meter asked the server {checks} time(s) (two render requests each).",
        "",
        "| alarm | true positives | false positives | false negatives | true negatives |",
        "| --- | --- | --- | --- | --- |",
        f"| the meter now | {new['TP']} | {new['FP']} | {new['FN']} | {new['TN']} |",
        f"| the bare heuristic (before) | {old['TP']} | {old['FP']} | {old['FN']} | {old['TN']} |",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the table here (markdown)")
    parser.add_argument("--only", help="run only the conversations whose name contains this")
    args = parser.parse_args()
    if not ready():
        print("The real Ollama is not built: run `make real-ollama` first.", file=sys.stderr)
        return 2
    log = Path("test-artifacts/meter-truth.log")
    log.parent.mkdir(exist_ok=True)
    log.write_bytes(b"")
    server = RealOllama(log=log)
    server.env["OLLAMA_DEBUG"] = "1"  # chatPrompt says when it drops messages only at debug level
    rows: list[Row] = []
    with server:
        for plan in PLANS:
            if args.only and args.only not in plan.name:
                continue
            print(f"{plan.name}: {plan.what}", file=sys.stderr, flush=True)
            rows += run_plan(plan, server.url, log)
    text = table(rows)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The context meter: how much of the model's context a cell used, and what it means.

A local model reads at most ``num_ctx`` tokens. When a conversation grows past that, Ollama does
not fail: it drops the oldest messages (keeping the system prompt and the last message) and cuts
what is still too long in the middle. The answer then comes from a prompt the user never saw, and
nothing says so. The signs are in the done line: a prompt as long as the context (the runner cut
it), or shorter than the turn before it. A shorter prompt alone proves nothing: the turn before may
have carried tool schemas, a longer system prompt or images that this one did not (:class:`Carried`).
So when the signs point at dropped messages, the server is asked (:func:`check_dropped`): its
rendering of the last request as it kept it, against its rendering of the whole, says exactly.
Where it cannot say, the words say "may", and why.

This module measures (:func:`measure`), finds the context length the server used
(:func:`context_length`) and says in words what happened and what to do (:func:`warnings`).
Pure functions, except :func:`context_length` and :func:`check_dropped`, which ask the backend.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from .backend import Backend, ShowInfo
from .errors import OllamaNbError
from .trace import Carried, Check, ContextUse, ModelTurn

NEAR_FULL = 0.9  # from here a conversation's next turn will probably not fit
SOURCES = {
    "num_ctx": "the num_ctx sent",
    "server": "the server's context length for the loaded model",
    "model": "the model's maximum (the server may use less)",
    "": "unknown",
}


@dataclass(frozen=True)
class Earlier:
    """What a conversation's earlier cells used: the last prompt's size, a low estimate of the
    tokens added since (:func:`at_least_tokens`), the tokens each cell used, and what the last
    request carried besides its messages."""

    prompt: int | None = None
    added: int = 0
    used: tuple[int, ...] = field(default_factory=tuple)
    carried: Carried | None = None


def carried_by(body: Mapping[str, Any]) -> Carried:
    """What a ``/api/chat`` body carries besides its conversation."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, Mapping)]
    system = "\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "system")
    tools = json.dumps(body.get("tools") or [], sort_keys=True) if body.get("tools") else ""
    fmt = body.get("format")
    fmt_text = "" if fmt in (None, "") else json.dumps(fmt, sort_keys=True)
    think = "" if body.get("think") is None else json.dumps(body.get("think"))
    model = str(body.get("model") or "")
    digest = hashlib.sha256("\0".join([model, tools, system, fmt_text, think]).encode()).hexdigest()[:16]
    images = sum(len(m.get("images") or []) for m in messages)
    return Carried(model, len(tools), len(system), images, len(fmt_text), think, digest)


def changes(before: Carried, now: Carried) -> list[str]:
    """What a request carried that the one before did not, or the other way round, in words."""
    found = []
    if before.model.removesuffix(":latest") != now.model.removesuffix(":latest"):
        found.append(f"another model ({before.model} then {now.model}: another template and tokenizer)")
    if before.tools != now.tools:
        found.append(_sized("tool schemas", before.tools, now.tools))
    if before.system != now.system:
        found.append(_sized("a system prompt", before.system, now.system))
    if before.images != now.images:
        found.append(f"images ({before.images} before, {now.images} now)")
    if before.format != now.format:
        found.append(_sized("a format", before.format, now.format))
    if before.think != now.think:
        found.append(f"another think setting ({before.think or 'none'} then {now.think or 'none'})")
    if not found and before.digest and now.digest and before.digest != now.digest:
        found.append("other tools, system prompt or format of the same size")
    return found


def _sized(what: str, before: int, now: int) -> str:
    if not now:
        return f"{what} ({before:,} characters) the turn before, none now"
    if not before:
        return f"no {what.removeprefix('a ')} the turn before, {now:,} characters now"
    return f"{what} of {before:,} characters the turn before, {now:,} now"


def length(value: Any) -> int | None:
    """A context length, or None for what cannot be one (0, -4096, true, "4096")."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


PER_MESSAGE = 3  # tokens a chat template adds around a message, at least (ChatML and Llama 3 add 5)


def at_least_tokens(text: str) -> int:
    """Fewer tokens than ``text`` surely takes as a message: a sixth of its non-blank characters
    (English runs near four characters a token, code and other scripts fewer; runs of spaces can
    be one), and the template's marks around it."""
    return sum(1 for c in text if not c.isspace()) // 6 + PER_MESSAGE


def _same_model(a: str, b: str) -> bool:
    def full(name: str) -> str:
        return name if ":" in name else name + ":latest"

    return full(a) == full(b)


def context_length(backend: Backend, model: str, options: Mapping[str, Any]) -> tuple[int | None, str]:
    """The context length the model ran with, and where that comes from (a key of :data:`SOURCES`).

    The server's own figure for the loaded model (``/api/ps``) comes first: it is what was used,
    and Ollama lowers a ``num_ctx`` larger than the model can take. Then the ``num_ctx`` sent,
    then the model's maximum (``/api/show``)."""
    try:
        for entry in backend.running():
            if _same_model(entry.model or entry.name, model) and entry.context_length:
                return entry.context_length, "server"
    except OllamaNbError:  # an older server, a cloud host: the other sources may say
        pass
    sent = length(options.get("num_ctx"))
    if sent is not None:
        return sent, "num_ctx"
    try:
        found = ShowInfo.read(backend.show(model)).context_length
    except OllamaNbError:
        return None, ""
    return (found, "model") if found else (None, "")


def measure(
    turns: Sequence[ModelTurn],
    limit: int | None,
    source: str,
    *,
    options: Mapping[str, Any] | None = None,
    earlier: Earlier | None = None,
    started_s: float = 0.0,
    carried: Sequence[Carried] = (),
) -> ContextUse | None:
    """The meter for a cell's model turns (None when no turn finished); ``carried``: what each
    finished turn's request carried."""
    ended = [t for t in turns if t.metrics is not None]
    if not ended:
        return None
    last = ended[-1]
    assert last.metrics is not None
    earlier = earlier or Earlier()
    predict = (options or {}).get("num_predict")
    return ContextUse(
        prompts=[t.metrics.prompt_eval_count for t in ended if t.metrics is not None],
        answer_tokens=last.metrics.eval_count, limit=limit, source=source,  # type: ignore[arg-type]
        previous_prompt=earlier.prompt, added_at_least=earlier.added if earlier.prompt else 0,
        done_reason=last.done_reason,
        num_predict=predict if isinstance(predict, int) and predict > 0 else None,
        trend=list(earlier.used), started_s=started_s, carried=list(carried),
        carried_before=earlier.carried if earlier.prompt else None,
    )  # fmt: skip


def _prompts(use: ContextUse) -> list[int]:
    """The prompts to compare, each at least as long as the one before unless cut; the previous
    cell's grown by what was surely added since."""
    before = [use.previous_prompt + use.added_at_least] if use.previous_prompt else []
    return before + [p for p in use.prompts if p]  # 0: the server did not count (older ones, cached)


def prompt_at_limit(use: ContextUse) -> bool:
    """A prompt filled the whole context: Ollama's runner cut it to fit (exact: it evaluates
    ``num_ctx`` tokens then)."""
    return bool(use.limit) and any(p >= use.limit for p in use.prompts)  # type: ignore[operator]


def prompt_shrank(use: ContextUse) -> tuple[int, int] | None:
    """A prompt shorter than the one before it (the previous cell's grown by what was added
    since), as (before, after): a sign that the oldest messages were dropped, or that the turn
    before carried more besides its messages (:func:`carried_changes`)."""
    prompts = _prompts(use)
    for before, after in pairwise(prompts):
        if after < before:
            return before, after
    return None


def carried_changes(use: ContextUse) -> list[str]:
    """What the cell's requests carried differently from the ones before them, in words."""
    sent = ([use.carried_before] if use.carried_before is not None and use.previous_prompt else []) + [
        c for c in use.carried
    ]
    found: list[str] = []
    for before, now in pairwise(sent):
        found += [c for c in changes(before, now) if c not in found]
    return found


def dropped(use: ContextUse) -> str:
    """Whether the oldest messages were dropped: ``"yes"`` (the server said so), ``"may"`` (the
    signs say so, the server could not), or ``""``."""
    if use.check == "dropped":
        return "yes"
    if use.check == "kept" or prompt_shrank(use) is None:
        return ""
    return "may"


def prompt_cut(use: ContextUse) -> bool:
    return prompt_at_limit(use) or dropped(use) != ""


def worth_checking(use: ContextUse, body: Mapping[str, Any]) -> bool:
    """Whether to ask the server if the last request lost its oldest messages (it costs two
    render requests, scheduled like a chat): when the signs point at it, or the prompt fills
    half the context, and there is a message to drop. Never when the request asked the
    server to refuse rather than cut (``truncate: false``)."""
    if body.get("truncate") is False or not use.limit or prompt_at_limit(use):
        return False
    messages = [m for m in body.get("messages") or [] if isinstance(m, Mapping)]
    if not any(m.get("role") != "system" for m in messages[:-1]):
        return False
    return prompt_shrank(use) is not None or use.prompt_tokens * 2 >= use.limit


TRUNCATE_SINCE = (0, 12, 6)  # the first Ollama that takes truncate: false


def check_dropped(backend: Backend, body: Mapping[str, Any]) -> tuple[Check, str]:
    """The server's own word: its rendering of the request as it keeps it (dropping the oldest
    messages to fit ``num_ctx``, as for the chat) against its rendering of the whole
    (``truncate: false``). Equal: nothing was dropped. ``("unchecked", why)`` where it cannot say."""
    try:
        version = backend.version()
        if not _at_least(version, TRUNCATE_SINCE):
            return "unchecked", f"Ollama {version} cannot render a prompt uncut (that needs 0.12.6)"
        kept = backend.render_prompt(dict(body))
        whole = backend.render_prompt({**body, "truncate": False})
    except OllamaNbError as exc:
        return "unchecked", f"the server could not render the prompt: {exc}"
    if kept.get("rendered_template") == whole.get("rendered_template"):
        return "kept", ""
    return "dropped", ""


def _at_least(version: str, first: tuple[int, ...]) -> bool:
    numbers = tuple(int(p) for p in version.split("-")[0].split(".")[:3] if p.isdigit())
    return len(numbers) != 3 or numbers == (0, 0, 0) or numbers >= first  # a development build knows all


def answer_cut(use: ContextUse) -> bool:
    return use.done_reason == "length"


def more_room(use: ContextUse) -> int:
    """A ``num_ctx`` to suggest: a power of two, at least twice what was used or allowed."""
    need = 2 * max(use.used, use.limit or 0, 1)
    return 1 << (need - 1).bit_length()


def warnings(use: ContextUse, chat: str | None = None) -> list[str]:
    """What went wrong with the context, in words, each with what to do."""
    found = []
    room = f"-o num_ctx={more_room(use)}"
    restart = f", or start over with %ollama reset {chat}" if chat else ""
    if prompt_at_limit(use):
        found.append(
            f"The prompt probably did not fit: it filled the whole context ({use.limit:,} tokens), so "
            f"Ollama cut it, keeping the start and the end. Give it more room with {room}{restart}."
        )
    elif verdict := dropped(use):
        found.append(_dropped_words(use, verdict) + f" Give it more room with {room}{restart}.")
    if answer_cut(use):
        if use.num_predict and use.answer_tokens >= use.num_predict:
            found.append(
                f"The answer was cut off at num_predict={use.num_predict} tokens: raise it with "
                f"-o num_predict={use.num_predict * 4}, or leave it out."
            )
        else:
            found.append(
                f"The answer was cut off: it reached the end of {_the_context(use)}. "
                f"Give it more room with {room}{restart}."
            )
    elif use.limit and use.used > use.limit and not prompt_at_limit(use):
        found.append(
            f"The answer ran past the end of {_the_context(use)} ({use.used:,} tokens): Ollama shifted "
            f"out part of what the model had read to keep it writing. Give it more room with {room}{restart}."
        )
    elif chat and not found and (use.fraction or 0) >= NEAR_FULL:
        found.append(
            f"The context is {_percent(use.fraction)} full: the next turn of {chat!r} will probably not "
            f"fit. Give it more room with {room}{restart}."
        )
    return found


def _dropped_words(use: ContextUse, verdict: str) -> str:
    shrank = prompt_shrank(use)
    grown = (use.previous_prompt or 0) + use.added_at_least
    measured = ""
    if shrank is not None:
        before, after = shrank
        if use.added_at_least and before == grown:
            needed = (
                f"the conversation needs at least {before:,} (the turn before took {use.previous_prompt:,})"
            )
        else:
            needed = f"the turn before took {before:,}"
        measured = f"it took {after:,} tokens, but {needed}"
    if verdict == "yes":
        said = "the server's own rendering of this request leaves them out"
        return (
            f"The prompt lost its oldest messages: {measured + ', and ' if measured else ''}{said}: Ollama "
            f"dropped the start of the conversation to fit {_the_context(use)}."
        )
    why = use.check_note or "the server was not asked"
    moved = carried_changes(use)
    if moved:
        return (
            f"The prompt may have lost its oldest messages: {measured}; but the requests differ besides their "
            f"messages ({'; '.join(moved)}), which can explain a shorter prompt, and the server could not "
            f"say ({why})."
        )
    return (
        f"The prompt may have lost its oldest messages: {measured}, so Ollama probably dropped the start of "
        f"the conversation to fit {_the_context(use)} (the server could not say: {why})."
    )


def _the_context(use: ContextUse) -> str:
    return f"the {use.limit:,}-token context" if use.limit else "the context"


def _percent(fraction: float | None) -> str:
    return f"{100 * (fraction or 0):.0f} %"


def meter_text(use: ContextUse) -> str:
    """``3,900 / 4,096 tokens · 95 %``"""
    if not use.limit:
        return f"{use.used:,} tokens in context (its length is unknown)"
    return f"{use.used:,} / {use.limit:,} tokens · {_percent(use.fraction)}"


def bar(fraction: float | None, width: int = 10) -> str:
    """``█████████░``: a bar that survives any front end, text included."""
    filled = round(min(max(fraction or 0.0, 0.0), 1.0) * width)
    return "█" * filled + "░" * (width - filled)


def trend_text(use: ContextUse) -> str:
    """How the context filled over a conversation: ``12 % → 30 % → 61 %`` (this cell last)."""
    if not use.trend:
        return ""
    steps = [*use.trend, use.used]
    if use.limit:
        return " → ".join(_percent(s / use.limit) for s in steps)
    return " → ".join(f"{s:,}" for s in steps) + " tokens"


def summary(use: ContextUse) -> str:
    """The one line for a status: ``context █████████░ 3,900 / 4,096 tokens · 95 %``."""
    return f"context {bar(use.fraction)} {meter_text(use)}"


def refusal(message: str, body: Mapping[str, Any]) -> str | None:
    """The one line for a server that refused a prompt too long for its context, or None for
    another refusal. Ollama refuses instead of cutting when asked to (``truncate: false``)."""
    if "exceeds the context length" not in message and "exceeds maximum context length" not in message:
        return None
    sent = (body.get("options") or {}).get("num_ctx")
    size = f"num_ctx={sent}" if isinstance(sent, int) else "the server's context length"
    bigger = f"-o num_ctx={2 * sent}" if isinstance(sent, int) else "-o num_ctx=N (larger)"
    why = ", and --strict-context asked the server not to cut it" if body.get("truncate") is False else ""
    return (
        f"The prompt does not fit in the context ({size}){why}: give it more room with {bigger}, "
        "or start the conversation over with %ollama reset."
    )

"""``ollama_nb.chat`` and ``ollama_nb.compare``: the pipeline from code, with or without display.

A front like the magic and the chat box: it builds :class:`Settings` from ``defaults`` and the
call's own values, chooses the view (``display``), and runs the pipeline.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from . import pipeline, sidebyside
from .backend import Backend
from .cells import current as recorded
from .comparison import Comparison, variants
from .conversation import Conversation, conversation, conversations
from .errors import InputError, OptionError
from .nbcontext import Notebook
from .reply import Reply
from .settings import Settings, defaults
from .trace import RenderedPrompt
from .viewbase import View
from .views import Display, choose_screen, choose_view

__all__ = [
    "Display",
    "chat",
    "compare",
    "connect",
    "conversation",
    "conversations",
    "defaults",
    "render_prompt",
]


def connect(host: str | None = None, api_key: str | None = None) -> Backend:
    """The backend for ``host`` (else the default host, else ``OLLAMA_HOST`` read now)."""
    return pipeline.connect(defaults.settings.merge(host=host, api_key=api_key))


def settings_for(settings: Settings | None = None, **changes: Any) -> Settings:
    """``settings`` (else the defaults) with a call's own values; a wrong one is one line in
    ``chat()``'s terms."""
    try:
        return (settings or defaults.settings).merge(**changes)
    except OptionError as exc:
        fix = f"options={{{exc.key!r}: ...}} with {exc.expected}" if exc.key else "options={'key': value}"
        raise OptionError(
            f"{exc} (give {fix})", key=exc.key, expected=exc.expected, value=exc.value
        ) from None


def chat(
    prompt: str,
    *,
    model: str | None = None,
    settings: Settings | None = None,
    chat: str | Conversation | None = None,
    cell: str | None = None,
    history: Sequence[dict[str, Any]] = (),
    display: Display = "auto",
    view: View | None = None,
    cancel: threading.Event | None = None,
    backend: Backend | None = None,
    cells: Notebook | None = None,
    **changes: Any,
) -> Reply:
    """Ask ``model`` and return the :class:`Reply`; with ``display`` the answer streams into the
    notebook as in a ``%%ollama`` cell (``"none"`` shows nothing, for scripts and tests).

    ``changes`` are any :class:`Settings` fields (``system``, ``think``, ``options``, ``format``,
    ``tools``, ``images``, ``keep_alive``, ``truncate``, ``shift``, ``logprobs``, ``top_logprobs``,
    ``max_rounds``, ``confirm``, ``strict_context``, ``render``, ``host``, ``api_key``,
    ``timeout``, ``extra``...), over ``settings`` (else ``defaults``).

    ``chat`` continues a :class:`Conversation` (by name or object); ``cell`` identifies the asking
    cell, so that asking again from it replaces its earlier turn. ``view`` replaces the display
    (any :class:`~ollama_nb.viewbase.View`); ``cancel`` stops the exchange when set from another
    thread; ``backend`` talks to another server implementation (:class:`~ollama_nb.backend.Backend`).

    ``notebook=True`` sends the notebook's cells ahead of the prompt (as many as fit a quarter of
    the context, newest first), ``notebook=N`` the last N, ``notebook="fix"`` the last failing cell
    and the cells it depends on: from ``cells``, else those the kernel recorded since ``%load_ext
    ollama_nb`` (:mod:`ollama_nb.cells`).

    Raises a short :class:`OllamaNbError` (or ``Interrupted``) with the partial reply as ``.reply``.
    """
    chosen = settings_for(settings, model=model, **changes)
    thread = conversation(chat) if isinstance(chat, str) else chat
    if chosen.notebook and cells is None:
        cells = _recorded()
    shown = view or choose_view(display, chosen.model or (thread.model if thread else None) or "")
    return pipeline.run(chosen, prompt, shown, chat=thread, cell=cell, history=history, cancel=cancel,
                        backend=backend, notebook=cells)  # fmt: skip


def _recorded() -> Notebook | None:
    """The cells the kernel recorded since ``%load_ext ollama_nb``, or None where it never ran."""
    found = recorded()
    return found.snapshot() if found is not None else None


def render_prompt(
    prompt: str,
    *,
    model: str | None = None,
    settings: Settings | None = None,
    chat: str | Conversation | None = None,
    cell: str | None = None,
    history: Sequence[dict[str, Any]] = (),
    backend: Backend | None = None,
    **changes: Any,
) -> RenderedPrompt:
    """The text the model would read for this prompt, settings, tools and conversation, as the
    server's template renders it; nothing is generated. Raises :class:`Unsupported` (one line)
    when the server cannot render (Ollama before 0.11.5)."""
    chosen = settings_for(settings, model=model, **changes)
    cells = _recorded() if chosen.notebook else None
    ready = pipeline.prepare(chosen, prompt, chat=chat, cell=cell, history=history, backend=backend,
                             notebook=cells)  # fmt: skip
    return pipeline.render(ready)


def compare(
    prompt: str,
    *,
    models: Sequence[str],
    think: Sequence[bool | str | None] = (None,),
    vary: Mapping[str, Sequence[Any]] | None = None,
    parallel: bool = False,
    display: Display = "auto",
    settings: Settings | None = None,
    **changes: Any,
) -> Comparison:
    """Ask ``prompt`` of every combination of ``models``, ``think`` settings and ``vary``'s option
    values, shown side by side as they stream, then a table of figures::

        ollama_nb.compare("Why is the sky blue?", models=["llama3.2", "qwen3"], vary={"temperature": [0, 1]})

    ``changes`` are :class:`Settings` fields shared by all (``options``, ``tools``, ``system``...).
    ``display``: ``"auto"`` (columns), ``"plain"`` (text) or ``"none"``."""
    if changes.get("chat") is not None:
        raise InputError(
            "A comparison cannot continue a conversation (--chat): compare in a cell of its own."
        )
    grid = variants(list(models), list(think), {k: list(v) for k, v in (vary or {}).items()})
    return compare_variants(
        prompt, grid, settings_for(settings, **changes), display=display, parallel=parallel
    )


def compare_variants(
    prompt: str, grid: Sequence[Any], settings: Settings, *, display: Display = "auto", parallel: bool = False
) -> Comparison:
    """Run a grid of variants with its screen (columns, text or nothing), left as a static output."""
    screen = choose_screen(display, prompt, grid, parallel=parallel)
    if screen is not None:
        screen.show()
    try:
        result = sidebyside.run(
            settings, prompt, grid, make_view=screen.view if screen else None, parallel=parallel
        )
    except KeyboardInterrupt as exc:
        partial = getattr(exc, "reply", None)
        if screen is not None and isinstance(partial, Comparison):
            screen.finish(partial)
        raise
    if screen is not None:
        screen.finish(result)
    return result

"""Asking one prompt several ways (a :class:`~ollama_nb.comparison.Comparison`): one request per
variant through :func:`ollama_nb.pipeline.run`, one after the other, or at once (``parallel``).

A variant's failure is kept in the comparison and the others still run. An interrupt stops them
all: each worker saves what arrived before it says it is done, and the comparison waits for that
(its own events, not ``Thread.join``: on Python 3.11 an interrupt during ``join`` can mark a
running thread as finished), so no column loses what it streamed and nothing changes after the
cell ended.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from . import pipeline
from .comparison import Comparison, Variant
from .errors import Interrupted, OllamaNbError
from .settings import Settings
from .viewbase import NullView, View

MakeView = Callable[[int, Variant], View]
WAIT_STEP = 0.1  # seconds between checks for an interrupt while workers run


def variant_settings(settings: Settings, variant: Variant) -> Settings:
    """The settings of one variant: its model, thinking and option values over the shared ones."""
    think = variant.think if variant.think is not None else settings.think
    return settings.replace(
        model=variant.model, think=think, options={**settings.options, **dict(variant.options)}
    )


def run(
    settings: Settings,
    prompt: str,
    chosen: Sequence[Variant],
    *,
    make_view: MakeView | None = None,
    parallel: bool = False,
) -> Comparison:
    """Ask ``prompt`` once per variant, each reporting to ``make_view(i, variant)``. Raises
    :class:`Interrupted` carrying the comparison as ``.reply`` when interrupted."""
    comparison = Comparison(prompt, list(chosen), [None] * len(chosen), [None] * len(chosen), parallel)
    cancel = threading.Event()
    done = [threading.Event() for _ in chosen]

    def ask(index: int) -> None:
        variant = comparison.variants[index]
        try:
            view = make_view(index, variant) if make_view else NullView()
            comparison.replies[index] = pipeline.run(variant_settings(settings, variant), prompt, view,
                                                     cancel=cancel)  # fmt: skip
        except OllamaNbError as exc:
            comparison.replies[index], comparison.errors[index] = exc.reply, str(exc)
        except Interrupted as exc:  # what arrived is kept
            comparison.replies[index], comparison.errors[index] = exc.reply, "interrupted"
            if not parallel:
                raise
        except Exception as exc:  # a view that failed: the others go on, the column says why
            comparison.errors[index] = f"{type(exc).__name__}: {exc}"
        finally:
            done[index].set()

    try:
        if parallel:
            for index in range(len(chosen)):
                threading.Thread(
                    target=ask, args=(index,), name=f"ollama_nb-compare-{index}", daemon=True
                ).start()
            for event in done:
                while not event.wait(WAIT_STEP):  # short waits: an interrupt reaches this thread
                    pass
        else:
            for index in range(len(chosen)):
                ask(index)
    except KeyboardInterrupt:
        cancel.set()
        _wait_for_workers(done)
        # a copy: a worker still in a tool after a second interrupt changes nothing the user holds
        stopped = Comparison(
            prompt, list(chosen), list(comparison.replies), list(comparison.errors), parallel, True
        )
        for index, reply in enumerate(stopped.replies):
            if reply is None and stopped.errors[index] is None:
                stopped.errors[index] = "not asked: interrupted" if done[index].is_set() else "still running"
        raise Interrupted("the comparison stopped; what arrived is kept in _ollama.", reply=stopped) from None  # type: ignore[arg-type]
    return comparison


def _wait_for_workers(done: list[threading.Event]) -> None:
    """Each worker stops at its next chunk or round and saves what it has; wait for that. A
    second interrupt stops waiting (a tool that never returns cannot be stopped)."""
    try:
        for event in done:
            while not event.wait(WAIT_STEP):
                pass
    except KeyboardInterrupt:
        pass

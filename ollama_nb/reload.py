"""Whether a cell's options make a shared server reload its model for everyone: said before sending.

Ollama keeps one runner per loaded model; a request whose runner options differ from the loaded
runner's (``needsReload`` in its scheduler: ``num_ctx``, ``num_batch``, ``num_gpu``, ``main_gpu``,
``use_mmap``, ``num_thread``) makes it wait for the runner to finish what it is doing, unload it
and load it again, while every other user of the model waits too. ``/api/ps`` shows the loaded
model's context length, so a different ``num_ctx`` is known to reload it; the other options are
not shown, so they only may. Pure: the caller asks ``/api/ps`` and decides what to do with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .backend import Loaded
from .units import duration

RUNNER_OPTIONS = ("num_ctx", "num_batch", "num_gpu", "main_gpu", "use_mmap", "num_thread")


@dataclass(frozen=True)
class Reload:
    """What sending the cell would do to the loaded model: ``certain`` when num_ctx differs from
    the loaded context length, else it only may (other runner options)."""

    certain: bool
    text: str


def loaded_entry(running: Sequence[Loaded], model: str) -> Loaded | None:
    """The ``/api/ps`` entry of ``model`` (``name`` and ``name:latest`` are one)."""

    def full(name: str) -> str:
        return name if ":" in name else name + ":latest"

    return next((entry for entry in running if full(entry.model or entry.name) == full(model)), None)


def check(
    model: str,
    options: Mapping[str, Any],
    running: Sequence[Loaded],
    host: str,
    last_load_s: float | None = None,
) -> Reload | None:
    """The reload this cell would cause on ``host``, in words with what to do instead; None when
    it causes none that can be foreseen (the model is not loaded, or no runner option is set)."""
    entry = loaded_entry(running, model)
    if entry is None:
        return None
    took = f" (loading it took {duration(last_load_s)} last time)" if last_load_s else ""
    asked, loaded = options.get("num_ctx"), entry.context_length
    if isinstance(asked, int) and isinstance(loaded, int) and asked != loaded:
        return Reload(
            True,
            f"This cell sets num_ctx={asked}, but {model} is loaded on {host} with a context of {loaded}: "
            f"sending it reloads the model for everyone using that server{took}, and they wait meanwhile. "
            f"To avoid it, leave num_ctx alone, or start the server with OLLAMA_CONTEXT_LENGTH={asked}.",
        )
    others = [key for key in RUNNER_OPTIONS[1:] if key in options]
    if others:
        return Reload(
            False,
            f"This cell sets {', '.join(others)}: if {model} runs on {host} with other values, sending "
            f"it reloads the model for everyone using that server{took}. Leave {'it' if len(others) == 1 else 'them'} "
            "alone to be sure it does not.",
        )
    return None


def refusal(reload: Reload) -> str:
    """The one line when ``shared=true`` refuses the cell."""
    return f"{reload.text} Not sent (shared=true): add --force to send it anyway."

"""Progress of a pull, an upload or a create, from Ollama's status lines: pure, no display.

Ollama streams ``{"status": "pulling 8eeb52dfb3bb", "digest": "sha256:...", "total": n,
"completed": k}`` per layer (``completed`` left out while it is 0), and plain statuses between
them ("pulling manifest", "verifying sha256 digest", "writing manifest", "success"). A layer's
first ``completed`` is what was already there (a resumed pull; unless it is a sliver, which
arrived before Ollama's first tick): it counts towards the bytes but not towards the speed.
:class:`Progress` keeps per layer and overall figures; the views draw them.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

WINDOW = 5.0  # seconds of samples the speed is measured over
RESUMED_SHARE = 0.02  # a layer first seen at least this far along was resumed, not just begun


@dataclass
class Layer:
    """One blob: its size, the bytes so far, and the bytes it already had when first seen."""

    digest: str
    total: int
    completed: int = 0
    resumed: int = 0

    @property
    def short(self) -> str:
        return self.digest.removeprefix("sha256:")[:12]

    @property
    def fraction(self) -> float:
        return min(self.completed / self.total, 1.0) if self.total else 1.0


@dataclass
class Progress:
    """What a long model operation has done so far; ``feed`` it each status line."""

    name: str
    action: str = "pull"  # "pull", "create"
    clock: Callable[[], float] = time.monotonic
    status: str = ""
    layers: dict[str, Layer] = field(default_factory=dict)
    started: float = 0.0
    ended: float | None = None
    _samples: deque[tuple[float, int]] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def __repr__(self) -> str:
        return f"<{self.summary() if self.done else self.text_bar()}>"

    def feed(self, line: dict[str, Any]) -> None:
        """One status line from the server (or from an upload)."""
        self.status = str(line.get("status") or self.status)
        digest = line.get("digest")
        if digest and line.get("total"):
            total, completed = int(line["total"]), int(line.get("completed") or 0)
            layer = self.layers.get(digest)
            if layer is None:  # Ollama's first tick comes 60 ms in: a little may have arrived already
                already = completed if completed >= total or completed >= RESUMED_SHARE * total else 0
                layer = self.layers[digest] = Layer(digest, total, completed, resumed=already)
            layer.total, layer.completed = total, max(layer.completed, completed)
            self._sample()
        if self.status == "success":
            self.ended = self.clock()

    def _sample(self) -> None:
        now = self.clock()
        self._samples.append((now, self.fetched))
        while len(self._samples) > 2 and now - self._samples[0][0] > WINDOW:
            self._samples.popleft()

    # -- figures ----------------------------------------------------------------------------
    @property
    def total(self) -> int:
        return sum(layer.total for layer in self.layers.values())

    @property
    def completed(self) -> int:
        return sum(layer.completed for layer in self.layers.values())

    @property
    def resumed(self) -> int:
        """Bytes the server already had when the operation began (a resumed pull)."""
        return sum(layer.resumed for layer in self.layers.values())

    @property
    def fetched(self) -> int:
        """Bytes moved by this operation (the resumed part left out)."""
        return self.completed - self.resumed

    @property
    def fraction(self) -> float:
        return min(self.completed / self.total, 1.0) if self.total else (1.0 if self.done else 0.0)

    @property
    def elapsed(self) -> float:
        return (self.ended if self.ended is not None else self.clock()) - self.started

    @property
    def speed(self) -> float | None:
        """Bytes per second over the last few seconds; None until two samples are apart."""
        if len(self._samples) < 2:
            return None
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else None

    @property
    def left(self) -> float | None:
        """Seconds left at the current speed (None when unknown)."""
        speed = self.speed
        if not speed or speed <= 0 or not self.total:
            return None
        return max(self.total - self.completed, 0) / speed

    @property
    def done(self) -> bool:
        return self.status == "success"

    # -- words ------------------------------------------------------------------------------
    def figures(self) -> str:
        """``45% · 900 MB / 2.0 GB · 12 MB/s · 1 m 30 s left`` (what is known of it)."""
        if not self.total:
            return self.status
        parts = [f"{self.fraction:.0%}", f"{size(self.completed)} / {size(self.total)}"]
        if self.speed:
            parts.append(f"{size(self.speed)}/s")
        if self.left is not None and not self.done:
            parts.append(f"{clock_time(self.left)} left")
        return " · ".join(parts)

    def text_bar(self, width: int = 24) -> str:
        """One line for a terminal or a plain output: the current layer and the overall bar."""
        filled = round(self.fraction * width)
        bar = "█" * filled + "░" * (width - filled)
        return f"{self.status} {bar} {self.figures()}" if self.total else self.status

    def summary(self) -> str:
        """The line that stays: ``pulled llama3.2 · 2.0 GB in 1 m 12 s``."""
        took = clock_time(self.elapsed)
        if self.action == "pull":
            if self.total and self.fetched == 0:
                return f"{self.name} is up to date · {size(self.total)} · checked in {took}"
            resumed = (
                f" ({size(self.resumed)} were already here)" if self.resumed >= 0.01 * self.total else ""
            )
            return f"pulled {self.name} · {size(self.total)} in {took}{resumed}"
        uploaded = f" · uploaded {size(self.fetched)}" if self.fetched else ""
        return f"created {self.name}{uploaded} in {took}"


def size(count: float) -> str:
    """Bytes in decimal units, as Ollama shows them: ``98 MB``, ``2.0 GB``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if count >= scale:
            value = count / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{count:.0f} B"


def clock_time(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``1 m 12 s``, ``2 h 5 m``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} m {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} m"


class ProgressView(Protocol):
    """Shows a pull or a create as it goes, and its one line at the end."""

    def update(self, progress: Progress) -> None: ...

    def close(self, progress: Progress, problem: str | None) -> None:
        """The end: ``problem`` is None on success, else what stopped it (one line)."""
        ...


class TextBar:
    """The plain view: one bar redrawn in place (``\\r``) at most ``every`` seconds, then the
    final line on its own."""

    def __init__(self, out: TextIO | None = None, every: float = 0.5) -> None:
        self.out = out or sys.stdout
        self.every = every
        self._last = 0.0
        self._width = 0

    def update(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        line = progress.text_bar()
        self.out.write("\r" + line.ljust(self._width))
        self._width = len(line)
        self.out.flush()

    def close(self, progress: Progress, problem: str | None) -> None:
        if self._width:
            self.out.write("\r" + " " * self._width + "\r")
        if line := ending(progress, problem):
            self.out.write(line + "\n")
        self.out.flush()


def ending(progress: Progress, problem: str | None) -> str:
    """The line that stays: the summary; after a failure, how far it got ("" when nowhere: the
    error, raised to the caller, says it all)."""
    if problem is None:
        return progress.summary()
    if not progress.fetched:
        return ""
    got = f"{progress.fraction:.0%} ({size(progress.completed)} of {size(progress.total)})"
    again = ": pull again to resume" if progress.action == "pull" else ""
    return f"{progress.action} of {progress.name} stopped at {got}{again}."

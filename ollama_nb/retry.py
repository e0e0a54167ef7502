"""When to ask a busy server again, and after how long: a small, pure retry policy.

Ollama answers 503 when its queue is full ("server busy, please try again.  maximum pending
requests exceeded"); its cloud answers 503, 429 and 502 when overloaded; a proxy in front of a
pool answers 502 or 504 when no server could take the request. Those, and only those, are asked
again, and only when nothing of the answer arrived: a stream that broke after some text is never
re-sent behind the user's back. The waits grow exponentially with jitter (so that a class that was
refused together does not come back together), are capped one by one and in total, and are never
shorter than a ``Retry-After`` the server sent (seconds, or an HTTP date).

No I/O here: the adapter (:mod:`ollama_nb.ollama_backend`) does the waiting, interruptibly, and
reports each wait through a callback with :func:`waiting_text`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from .units import duration

RETRYABLE = frozenset({429, 502, 503, 504})  # busy, rate-limited, or a proxy with no server free
DEFAULT_RETRIES = 5
DEFAULT_MAX_WAIT = 60.0  # seconds of waiting in all, across the retries of one request


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` attempts after the first, at most ``max_wait`` seconds of waiting in all.

    The n-th wait is ``base * 2**(n-1)`` capped at ``cap``, of which a random part up to
    ``jitter`` is taken off; a ``Retry-After`` makes it no shorter than asked."""

    retries: int = DEFAULT_RETRIES
    max_wait: float = DEFAULT_MAX_WAIT
    base: float = 1.0
    cap: float = 30.0
    jitter: float = 0.5

    def retryable(self, status: int) -> bool:
        return status in RETRYABLE and self.retries > 0

    def delay(
        self, attempt: int, retry_after: float | None = None, rand: Callable[[], float] = random.random
    ) -> float:
        """Seconds to wait before retry number ``attempt`` (from 1)."""
        backoff = min(self.cap, self.base * 2 ** (attempt - 1))
        backoff *= 1 - self.jitter * rand()
        return max(backoff, retry_after) if retry_after is not None else backoff

    def next_wait(
        self,
        attempt: int,
        waited: float,
        retry_after: float | None = None,
        rand: Callable[[], float] = random.random,
    ) -> float | None:
        """The wait before retry ``attempt`` given ``waited`` seconds so far, or None: give up
        (no retries left, or the wait would go past ``max_wait``; a ``Retry-After`` beyond it is
        not shortened, it ends the retries)."""
        if attempt > self.retries:
            return None
        wait = self.delay(attempt, retry_after, rand)
        left = self.max_wait - waited
        if wait <= left:
            return wait
        if retry_after is not None and retry_after > left:
            return None
        return left if left >= 0.1 else None  # the last bit of the budget, not nothing


NO_RETRIES = RetryPolicy(retries=0)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header in seconds: ``"2"`` or an HTTP date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def waiting_text(status: int, message: str, wait: float, attempt: int, retries: int) -> str:
    """``server busy (503: server busy, please try again.); trying again in 4 s (2 of 5)``"""
    what = "too many requests" if status == 429 else "server busy"
    return f"{what} ({status}: {_clip(message)}); trying again in {_seconds(wait)} ({attempt} of {retries})"


def gave_up_text(status: int, message: str, retries: int, waited: float, source: str = "Ollama") -> str:
    """The one line after the last retry, in the server's own words (``source``: who said them,
    Ollama, or the address of a proxy that answered with a page of its own)."""
    tries = (
        f"{retries} retr{'y' if retries == 1 else 'ies'} over {duration(waited)}" if retries else "no retries"
    )
    return (
        f"{source} said ({status}): {message} (still busy after {tries}: wait longer with "
        "%ollama config retries=N retry_max_wait=SECONDS, or try again later)."
    )


def _seconds(wait: float) -> str:
    return f"{wait:.0f} s" if wait >= 1.5 else f"{wait:.1f} s"


def _clip(text: str, limit: int = 80) -> str:
    text = text.strip().replace("\n", " ")  # the server's words as they are (Ollama's have two spaces)
    return text if len(text) <= limit else text[: limit - 1] + "…"

"""When to redraw a live view: at most every ``interval`` seconds, whatever the token rate.

The view stores what to show on every event and tells the clock (:meth:`RedrawClock.tick`);
the clock decides when to draw: at once when the last draw is older than the interval (so the
first text shows without delay), else from a timer thread once the interval has passed (the
stream may pause, e.g. while a tool call is buffered). The interval grows when drawing gets slow
(a huge open block), so that drawing stays under a tenth of the time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

DEFAULT_INTERVAL = 0.1  # seconds between redraws: ~10 per second


class RedrawClock:
    """Calls ``draw(on_timer)``: ``on_timer`` is True when it runs on the clock's timer thread
    rather than the thread that called :meth:`tick` or :meth:`now`."""

    def __init__(self, draw: Callable[[bool], None], interval: float = DEFAULT_INTERVAL) -> None:
        self.interval = interval
        self.current = interval  # the interval in force: grows when drawing is slow
        self.lock = threading.RLock()  # held while drawing, so a timer draw never interleaves
        self._draw = draw
        self._last = float("-inf")
        self._timer: threading.Timer | None = None
        self._stopped = False

    def tick(self) -> None:
        """Something changed: draw now if a draw is due, else make sure the timer will."""
        with self.lock:
            if self._stopped:
                return
            due = self._last + self.current - time.monotonic()
            if due <= 0:
                self._run(on_timer=False)
            elif self._timer is None:
                self._timer = threading.Timer(due, self._run, kwargs={"on_timer": True})
                self._timer.daemon = True
                self._timer.start()

    def now(self) -> None:
        """Draw at once (the end of a turn, a tool call, the end)."""
        with self.lock:
            if not self._stopped:
                self._run(on_timer=False)

    def stop(self) -> None:
        """No more draws from the timer (the view is finishing)."""
        with self.lock:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _run(self, on_timer: bool) -> None:
        with self.lock:
            if on_timer and self._stopped:
                return  # the timer fired while the view finished
            if self._timer is not None and not on_timer:
                self._timer.cancel()
            self._timer = None
            started = time.monotonic()
            self._draw(on_timer)
            self._last = time.monotonic()
            self.current = max(self.interval, 10 * (self._last - started))

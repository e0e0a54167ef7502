"""How times read in statuses, traces and timelines: one format everywhere."""

from __future__ import annotations


def duration(seconds: float) -> str:
    """``42 µs``, ``3.1 ms``, ``2.40 s``."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"

"""Numbers and counts written for people."""

from __future__ import annotations


def human_count(n: int) -> str:
    """A parameter count for people: ``10.28B``, ``21.6M``, ``3.5K``, ``0``."""
    for scale, suffix, digits in ((1e9, "B", 2), (1e6, "M", 1), (1e3, "K", 1)):
        if abs(n) >= scale:
            return f"{n / scale:.{digits}f}{suffix}"
    return str(int(n))


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 video``, ``2 videos``, ``0 videos``."""
    return f"{n} {word if n == 1 else (many or word + 's')}"

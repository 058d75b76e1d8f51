"""A small time-bounded cache for per-request lookups (principals, user records).

A value loaded while something was forgotten is handed to its caller but not kept: the load
may have read the row before the change that the forget announced.
"""

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")
_MISSING = object()


class TtlCache(Generic[V]):
    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self._lock = threading.Lock()
        self._generation = 0  # bumped by every forget/clear

    def peek(self, key: Hashable) -> V | None:
        """The cached value if fresh, else None (no loading, no I/O)."""
        entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[0] > time.monotonic() else None

    def holds(self, key: Hashable, for_s: float = 0.0) -> bool:
        """True when `key` is cached (even as None) and stays fresh for at least `for_s` more seconds."""
        entry = self._entries.get(key)
        return entry is not None and entry[0] > time.monotonic() + for_s

    def get(self, key: Hashable, load: Callable[[], V]) -> V:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        generation = self._generation
        value = load()
        with self._lock:
            if generation != self._generation:
                return value
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self._ttl_s, value)
        return value

    def forget(self, match: Callable[[Hashable], bool]) -> None:
        with self._lock:
            self._generation += 1
            for key in [k for k in self._entries if match(k)]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

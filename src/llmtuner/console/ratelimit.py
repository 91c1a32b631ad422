"""Sign-in attempts: failures per username and attempts per client address, in a sliding window.

Kept in memory, not in the database, because the console is one process: its scheduler owns the jobs' child
processes, so it never runs as several workers, and one table in memory sees every attempt without a write per
attempt. A restart forgets the counts; nobody outside can cause one. A blocked attempt is answered 429 before any
password is checked and is not counted, so a locked-out user is free again when the window has passed.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class LoginLimiter:
    def __init__(self, failures_per_user: int, attempts_per_address: int, window_s: float) -> None:
        self.failures_per_user = failures_per_user
        self.attempts_per_address = attempts_per_address
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._attempts: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _trim(self, times: deque[float], now: float) -> None:
        while times and times[0] <= now - self.window_s:
            times.popleft()

    def retry_after(self, username: str, address: str) -> float | None:
        """Seconds until this attempt may be made, or None: it may be made now (and is counted)."""
        now = time.monotonic()
        key = username.strip().lower()
        with self._lock:
            failures, attempts = self._failures[key], self._attempts[address]
            self._trim(failures, now)
            self._trim(attempts, now)
            waits = [times[0] + self.window_s - now for times, limit in
                     ((failures, self.failures_per_user), (attempts, self.attempts_per_address)) if len(times) >= limit]
            if waits:
                return max(1.0, max(waits))
            attempts.append(now)
            if len(self._attempts) > 10_000:  # addresses seen once long ago: drop them
                for stale in [name for name, times in self._attempts.items() if not times or times[-1] <= now - self.window_s]:
                    del self._attempts[stale]
            return None

    def failed(self, username: str) -> None:
        with self._lock:
            self._failures[username.strip().lower()].append(time.monotonic())

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(username.strip().lower(), None)

"""What one console server holds for its lifetime (app.state.console): settings, database, scheduler, caches."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from .db import Database
from .jobs.executor import Executor
from .jobs.scheduler import Scheduler
from .models import Job
from .ratelimit import LoginLimiter
from .settings import ConsoleSettings
from .signins import AuthCache
from .system import SystemMonitor


class StatusCache:
    """Job statuses for log streams, read from the database at most once per second per job, however many
    streams follow that job."""

    def __init__(self, db: Database, ttl_s: float = 1.0) -> None:
        self.db, self.ttl_s = db, ttl_s
        self._seen: dict[int, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def cached(self, job_id: int) -> tuple[bool, str | None]:
        """(fresh, status) without the database or a lock: what a stream on the event loop asks first."""
        seen = self._seen.get(job_id)
        if seen is not None and time.monotonic() - seen[0] < self.ttl_s:
            return True, seen[1]
        return False, None

    def status(self, job_id: int) -> str | None:
        now = time.monotonic()
        with self._lock:
            cached = self._seen.get(job_id)
            if cached is not None and now - cached[0] < self.ttl_s:
                return cached[1]
        with self.db.session() as session:
            status = session.scalar(select(Job.status).where(Job.id == job_id))
        with self._lock:
            self._seen[job_id] = (now, status)
        return status


class SharedAnswer:
    """One answer built at most once per `ttl_s` however many readers ask (the dashboard: the same for everyone)."""

    def __init__(self, ttl_s: float = 1.0) -> None:
        self.ttl_s = ttl_s
        self._built: tuple[float, bytes] | None = None
        self._lock = threading.Lock()

    def fresh(self) -> bytes | None:
        """The answer if it is recent (no lock: read on the event loop)."""
        built = self._built
        return built[1] if built is not None and time.monotonic() - built[0] < self.ttl_s else None

    def get(self, build: Callable[[], bytes]) -> bytes:
        with self._lock:
            now = time.monotonic()
            if self._built is None or now - self._built[0] >= self.ttl_s:
                self._built = (now, build())
            return self._built[1]


@dataclass
class ConsoleState:
    settings: ConsoleSettings
    db: Database
    executor: Executor
    scheduler: Scheduler
    limiter: LoginLimiter
    monitor: SystemMonitor
    statuses: StatusCache
    dashboard: SharedAnswer = field(default_factory=SharedAnswer)
    auth: AuthCache = field(default_factory=AuthCache)
    registry_lock: threading.Lock = field(default_factory=threading.Lock)
    """Held while dataset_info.json is rewritten."""

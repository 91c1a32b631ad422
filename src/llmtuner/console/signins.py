"""Who is signed in, and the sign-ins remembered between requests (see deps: an in-process cache, dropped at once
when a user or a sign-in changes)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from .db import utcnow

AUTH_TTL_S = 10.0


@dataclass(frozen=True)
class Principal:
    """Who is signed in, as the handlers need it (the user's row is theirs to load when they need more)."""

    id: int
    username: str
    role: str


@dataclass(frozen=True)
class SignIn:
    principal: Principal
    session_id: int
    csrf_sha256: str
    expires_at: datetime


class AuthCache:
    def __init__(self, ttl_s: float = AUTH_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, SignIn]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> SignIn | None:
        entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry[0] > self.ttl_s or entry[1].expires_at <= utcnow():
            return None
        return entry[1]

    def put(self, key: str, sign_in: SignIn) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[key] = (time.monotonic(), sign_in)

    def drop(self, user_id: int | None = None, session_id: int | None = None) -> None:
        """Forget a user's sign-ins (any change to the user), or one sign-in (logout)."""
        with self._lock:
            for key, (_, sign_in) in list(self._entries.items()):
                if sign_in.principal.id == user_id or sign_in.session_id == session_id:
                    del self._entries[key]

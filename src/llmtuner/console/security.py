"""Passwords, tokens and CSRF: argon2id hashes (argon2-cffi), random tokens of which only a sha256 is stored.

A sign-in gives one random token, sent back as `Authorization: Bearer` by API clients or kept by the browser
in an HttpOnly cookie. Cookie-authenticated writes also need the CSRF token (double submit): the value of the
readable `llmtuner_csrf` cookie repeated in the `X-CSRF-Token` header, and matching the sign-in's stored hash,
which another site can neither read nor set. Bearer clients are exempt: a browser never adds that header by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache

SESSION_COOKIE = "llmtuner_session"
CSRF_COOKIE = "llmtuner_csrf"
CSRF_HEADER = "X-CSRF-Token"
MIN_PASSWORD_LENGTH = 12


@lru_cache(maxsize=1)
def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()  # argon2id with RFC 9106's second recommended profile: 64 MiB, 3 passes


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; an unknown user (None) costs one hash as well, so timing tells nothing."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher().hash(secrets.token_urlsafe(16))


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


def password_problem(password: str, username: str) -> str | None:
    """Why a password is refused (None: accepted)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"is {len(password)} characters long; use at least {MIN_PASSWORD_LENGTH} (a passphrase of several words is easy to type)"
    if password.strip().lower() == username.strip().lower():
        return "is the username; choose another"
    if len(set(password)) < 4:
        return "repeats too few characters; choose one with more variety"
    return None


def new_token() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode("utf-8"), right.encode("utf-8"))

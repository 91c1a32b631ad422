"""API keys: `Authorization: Bearer KEY`, compared in constant time against every accepted key.

A key is never logged or stored; logs and the audit log name it by its key id (the first 8 hex digits of its
SHA-256), which tells keys apart without revealing them.
"""

import hashlib
import hmac

from starlette.requests import HTTPConnection

from .audit import scope_record
from .errors import ApiError


def key_id(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]


class KeyCheck:
    """Callable on a request: returns the caller's key id, or raises a 401 in OpenAI's shape."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("the API needs at least one key")  # validate_serve refuses a config without one
        self._keys = [key.encode("utf-8") for key in keys]

    def matches(self, offered: str) -> bool:
        candidate = offered.encode("utf-8")
        found = False
        for key in self._keys:  # no early exit: the time taken does not tell which key, or how much, matched
            found |= hmac.compare_digest(candidate, key)
        return found

    def __call__(self, request: HTTPConnection) -> str:
        scheme, _, offered = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not offered.strip():
            raise ApiError(401, "Missing API key: send it as the header `Authorization: Bearer KEY`.",
                           code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
        offered = offered.strip()
        if not self.matches(offered):
            raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
        identity = key_id(offered)
        scope_record(request.scope)["key_id"] = identity
        return identity

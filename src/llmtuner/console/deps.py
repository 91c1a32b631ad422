"""Per-request dependencies: one database session, the signed-in user (bearer token or session cookie + CSRF),
and role checks. Writes need engineer or admin (a viewer gets 403), user management needs admin.

A token's sign-in is looked up once and then remembered for a few seconds (signins.AuthCache): a dashboard or log reader
polling every second costs no database query. The console is one process and every change to sign-ins and users
goes through it, so logging out, and changing, disabling or deleting a user, drop the remembered entries at once;
an expired sign-in is refused from the remembered expiry. The session (`get_db`) opens a connection only when a
handler or a lookup uses it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from .db import utcnow
from .models import ROLES, AuthSession
from .security import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, digest, same
from .signins import Principal, SignIn

if TYPE_CHECKING:
    from .state import ConsoleState

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
bearer_scheme = HTTPBearer(auto_error=False, description="The access_token from POST /api/auth/login.")
cookie_scheme = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                             description=f"The browser's session cookie; writes also need the {CSRF_HEADER} header.")


def console_state(request: Request) -> ConsoleState:
    return request.app.state.console


async def get_db(request: Request) -> AsyncIterator[Session]:
    """The request's one session; a handler commits what it changed, anything else is rolled back on close."""
    session = console_state(request).db.sessions()
    try:
        yield session
    finally:
        if session.in_transaction():  # it holds a connection: its rollback may wait on the server
            await run_in_threadpool(session.close)
        else:
            session.close()


DB = Annotated[Session, Depends(get_db)]


def unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def _look_up(session: Session, key: str) -> SignIn | None:
    row = session.scalar(select(AuthSession).where(AuthSession.token_sha256 == key))
    if row is None or row.expires_at <= utcnow() or row.user.disabled:
        return None
    user = row.user
    return SignIn(Principal(user.id, user.username, user.role), row.id, row.csrf_sha256, row.expires_at)


async def current_user(request: Request, session: DB,
                       bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
                       cookie: Annotated[str | None, Depends(cookie_scheme)]) -> Principal:
    token = bearer.credentials if bearer is not None else cookie
    if not token:
        raise unauthorized("Not signed in: send `Authorization: Bearer <access_token>` (from POST /api/auth/login), "
                           "or sign in from the browser.")
    cache, key = console_state(request).auth, digest(token)
    sign_in = cache.get(key)
    if sign_in is None:
        sign_in = await run_in_threadpool(_look_up, session, key)
        if sign_in is None:
            raise unauthorized("The token is unknown or expired, or the account is disabled: sign in again.")
        cache.put(key, sign_in)
    if bearer is None and request.method not in SAFE_METHODS:
        header, sent = request.headers.get(CSRF_HEADER, ""), request.cookies.get(CSRF_COOKIE, "")
        if not header or not sent or not same(header, sent) or not same(digest(header), sign_in.csrf_sha256):
            raise HTTPException(403, f"CSRF check failed: a write signed in by cookie needs the {CSRF_HEADER} header "
                                     f"set to the value of the {CSRF_COOKIE} cookie (or use a bearer token).")
    request.state.auth_session_id = sign_in.session_id
    return sign_in.principal


CurrentUser = Annotated[Principal, Depends(current_user)]


def require_role(minimum: str) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    needed = ROLES.index(minimum)

    async def check(user: CurrentUser) -> Principal:
        if ROLES.index(user.role) < needed:
            allowed = " or ".join(ROLES[needed:])
            what = "may only read" if user.role == "viewer" else "may not do this"
            raise HTTPException(403, f"Your role {user.role} {what}: this needs {allowed}. Ask an admin to change your role.")
        return user

    return check


Reader = CurrentUser
Writer = Annotated[Principal, Depends(require_role("engineer"))]
Admin = Annotated[Principal, Depends(require_role("admin"))]

"""Sign in and out: POST /api/auth/login gives an access token (API clients: `Authorization: Bearer`) and sets the
browser's HttpOnly session cookie plus the readable CSRF cookie; attempts are rate-limited (ratelimit.py)."""

from __future__ import annotations

import math
from datetime import timedelta

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy import delete, select

from .. import audit
from ..db import utcnow
from ..deps import DB, CurrentUser, console_state
from ..models import AuthSession, User
from ..schemas.auth import LoginIn, LoginOut
from ..schemas.common import ERRORS, ErrorOut
from ..schemas.users import UserOut
from ..security import CSRF_COOKIE, SESSION_COOKIE, digest, hash_password, needs_rehash, new_token, verify_password

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/login", response_model=LoginOut, responses={
    401: {"model": ErrorOut, "description": "Wrong username or password"},
    429: {"model": ErrorOut, "description": "Too many attempts: wait Retry-After seconds"}})
def login(body: LoginIn, request: Request, response: Response, session: DB) -> LoginOut:
    state = console_state(request)
    address = audit.client_address(request) or "unknown"
    wait = state.limiter.retry_after(body.username, address)
    if wait is not None:
        audit.record(session, request, None, "auth.login", "user", None, outcome="limited", username=body.username[:64])
        session.commit()
        seconds = math.ceil(wait)
        raise HTTPException(429, f"Too many sign-in attempts: wait {seconds} s, then try again.",
                            headers={"Retry-After": str(seconds)})
    user = session.scalar(select(User).where(User.username == body.username))
    if not verify_password(user.password_hash if user is not None else None, body.password) or user is None or user.disabled:
        state.limiter.failed(body.username)
        audit.record(session, request, None, "auth.login", "user", user.id if user else None, outcome="failed",
                     username=body.username[:64])
        session.commit()
        raise HTTPException(401, "Wrong username or password (or the account is disabled).")
    state.limiter.succeeded(body.username)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(body.password)
    session.execute(delete(AuthSession).where(AuthSession.expires_at <= utcnow()))  # sign-ins that ran out
    token, csrf = new_token(), new_token()
    expires = utcnow() + timedelta(hours=state.settings.session_hours)
    session.add(AuthSession(user_id=user.id, token_sha256=digest(token), csrf_sha256=digest(csrf), expires_at=expires,
                            client=address[:64]))
    user.last_login_at = utcnow()
    audit.record(session, request, user, "auth.login", "user", user.id)
    session.commit()
    secure = request.url.scheme == "https"
    max_age = int(state.settings.session_hours * 3600)
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="strict", secure=secure, path="/")
    response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age, httponly=False, samesite="strict", secure=secure, path="/")
    return LoginOut(access_token=token, expires_at=expires, csrf_token=csrf, user=UserOut.model_validate(user))


@router.post("/logout", status_code=204, responses=ERRORS)
def logout(request: Request, response: Response, session: DB, user: CurrentUser) -> Response:
    session.execute(delete(AuthSession).where(AuthSession.id == request.state.auth_session_id))
    console_state(request).auth.drop(session_id=request.state.auth_session_id)
    audit.record(session, request, user, "auth.logout", "user", user.id)
    session.commit()
    done = Response(status_code=204)
    done.delete_cookie(SESSION_COOKIE, path="/")
    done.delete_cookie(CSRF_COOKIE, path="/")
    return done


@router.get("/me", response_model=UserOut, responses=ERRORS)
def me(session: DB, user: CurrentUser) -> User:
    row = session.get(User, user.id)
    if row is None:
        raise HTTPException(401, "The account no longer exists: sign in again.", headers={"WWW-Authenticate": "Bearer"})
    return row

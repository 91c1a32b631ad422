"""Users (admin only): list, create, change role / password / disabled, delete. The last enabled admin cannot be
removed, demoted or disabled. A new password or a disabled account ends that user's sign-ins."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .. import audit
from ..deps import DB, Admin, console_state
from ..errors import conflict, field_error, not_found
from ..models import AuthSession, User
from ..schemas.common import CONFLICT, NOT_FOUND, WRITE_ERRORS, Id, Limit, Offset
from ..schemas.users import UserCreate, UserList, UserOut, UserUpdate
from ..security import hash_password, password_problem
from ..signins import Principal

router = APIRouter(prefix="/api/users", tags=["users"])


def _get(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise not_found("user", user_id)
    return user


def _check_password(password: str, username: str) -> None:
    if problem := password_problem(password, username):
        raise field_error(["body", "password"], f"The password {problem}.")


def _other_admins(session: Session, user: User | Principal) -> int:
    return session.scalar(select(func.count()).select_from(User).where(User.role == "admin", User.id != user.id,
                                                                       User.disabled.is_(False))) or 0


@router.get("", response_model=UserList, responses=WRITE_ERRORS)
def list_users(session: DB, admin: Admin, limit: Limit = 100, offset: Offset = 0) -> UserList:
    users = session.scalars(select(User).order_by(User.id).limit(limit).offset(offset)).all()
    total = session.scalar(select(func.count()).select_from(User)) or 0
    return UserList(items=[UserOut.model_validate(user) for user in users], total=total)


@router.post("", status_code=201, response_model=UserOut, responses={**WRITE_ERRORS, **CONFLICT})
def create_user(body: UserCreate, request: Request, session: DB, admin: Admin) -> User:
    if session.scalar(select(User).where(User.username == body.username)) is not None:
        raise conflict(f"A user {body.username!r} exists already: choose another username.")
    _check_password(body.password, body.username)
    user = User(username=body.username, role=body.role, password_hash=hash_password(body.password))
    session.add(user)
    session.flush()
    audit.record(session, request, admin, "user.create", "user", user.id, {"username": user.username, "role": user.role})
    session.commit()
    return user


@router.patch("/{user_id}", response_model=UserOut, responses={**WRITE_ERRORS, **NOT_FOUND, **CONFLICT})
def update_user(user_id: Id, body: UserUpdate, request: Request, session: DB, admin: Admin) -> User:
    user = _get(session, user_id)
    loses_admin = user.role == "admin" and ((body.role not in (None, "admin")) or body.disabled is True)
    if loses_admin and _other_admins(session, user) == 0:
        raise conflict("This is the last enabled admin: make another user admin first.")
    changed: dict[str, object] = {}
    if body.password is not None:
        _check_password(body.password, user.username)
        user.password_hash = hash_password(body.password)
        changed["password"] = "changed"
    if body.role is not None:
        user.role = changed["role"] = body.role
    if body.disabled is not None:
        user.disabled = changed["disabled"] = body.disabled
    if body.password is not None or body.disabled:
        session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
    audit.record(session, request, admin, "user.update", "user", user.id, changed)
    session.commit()
    console_state(request).auth.drop(user_id=user.id)  # a new role, password or a disabled account counts at once
    return user


@router.delete("/{user_id}", status_code=204, responses={**WRITE_ERRORS, **NOT_FOUND, **CONFLICT})
def delete_user(user_id: Id, request: Request, session: DB, admin: Admin) -> Response:
    user = _get(session, user_id)
    if user.id == admin.id:
        raise conflict("You cannot delete your own account: another admin can.")
    if user.role == "admin" and _other_admins(session, user) == 0:
        raise conflict("This is the last enabled admin: make another user admin first.")
    audit.record(session, request, admin, "user.delete", "user", user.id, {"username": user.username})
    session.delete(user)
    session.commit()
    console_state(request).auth.drop(user_id=user_id)
    return Response(status_code=204)

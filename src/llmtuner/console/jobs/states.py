"""A job's states and the only place they change: `transition()`, checked against one table.

    PENDING ─→ PREPARING ─→ RUNNING ─→ COMPLETED | FAILED | STOPPED
       │            │                              │
       └→ STOPPED   └→ FAILED | STOPPED | PENDING   └→ PENDING (restart: FAILED and STOPPED only)

The change is a compare-and-set (`UPDATE ... WHERE status = <the expected one>`), so the scheduler thread and a
request that both act on one job cannot both win: the loser gets InvalidTransition and reads the job again.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import ObjectDeletedError

from ..db import utcnow
from ..models import Job, JobEvent

PENDING, PREPARING, RUNNING = "PENDING", "PREPARING", "RUNNING"
COMPLETED, FAILED, STOPPED = "COMPLETED", "FAILED", "STOPPED"
STATES = (PENDING, PREPARING, RUNNING, COMPLETED, FAILED, STOPPED)
ACTIVE = (PENDING, PREPARING, RUNNING)
FINISHED = (COMPLETED, FAILED, STOPPED)

TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({PREPARING, STOPPED}),
    PREPARING: frozenset({RUNNING, FAILED, STOPPED, PENDING}),  # PENDING: requeued after a server restart
    RUNNING: frozenset({COMPLETED, FAILED, STOPPED}),
    COMPLETED: frozenset(),
    FAILED: frozenset({PENDING}),
    STOPPED: frozenset({PENDING}),
}


class InvalidTransition(Exception):
    def __init__(self, job_id: int, current: str, wanted: str) -> None:
        allowed = ", ".join(sorted(TRANSITIONS.get(current, ()))) or "none: it is finished"
        super().__init__(f"Job {job_id} is {current}; it cannot become {wanted} (from {current} it may become: {allowed}).")
        self.current = current


def transition(session: Session, job: Job, to: str, reason: str | None = None, **fields: object) -> None:
    """Move `job` to `to` (with `fields` set in the same UPDATE) and record the change; the caller commits."""
    current = job.status
    if to not in TRANSITIONS.get(current, frozenset()):
        raise InvalidTransition(job.id, current, to)
    now = utcnow()
    values: dict[str, object] = {"status": to, **fields}
    if to == RUNNING:
        values.setdefault("started_at", now)
    if to in FINISHED:
        values.setdefault("finished_at", now)
    result = session.execute(update(Job).where(Job.id == job.id, Job.status == current).values(**values)
                             .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        try:
            session.refresh(job)
        except ObjectDeletedError:  # deleted meanwhile (DELETE /api/jobs/{id} of a waiting job)
            raise InvalidTransition(job.id, "DELETED", to) from None
        raise InvalidTransition(job.id, job.status, to)
    for key, value in values.items():
        set_committed_value(job, key, value)  # the row already holds them: no second UPDATE
    session.add(JobEvent(job_id=job.id, at=now, from_status=current, to_status=to, reason=reason))
    session.flush()

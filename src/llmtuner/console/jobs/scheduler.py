"""The scheduler: one background thread that starts waiting jobs when a device is free and watches running ones.

Every `poll_interval_s` (or at once when woken by a new job or a stop) it
1. polls each RUNNING job's process: an exit makes the job COMPLETED (exit 0; a train or export job's model is
   registered), STOPPED (a stop was asked for) or FAILED (the log's last lines become its error); a serve job
   (`llmtuner api`) exits only when stopped, and registers nothing;
2. starts PENDING jobs, highest priority first, then oldest: a job needing n GPUs gets n free GPU ids from
   `gpu_ids`, a job needing none one of `cpu_slots`; a job that does not fit waits in PENDING (lower-priority jobs
   that fit may go first). PREPARING writes the job's config.yaml, then the executor starts the process. An
   executor that queues jobs itself (Slurm) gets every PENDING job at once, and chooses their devices.

`reconcile()` runs once before the thread starts: after a restart of the console a RUNNING job whose process still
runs is watched again, one whose process is gone is settled from its files (COMPLETED if its final result file was
written, else FAILED with the log's last lines), and a job caught in PREPARING goes back to PENDING.
Stopping runs in its own thread per job (SIGTERM, grace period, SIGKILL), so a stop never blocks the loop.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import Database
from ..models import Job
from ..settings import ConsoleSettings
from . import states
from .configs import COMMAND, CONFIG_NAME, LOG_NAME, write_config
from .executor import Executor, LaunchSpec, ProcessRef
from .logs import last_lines_text
from .outputs import completed_by_files, register_outputs

logger = logging.getLogger("llmtuner.console.scheduler")


class ExecutorMismatch(RuntimeError):
    """The console was started with another kind of executor than the one its running jobs were started by."""


class Scheduler:
    def __init__(self, settings: ConsoleSettings, db: Database, executor: Executor, gpu_ids: tuple[int, ...]) -> None:
        self.settings, self.db, self.executor, self.gpu_ids = settings, db, executor, gpu_ids
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopping: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()  # one tick at a time (the thread, or a test calling tick())
        self._stop_lock = threading.Lock()

    # --- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="llmtuner-console-scheduler", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the loop; running jobs go on (the next console re-attaches them)."""
        self._closing.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for thread in list(self._stopping.values()):
            thread.join(timeout=self.settings.stop_grace_s + 10)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._closing.is_set():
            self._wake.clear()  # before the tick: a wake-up during it starts the next one at once
            try:
                self.tick()
            except Exception:  # a bug here must not end the loop that watches every job
                logger.exception("scheduler tick failed")
            self._wake.wait(self.settings.poll_interval_s)

    def tick(self) -> None:
        with self._lock, self.db.session() as session:
            self._watch(session)
            self._start_pending(session)

    # --- watching ----------------------------------------------------------------------------------------------

    def _watch(self, session: Session) -> None:
        for job in session.scalars(select(Job).where(Job.status == states.RUNNING).order_by(Job.id)).all():
            if job.pid is None:
                self._settle(session, job, None, "the job has no recorded process")
                continue
            result = self.executor.poll(_ref(job))
            if result.running:
                if job.stop_requested:
                    self.stop_process(job)
                continue
            self._settle(session, job, result.exit_code)

    def _settle(self, session: Session, job: Job, exit_code: int | None, note: str | None = None) -> None:
        session.commit()  # end the tick's read: a stop asked for meanwhile must be seen (SQLite reads a snapshot)
        session.refresh(job)
        log_path = Path(job.job_dir) / LOG_NAME
        if job.stop_requested:
            to, reason, error = states.STOPPED, "stopped on request", None
        elif exit_code == 0 or (exit_code is None and completed_by_files(job)):
            to, reason, error = states.COMPLETED, "the process exited with status 0" if exit_code == 0 else \
                "the process is gone and its final result file was written", None
        else:
            why = note or (f"the process exited with status {exit_code}" if exit_code is not None
                           else "the process is gone (it ended while the console was down) and wrote no final result")
            to, reason, error = states.FAILED, why, f"{why}. Last lines of the log:\n{last_lines_text(log_path)}"
        try:
            states.transition(session, job, to, reason, exit_code=exit_code, error=error)
            if to == states.COMPLETED:
                register_outputs(session, job)
            session.commit()
        except states.InvalidTransition:
            session.rollback()
        logger.info("job %d %s: %s", job.id, to, reason)

    # --- starting ----------------------------------------------------------------------------------------------

    def _busy(self, session: Session) -> tuple[set[int], int]:
        busy_gpus: set[int] = set()
        cpu_jobs = 0
        for job in session.scalars(select(Job).where(Job.status.in_((states.PREPARING, states.RUNNING)))):
            if job.gpus:
                busy_gpus |= {device for device in job.devices if isinstance(device, int)}
            else:
                cpu_jobs += 1
        return busy_gpus, cpu_jobs

    def _start_pending(self, session: Session) -> None:
        pending = session.scalars(select(Job).where(Job.status == states.PENDING)
                                  .order_by(Job.priority.desc(), Job.id)).all()
        if not pending:
            return
        if self.executor.queues_jobs:  # a cluster: it queues what it cannot run yet, and chooses the devices
            for job in pending:
                self._launch(session, job, [self.executor.name])
            return
        busy_gpus, cpu_jobs = self._busy(session)
        for job in pending:
            free = [device for device in self.gpu_ids if device not in busy_gpus]
            if job.gpus:
                if len(free) < job.gpus:
                    continue
                devices: list[int | str] = list(free[: job.gpus])
                busy_gpus |= set(free[: job.gpus])
            else:
                if cpu_jobs >= self.settings.cpu_slots:
                    continue
                devices, cpu_jobs = ["cpu"], cpu_jobs + 1
            self._launch(session, job, devices)

    def _launch(self, session: Session, job: Job, devices: list[int | str]) -> None:
        try:
            states.transition(session, job, states.PREPARING, f"devices {devices}", devices=devices)
            session.commit()
        except states.InvalidTransition:
            session.rollback()
            return
        job_dir = Path(job.job_dir)
        try:
            job_dir.mkdir(parents=True, exist_ok=True)
            write_config(job_dir / CONFIG_NAME, job.config)
            env = {"CUDA_VISIBLE_DEVICES": ",".join(str(d) for d in devices if isinstance(d, int))}
            env.setdefault("HF_DATASETS_CACHE", str(self.settings.cache_dir / "datasets"))
            command = COMMAND.get(job.kind, job.kind)  # serve -> `llmtuner api`
            spec = LaunchSpec(job.id, command, job_dir / CONFIG_NAME, job_dir, job_dir / LOG_NAME, env, gpus=job.gpus)
            ref = self.executor.start(spec)
        except Exception as error:
            logger.exception("job %d could not be started", job.id)
            try:
                states.transition(session, job, states.FAILED, "the process could not be started",
                                  error=f"The process could not be started: {type(error).__name__}: {error}")
                session.commit()
            except states.InvalidTransition:
                session.rollback()
            return
        try:
            states.transition(session, job, states.RUNNING, self.executor.describe(ref), pid=ref.pid, process_started=ref.started,
                              attempts=job.attempts + 1, exit_code=None, error=None)
            session.commit()
        except states.InvalidTransition:  # stopped while it was being prepared
            session.rollback()
            self.executor.stop(ref, self.settings.stop_grace_s)

    # --- stopping and restarts ---------------------------------------------------------------------------------

    def stop_process(self, job: Job) -> None:
        """SIGTERM, grace period, SIGKILL, in a thread of its own; the loop then sees the exit and settles the job."""
        if job.pid is None:
            return
        with self._stop_lock:
            if job.id in self._stopping and self._stopping[job.id].is_alive():
                return
            ref = _ref(job)

            def stop() -> None:
                self.executor.stop(ref, self.settings.stop_grace_s)
                self.wake()

            thread = threading.Thread(target=stop, name=f"llmtuner-console-stop-{job.id}", daemon=True)
            self._stopping[job.id] = thread
            thread.start()

    def reconcile(self) -> None:
        with self._lock, self.db.session() as session:
            self._check_executor(session)
            for job in session.scalars(select(Job).where(Job.status == states.PREPARING)).all():
                try:
                    states.transition(session, job, states.PENDING, "requeued: the console restarted while preparing it")
                    session.commit()
                except states.InvalidTransition:
                    session.rollback()
            for job in session.scalars(select(Job).where(Job.status == states.RUNNING)).all():
                if job.pid is None:
                    self._settle(session, job, None, "the job has no recorded process")
                    continue
                ref = _ref(job)
                if self.executor.poll(ref).running:
                    logger.info("job %d re-attached (%s)", job.id, self.executor.describe(ref))
                else:
                    self._settle(session, job, None)

    def _check_executor(self, session: Session) -> None:
        """A running job can only be watched by the kind of executor that started it (a pid is not a Slurm job id):
        refuse to start with another kind while such jobs run."""
        running = session.scalars(select(Job).where(Job.status == states.RUNNING)).all()
        other = [job for job in running if executor_of(job) != self.executor.name]
        if other:
            names = sorted({executor_of(job) for job in other})
            raise ExecutorMismatch(f"Jobs {', '.join(str(job.id) for job in other)} run under the {' and '.join(names)} "
                                   f"executor, and this console was started with --executor {self.executor.name}: start it "
                                   f"with --executor {names[0]} until they have finished (or stop them from there).")


def executor_of(job: Job) -> str:
    """The kind of executor that started a job: a cluster's name in its devices, else local (GPU ids or "cpu")."""
    return "slurm" if job.devices == ["slurm"] else "local"


def _ref(job: Job) -> ProcessRef:
    return ProcessRef(job.pid or 0, job.process_started or 0.0, Path(job.job_dir))

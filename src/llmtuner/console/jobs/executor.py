"""Where a job's process runs: the `Executor` interface, and `LocalExecutor` (child processes on this machine).

A job is `python -m llmtuner.cli KIND config.yaml` (a train job on several GPUs: under torchrun) in its own folder
and its own session (so its own process group: the DataLoader workers, torchrun's ranks and anything else it starts
go with it), with stdout and stderr written to its log file, never to a pipe that a web request reads. Stopping
sends SIGTERM to the whole group, waits the grace period, then SIGKILL: no orphan is left. The pid and the
process's start time are recorded, so that after a restart of the console a pid the system has since given to
another process is not taken for the job.

A cluster scheduler fills the same interface: `start` submits and returns the scheduler's handle, `poll` asks the
scheduler, `stop` cancels; `queues_jobs` tells the console's scheduler to submit without counting devices. The
Slurm one is in slurm.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..settings import DATABASE_URL_ENV

SRC = str(Path(__file__).resolve().parents[3])
"""The folder holding the llmtuner package: put on the child's PYTHONPATH so a checkout runs without installing."""


@dataclass
class LaunchSpec:
    job_id: int
    kind: str
    """The CLI command: train, eval, export or api."""
    config_path: Path
    job_dir: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    """Added to the console's environment (CUDA_VISIBLE_DEVICES, caches)."""
    gpus: int = 0
    """GPUs the job asked for (a cluster executor requests them; the local one was given their ids in env)."""


@dataclass(frozen=True)
class ProcessRef:
    pid: int
    """The process id (local), or the cluster scheduler's job id (Slurm)."""
    started: float
    """psutil's create_time of the process (local), or the submission time (Slurm)."""
    job_dir: Path | None = None
    """The job's folder (where a cluster job leaves its exit status)."""


@dataclass(frozen=True)
class PollResult:
    running: bool
    exit_code: int | None = None
    """The exit status when known (None for a process this console did not start, after a restart)."""


class Executor(Protocol):
    name: str
    """What the console records in a started job's `devices` when it does not hand out devices itself ("slurm")."""
    queues_jobs: bool
    """True: the executor queues jobs itself (a cluster), so the console submits every PENDING job at once."""

    def describe(self, ref: ProcessRef) -> str:
        """How the job's history names its process: "pid 123", "Slurm job 45"."""

    def start(self, spec: LaunchSpec) -> ProcessRef: ...

    def poll(self, ref: ProcessRef) -> PollResult: ...

    def stop(self, ref: ProcessRef, grace_s: float) -> None:
        """Ask the job to end, and make sure it has ended when this returns (blocking for up to grace_s)."""


def job_command(python: str, spec: LaunchSpec) -> list[str]:
    """`python -m llmtuner.cli KIND config.yaml`, what both executors run. A train job given several GPUs starts one
    rank per GPU through torchrun (`--standalone`: one node, a free rendezvous port), as one would launch
    `llmtuner train` by hand: a single process would only drive the others through DataParallel, and DeepSpeed needs
    its ranks. Eval, export and serve jobs stay one process (they spread a model over the GPUs with device_map)."""
    cli = ["-m", "llmtuner.cli", spec.kind, str(spec.config_path)]
    if spec.kind == "train" and spec.gpus > 1:
        return [python, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={spec.gpus}", *cli]
    return [python, *cli]


def child_environment(extra: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != DATABASE_URL_ENV}  # it may hold a password
    env["PYTHONPATH"] = os.pathsep.join(part for part in (SRC, os.environ.get("PYTHONPATH", "")) if part)
    env.setdefault("PYTHONUNBUFFERED", "1")  # log lines reach the file as they are written
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.update(extra)
    return env


class LocalExecutor:
    """Child processes of this console. Thread-safe for the scheduler thread and the stop threads."""

    name = "local"
    queues_jobs = False

    def __init__(self) -> None:
        self._children: dict[int, subprocess.Popen] = {}
        self._exited: dict[int, int] = {}
        """Exit statuses a stop thread collected before the scheduler's poll asked."""

    def describe(self, ref: ProcessRef) -> str:
        return f"pid {ref.pid}"

    def command(self, spec: LaunchSpec) -> list[str]:
        return job_command(sys.executable, spec)

    def start(self, spec: LaunchSpec) -> ProcessRef:
        import psutil

        with open(spec.log_path, "ab") as log:
            child = subprocess.Popen(self.command(spec), cwd=spec.job_dir, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True, env=child_environment(spec.env))
        self._children[child.pid] = child
        try:
            started = psutil.Process(child.pid).create_time()
        except psutil.NoSuchProcess:  # already gone: poll() reports its exit status
            started = time.time()
        return ProcessRef(child.pid, started)

    def poll(self, ref: ProcessRef) -> PollResult:
        child = self._children.get(ref.pid)
        if child is not None:
            code = child.poll()
            if code is None:
                return PollResult(True)
            self._children.pop(ref.pid, None)
            _kill_group(ref.pid, signal.SIGKILL)  # anything the job left behind in its group goes with it
            return PollResult(False, code)
        if ref.pid in self._exited:
            _kill_group(ref.pid, signal.SIGKILL)
            return PollResult(False, self._exited.pop(ref.pid))
        if _is_running(ref):
            return PollResult(True)
        if _pid_not_reused(ref):
            _kill_group(ref.pid, signal.SIGKILL)  # stragglers of the job's group, if any
        return PollResult(False, None)

    def stop(self, ref: ProcessRef, grace_s: float) -> None:
        if not self._owns(ref):
            return
        _kill_group(ref.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            self._reap(ref.pid)
            if not _group_exists(ref.pid):
                return
            time.sleep(0.1)
        _kill_group(ref.pid, signal.SIGKILL)
        for _ in range(50):  # SIGKILL cannot be refused; wait for the kernel to take them away
            self._reap(ref.pid)
            if not _group_exists(ref.pid):
                return
            time.sleep(0.1)

    def _owns(self, ref: ProcessRef) -> bool:
        """Our child, or a re-attached process that is still the job's (not a re-used pid)."""
        return ref.pid in self._children or _is_running(ref) or (_pid_not_reused(ref) and _group_exists(ref.pid))

    def _reap(self, pid: int) -> None:
        child = self._children.get(pid)
        if child is not None:
            if (code := child.poll()) is not None and self._children.pop(pid, None) is not None:
                self._exited[pid] = code
            return
        with contextlib.suppress(ChildProcessError):  # one an earlier console in this process (tests) started
            os.waitpid(pid, os.WNOHANG)


def _is_running(ref: ProcessRef) -> bool:
    """The job's process is alive: the pid exists, started when the job's did, and is not a zombie."""
    import psutil

    if ref.pid <= 1:
        return False
    try:
        process = psutil.Process(ref.pid)
        if abs(process.create_time() - ref.started) > 1.0:
            return False  # the pid now belongs to another process
        if process.status() == psutil.STATUS_ZOMBIE:
            with contextlib.suppress(ChildProcessError):  # reap it if it is ours
                os.waitpid(ref.pid, os.WNOHANG)
            return False
        return True
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _pid_not_reused(ref: ProcessRef) -> bool:
    """No other process has taken the job's pid (so a process group with that id can only be the job's)."""
    import psutil

    try:
        return abs(psutil.Process(ref.pid).create_time() - ref.started) <= 1.0
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:
        return False


def _group_exists(pgid: int) -> bool:
    if pgid <= 1:  # 0 would be this console's own group, 1 init's
        return False
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # a group of another user's: not ours
        return False


def _kill_group(pgid: int, sig: int) -> None:
    if pgid <= 1:  # 0 would signal this console's own group
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)

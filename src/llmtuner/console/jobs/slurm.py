"""`SlurmExecutor`: the console's jobs submitted to a Slurm cluster (sbatch, squeue, scancel) instead of
run as children of the console. `llmtuner console --executor slurm` selects it.

Slurm queues the jobs itself, so the console submits every PENDING job at once (no per-device limit here: a job's
`gpus` becomes `--gres=gpu:N`, and Slurm chooses the devices). The job's folder, its config, its log and the
Python that runs it must be on a file system the compute nodes share with the console (as usual on a cluster):
the batch script runs `python -m llmtuner.cli KIND config.yaml` (a train job on several GPUs under torchrun, one rank
per GPU of the node) in the job's folder with the console's interpreter and environment (`--export=ALL`), and Slurm
appends the output to the same job.log the console reads.

The batch script writes the command's exit status to a file of the job's folder, because without accounting
(slurmdbd) Slurm forgets a finished job after MinJobAge; a job gone from Slurm without that file was killed
(scancel, time limit, node failure). A job's ProcessRef holds the Slurm job id in `pid` and the submission time
in `started`; the console's restart re-attaches to it by asking Slurm, as nothing ties it to the console process.

Stopping: `scancel --signal=TERM --full` (the batch script and everything it started), the grace period, then
`scancel --signal=KILL --full`; a job still waiting in Slurm's queue is simply cancelled.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .executor import LaunchSpec, PollResult, ProcessRef, child_environment, job_command

SCRIPT_NAME = "slurm_job.sh"
EXIT_STATUS_NAME = "slurm_exit_status"
ACTIVE_STATES = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "SIGNALING",
                 "STAGE_OUT", "STOPPED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"}
"""squeue's states of a job that has not finished (a SUSPENDED or STOPPED one may go on)."""
COMMAND_TIMEOUT_S = 30.0


class SlurmError(RuntimeError):
    """A Slurm command failed (the controller is down, the partition does not exist, ...): its own message."""


class SlurmExecutor:
    """Submits each job with sbatch. `partition` and `sbatch_args` (extra options, e.g. "--time=24:00:00
    --account=ai") go on every submission."""

    name = "slurm"
    queues_jobs = True
    """Slurm queues what it cannot run yet: the console's scheduler submits without counting devices."""

    def __init__(self, partition: str | None = None, sbatch_args: str = "", python: str | None = None) -> None:
        self.partition = partition
        try:
            self.sbatch_args = shlex.split(sbatch_args)
        except ValueError as error:  # an unclosed quote
            raise SlurmError(f"--slurm_sbatch_args {sbatch_args!r} cannot be split into options ({error}): close "
                             "its quotes, e.g. --slurm_sbatch_args=\"--time=24:00:00 --comment='tcm sft'\".") from None
        self.python = python or sys.executable
        missing = [tool for tool in ("sbatch", "squeue", "scancel") if shutil.which(tool) is None]
        if missing:
            raise SlurmError(f"--executor slurm needs the Slurm commands on PATH; {', '.join(missing)} not found. "
                             "Run the console on a node that can submit jobs (a login node), or use --executor local.")

    # --- the Executor interface ------------------------------------------------------------------------------

    def describe(self, ref: ProcessRef) -> str:
        return f"Slurm job {ref.pid}"

    def start(self, spec: LaunchSpec) -> ProcessRef:
        script = self._write_script(spec)
        (spec.job_dir / EXIT_STATUS_NAME).unlink(missing_ok=True)  # a restart's: the earlier run's status is not its
        env = child_environment(spec.env)
        env.pop("CUDA_VISIBLE_DEVICES", None)  # Slurm sets it on the node for the GPUs it allocates
        command = ["sbatch", "--parsable", f"--job-name=llmtuner-console-{spec.job_id}", f"--chdir={spec.job_dir}",
                   f"--output={spec.log_path}", "--open-mode=append", "--export=ALL"]
        if self.partition:
            command.append(f"--partition={self.partition}")
        if spec.gpus:
            command.append(f"--gres=gpu:{spec.gpus}")
        command += [*self.sbatch_args, str(script)]
        submitted = time.time()
        output = _run(command, env=env)
        job_id = int(output.strip().split(";")[0])  # --parsable: "ID" or "ID;CLUSTER"
        with open(spec.log_path, "a", encoding="utf-8") as log:  # Slurm appends the job's own output below
            log.write(f"[llmtuner console] submitted to Slurm as job {job_id}"
                      f"{f' (partition {self.partition})' if self.partition else ''}\n")
        return ProcessRef(job_id, submitted)

    def poll(self, ref: ProcessRef) -> PollResult:
        state = self.state(ref.pid)
        if state in ACTIVE_STATES:
            return PollResult(True)
        return PollResult(False, self._exit_status(ref))

    def stop(self, ref: ProcessRef, grace_s: float) -> None:
        state = self.state(ref.pid)
        if state not in ACTIVE_STATES:
            return
        if state == "PENDING":  # nothing runs yet: no signal to deliver, only a place in the queue to give up
            _call(["scancel", str(ref.pid)])
        else:
            _call(["scancel", "--signal=TERM", "--full", str(ref.pid)])
            if self._wait_gone(ref.pid, grace_s):
                return
            _call(["scancel", "--signal=KILL", "--full", str(ref.pid)])
        self._wait_gone(ref.pid, 60.0)

    # --- Slurm -------------------------------------------------------------------------------------------------

    def state(self, job_id: int) -> str | None:
        """Slurm's state of the job (RUNNING, COMPLETED, CANCELLED, ...), None when Slurm no longer knows it. Raises
        SlurmError when Slurm cannot be asked (a controller that is down is not a job that has ended)."""
        done = _call(["squeue", "-h", "-j", str(job_id), "-o", "%T", "--states=all"])
        if done.returncode != 0:
            if "invalid job id" in done.stderr.lower():  # forgotten after MinJobAge
                return None
            raise SlurmError(f"squeue could not be asked about Slurm job {job_id}: {_message(done)}. Is slurmctld up "
                             "(`scontrol ping`)?")
        state = done.stdout.strip().split("\n")[0].strip()
        return state or None

    def _exit_status(self, ref: ProcessRef) -> int | None:
        if ref.job_dir is not None:
            try:
                return int((ref.job_dir / EXIT_STATUS_NAME).read_text().strip())
            except (OSError, ValueError):
                pass  # the script did not get to write it: the job was killed
        return None

    def _wait_gone(self, job_id: int, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.state(job_id) not in ACTIVE_STATES:
                return True
            time.sleep(0.5)
        return self.state(job_id) not in ACTIVE_STATES

    def _write_script(self, spec: LaunchSpec) -> Path:
        """The batch script: the same command the local executor runs, and its exit status in a file (atomic)."""
        status = spec.job_dir / EXIT_STATUS_NAME
        lines = [
            "#!/bin/bash",
            f"# written by the llmtuner console for job {spec.job_id} (sbatch); its output goes to {spec.log_path.name}",
            f"cd {shlex.quote(str(spec.job_dir))} || exit 1",
            shlex.join(job_command(self.python, spec)),
            "code=$?",
            f"printf '%s\\n' \"$code\" > {shlex.quote(str(status))}.tmp && mv -f {shlex.quote(str(status))}.tmp "
            f"{shlex.quote(str(status))}",
            'exit "$code"',
        ]
        path = spec.job_dir / SCRIPT_NAME
        temporary = path.with_suffix(".tmp")
        temporary.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.chmod(temporary, 0o700)
        os.replace(temporary, path)
        return path


def _call(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise SlurmError(f"`{command[0]}` did not answer within {COMMAND_TIMEOUT_S:.0f} s: is slurmctld up "
                         "(`scontrol ping`)?") from None


def _message(done: subprocess.CompletedProcess[str]) -> str:
    return (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"


def _run(command: list[str], env: dict[str, str] | None = None) -> str:
    """A Slurm command's output; a failure raises SlurmError with Slurm's own message."""
    done = _call(command, env)
    if done.returncode != 0:
        raise SlurmError(f"{command[0]} failed: {_message(done)}")
    return done.stdout

"""One run per output folder: training, evaluation and export hold an exclusive lock on theirs for the whole run.

Two runs writing into one folder would mix their checkpoints, predictions or releases and delete each other's
files (checkpoint rotation, a resumed predictions file, a replaced release). The lock is ``fcntl.flock`` on an
open file, ``.llmtuner.lock`` in the folder, so the operating system drops it when its holder dies, even by
SIGKILL; the file says who holds it (pid, host, start time, command) for the refusal message, and is removed
when the run ends. A lock file whose flock nobody holds was left by a process that died on this host: it is
taken over with a warning. One left by another host is refused (flock may not reach across hosts there), with
the fix. Under torchrun/DeepSpeed only the global rank 0 takes the lock: the other ranks are the same run,
and reach the folder only after rank 0 holds it (they wait for it in the process-group set-up).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shlex
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import UserError
from .logging import get_logger

logger = get_logger(__name__)

LOCK_NAME = ".llmtuner.lock"
"""The lock file inside a locked output folder (training and evaluation output_dir)."""

_NO_FLOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


class FolderBusyError(UserError):
    """Another run holds the output folder."""


def lock_path(folder: str | Path, beside: bool = False) -> Path:
    """The lock file of ``folder``: inside it, or (``beside``, for a folder replaced whole, like export_dir) a
    hidden sibling ``.NAME.llmtuner.lock``."""
    folder = Path(folder).absolute()
    return folder.parent / f".{folder.name}{LOCK_NAME}" if beside else folder / LOCK_NAME


def is_global_main_process() -> bool:
    """Rank 0 of the whole launch (torchrun and the DeepSpeed launcher set RANK; a plain run has none)."""
    return os.environ.get("RANK", "0") in ("", "0")


@contextmanager
def run_lock(folder: str | Path, run: str, key: str = "output_dir", beside: bool = False) -> Iterator[Path | None]:
    """``with run_lock(output_dir, "training"):`` the whole run. Raises FolderBusyError (naming the holder and
    the fix) when another run holds ``folder``; ``key`` is the argument to change, for the message. Yields the
    lock file, or None on ranks other than 0 (which take no lock)."""
    if not is_global_main_process():
        yield None
        return
    path = lock_path(folder, beside)
    descriptor = _acquire(path, Path(folder).absolute(), run, key)
    try:
        yield path
    finally:
        _release(path, descriptor)


def _acquire(path: Path, folder: Path, run: str, key: str) -> int:
    for parent in (path.parent, *path.parent.parents):
        if parent.exists() and not parent.is_dir():
            raise UserError(f"{key} {folder} cannot be a folder: {parent} is a file. Choose another {key}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            flocked = _flock(descriptor, path)
            if flocked is None:
                raise FolderBusyError(
                    f"{key} {folder} is in use by another run: {_describe(_read(descriptor))}. Two runs in one folder "
                    f"would mix and delete each other's files. Wait for that run to finish (or stop it), or choose "
                    f"another {key} for this {run}.")
            if not flocked or _is_current(descriptor, path):
                _check_previous(_read(descriptor), flocked, path, folder, run, key)
                _write_holder(descriptor, run)
                return descriptor
        except BaseException:
            os.close(descriptor)
            raise
        # the holder removed the file between our open and flock: this inode is nobody's lock any more, retry
        os.close(descriptor)


def _flock(descriptor: int, path: Path) -> bool | None:
    """Take the flock: True; None when another process holds it; False when the file system has no locks
    (then only the file's content is checked)."""
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return None
    except OSError as error:
        if error.errno not in _NO_FLOCK:
            raise
        logger.warning("The file system of %s does not support flock (%s): the lock is checked by its content only.",
                       path, error.strerror)
        return False


def _is_current(descriptor: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(descriptor).st_ino
    except FileNotFoundError:
        return False


def _read(descriptor: int) -> dict[str, Any]:
    """The holder's record; {} when empty (a holder that is just starting) or unreadable."""
    try:
        os.lseek(descriptor, 0, os.SEEK_SET)
        data = json.loads(os.read(descriptor, 1 << 16).decode("utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_holder(descriptor: int, run: str) -> None:
    record = {"pid": os.getpid(), "host": socket.gethostname(), "run": run,
              "started": time.strftime("%Y-%m-%d %H:%M:%S %z"), "command": shlex.join([sys.executable, *sys.argv])}
    data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, data, 0)  # in place, not renamed: a new inode would be another lock
    os.fsync(descriptor)


def _describe(holder: dict[str, Any]) -> str:
    if not holder.get("pid"):
        return "a run that is just starting (its lock file names no holder yet)"
    return (f"{holder.get('run', 'a run')} pid {holder['pid']} on host {holder.get('host', '?')}, started "
            f"{holder.get('started', '?')}, command: {holder.get('command', '?')}")


def _check_previous(holder: dict[str, Any], flocked: bool, path: Path, folder: Path, run: str, key: str) -> None:
    """A record whose flock was free: its process died on this host (taken over), or it ran on another host."""
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return  # empty or foreign content: no run to name
    same_host = holder.get("host") == socket.gethostname()
    alive = same_host and _pid_alive(pid)
    if same_host and (flocked or not alive):
        logger.warning("%s: taking over the lock left by %s, which ended without releasing it (killed or crashed). "
                       "Files it was writing may be incomplete (training resumes from its last complete checkpoint).",
                       folder, _describe(holder))
        return
    where = "is still running" if same_host else "cannot be checked from this host"
    raise FolderBusyError(
        f"{key} {folder} is locked by {_describe(holder)}, which {where}. Choose another {key} for this {run}; if that "
        f"run has really ended, delete {path} and start again.")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _release(path: Path, descriptor: int) -> None:
    """Remove the file (while still holding it, and only if it is still ours), then drop the flock."""
    try:
        if _is_current(descriptor, path):
            path.unlink()
    except OSError as error:
        logger.warning("Could not remove the lock file %s (%s); the next run takes it over.", path, error.strerror)
    finally:
        os.close(descriptor)

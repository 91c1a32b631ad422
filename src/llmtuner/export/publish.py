"""Build a release in a hidden folder beside export_dir and rename it into place only when it is complete.

A crash, a failed verification or Ctrl-C therefore never leaves a half-written release at export_dir, and
never touches an existing one. With --overwrite the old release is renamed aside, the new one renamed in,
and only then is the old one deleted; renames within one folder are atomic on POSIX file systems.
"""

import os
import shutil
import uuid
from pathlib import Path

from ..extras.errors import ConfigError
from ..extras.logging import get_logger

logger = get_logger(__name__)


def is_nonempty_dir(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def check_target(export_dir: Path, overwrite: bool) -> None:
    """Refuse a target that holds something, unless --overwrite; a plain file is never replaced."""
    if export_dir.exists() and not export_dir.is_dir():
        raise ConfigError(f"export_dir {export_dir} is a file, not a folder. Choose another export_dir.")
    if is_nonempty_dir(export_dir) and not overwrite:
        raise ConfigError(f"export_dir {export_dir} exists and is not empty. Pass --overwrite to replace it "
                          "(the old release is kept until the new one is complete and verified), or choose another folder.")


def sibling(export_dir: Path, kind: str) -> Path:
    """A hidden, unique folder name next to export_dir (same file system, so renames are atomic)."""
    return export_dir.parent / f".{export_dir.name}.{kind}-{uuid.uuid4().hex[:8]}"


def make_staging(export_dir: Path, kind: str = "export") -> Path:
    folder = sibling(export_dir, kind)
    folder.mkdir(parents=True)  # not mkdtemp: its 0700 mode would stick to the published folder
    return folder


def _readable_files(folder: Path) -> None:
    """Give files the umask's usual mode: safetensors writes 0600, which hides the release from a serving user."""
    umask = os.umask(0)
    os.umask(umask)
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(0o666 & ~umask)


def publish(staging: Path, export_dir: Path, overwrite: bool) -> None:
    """Rename `staging` to `export_dir`; an existing release is moved aside first and deleted last."""
    _readable_files(staging)
    check_target(export_dir, overwrite)  # again: another process may have written there meanwhile
    old = None
    if export_dir.is_dir():
        if any(export_dir.iterdir()):
            old = sibling(export_dir, "old")
            os.replace(export_dir, old)
        else:
            export_dir.rmdir()  # an empty folder the user made beforehand holds nothing to keep
    try:
        os.replace(staging, export_dir)
    except BaseException:
        if old is not None:
            os.replace(old, export_dir)  # put the previous release back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
        logger.info("Replaced the previous release at %s.", export_dir)

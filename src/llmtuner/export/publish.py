"""Build a release in a hidden folder beside export_dir and rename it into place only when it is complete.

A crash, a failed verification or Ctrl-C therefore never leaves a half-written release at export_dir, and
never touches an existing one. With --overwrite the old release is renamed aside, the new one renamed in,
and only then is the old one deleted (``extras.files.publish_dir``). This module adds the export's own
rules and messages: a non-empty export_dir is refused without --overwrite, and with it unless it holds an
earlier release of this project (its export_info.json): --overwrite never deletes a folder of someone else's
files. Staging folders left by a killed export are removed by the next one (the export lock makes them stale).
"""

import shutil
from pathlib import Path

from ..extras.errors import ConfigError, DiskFullError
from ..extras.files import free_space, is_nonempty_dir, publish_dir, staging_dir, write_failure
from ..extras.logging import get_logger

logger = get_logger(__name__)
INFO_NAME = "export_info.json"  # written into every release; marks a folder --overwrite may replace
STAGING_KINDS = ("export", "merged")  # make_staging's kinds; publish_dir's ".old" copies are never removed here


def check_target(export_dir: Path, overwrite: bool) -> None:
    """Refuse a target that holds something, unless --overwrite; a plain file is never replaced."""
    if export_dir.exists() and not export_dir.is_dir():
        raise ConfigError(f"export_dir {export_dir} is a file, not a folder. Choose another export_dir.")
    if is_nonempty_dir(export_dir) and not overwrite:
        raise ConfigError(f"export_dir {export_dir} exists and is not empty. Pass --overwrite to replace it "
                          "(the old release is kept until the new one is complete and verified), or choose another folder.")
    if is_nonempty_dir(export_dir) and not (export_dir / INFO_NAME).is_file():
        raise ConfigError(f"export_dir {export_dir} holds files that are not a release of this project (no {INFO_NAME}); "
                          "--overwrite replaces only an earlier release. Choose another export_dir, or move those files yourself.")


def remove_stale_staging(export_dir: Path) -> None:
    """Remove the hidden staging folders a killed export left beside export_dir (called under the export lock)."""
    if not export_dir.parent.is_dir():
        return
    for kind in STAGING_KINDS:
        for stale in export_dir.parent.glob(f".{export_dir.name}.{kind}-*"):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
                logger.warning("Removed %s, left by an export that did not finish.", stale)


def make_staging(export_dir: Path, kind: str = "export") -> Path:
    """A hidden folder beside export_dir (``.NAME.export-xxxxxxxx``) to write the release into."""
    return staging_dir(export_dir, kind)


def publish(staging: Path, export_dir: Path, overwrite: bool) -> None:
    """Rename `staging` to `export_dir`; an existing release is moved aside first and deleted last."""
    check_target(export_dir, overwrite)  # again: another process may have written there meanwhile
    replacing = is_nonempty_dir(export_dir)
    publish_dir(staging, export_dir, overwrite)
    if replacing:
        logger.info("Replaced the previous release at %s.", export_dir)


def disk_full_error(error: BaseException, export_dir: Path, needed_bytes: int | None) -> DiskFullError | None:
    """The error to show when writing the release failed for want of space (None for any other failure): the
    staging folder is gone, so export_dir is exactly as it was (an earlier release intact, or no folder at all)."""
    reason = write_failure(error) if isinstance(error, Exception) else None
    if reason is None:
        return None
    if (export_dir / INFO_NAME).is_file():
        state = f"the previous release in {export_dir} is intact and unchanged"
    elif export_dir.exists():
        state = f"{export_dir} is unchanged"
    else:
        state = f"{export_dir} was not created"
    needed = f"; the release needs about {needed_bytes / 1e9:.2f} GB" if needed_bytes else ""
    return DiskFullError(f"Writing the release failed ({reason}). Nothing was published and the partial files were "
                         f"removed: {state}. {free_space(export_dir.parent)}{needed}. Free space there (or choose an "
                         "export_dir on another disk), then run the same command again.")

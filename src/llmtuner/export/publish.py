"""Build a release in a hidden folder beside export_dir and rename it into place only when it is complete.

A crash, a failed verification or Ctrl-C therefore never leaves a half-written release at export_dir, and
never touches an existing one. With --overwrite the old release is renamed aside, the new one renamed in,
and only then is the old one deleted (``extras.files.publish_dir``). This module adds the export's own
rules and messages: a non-empty export_dir is refused without --overwrite, before any weights load.
"""

from pathlib import Path

from ..extras.errors import ConfigError
from ..extras.files import is_nonempty_dir, publish_dir, staging_dir
from ..extras.logging import get_logger

logger = get_logger(__name__)


def check_target(export_dir: Path, overwrite: bool) -> None:
    """Refuse a target that holds something, unless --overwrite; a plain file is never replaced."""
    if export_dir.exists() and not export_dir.is_dir():
        raise ConfigError(f"export_dir {export_dir} is a file, not a folder. Choose another export_dir.")
    if is_nonempty_dir(export_dir) and not overwrite:
        raise ConfigError(f"export_dir {export_dir} exists and is not empty. Pass --overwrite to replace it "
                          "(the old release is kept until the new one is complete and verified), or choose another folder.")


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

"""One exception type for user mistakes.

The CLI prints a ``UserError`` as a short message without a traceback; anything else is a bug
and keeps its traceback. Subclasses only say where the mistake is (config or data).
"""


class UserError(Exception):
    """A mistake the user can fix: the message names what is wrong, where, and the fix."""


class ConfigError(UserError):
    """Bad arguments: unknown key, invalid value, incompatible combination."""


class DataError(UserError):
    """Bad data: unreadable file, missing column, malformed sample, empty dataset."""


class DiskFullError(UserError):
    """A write failed for want of space (disk full, quota exceeded): the message says what was being written,
    which checkpoint or release is intact, and how to go on (free space, then run the same command again)."""

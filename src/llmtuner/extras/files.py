"""Files written whole or not at all: atomic JSON/JSONL/text, torn-line-safe appends, stage-and-rename folders.

Every file that another program or a later run reads (the step log, the run record, the evaluation store, the
tiny model, an expanded tokenizer, an export) is written through here, so a crash or Ctrl-C leaves the old
version or the new one, never half of one. A rename within one folder is atomic on POSIX file systems, so
temporary files and folders always sit next to their target, hidden and uniquely named. An append-only log
can still be cut mid-line by a killed writer: readers skip such a torn last line and appends cut it first.
"""

import errno
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from .errors import DataError
from .logging import get_logger

logger = get_logger(__name__)


# ----------------------------------------------------------------------------------------------------------
# single files
# ----------------------------------------------------------------------------------------------------------


def _sibling(target: Path, kind: str) -> Path:
    """A hidden, unique name next to ``target``: same folder, hence same file system and atomic renames."""
    return target.parent / f".{target.name}.{kind}-{uuid.uuid4().hex[:8]}"


def _write_atomic(path: str | Path, write: Callable[[IO[str]], None]) -> None:
    """Write through ``write`` into a temporary sibling, then rename it over ``path``; on failure remove it."""
    path = Path(path)
    temporary = _sibling(path, "tmp")
    try:
        # "x" rather than mkstemp: the file gets the umask's mode, not 0600 (a run record must stay readable)
        with open(temporary, "x", encoding="utf-8", newline="") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())  # the data is on disk before the rename makes it the file
        if path.exists():
            shutil.copymode(path, temporary)  # a file its owner made private stays private
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically: a crash leaves the previous file."""
    _write_atomic(path, lambda handle: handle.write(text))


def write_json(path: str | Path, obj: Any) -> None:
    """Replace ``path`` with ``obj`` as indented JSON (non-ASCII kept readable) atomically."""
    text = json.dumps(obj, ensure_ascii=False, indent=2) + "\n"  # serialised first: a bad object writes nothing
    write_text(path, text)


def _jsonl_line(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"


def write_jsonl(path: str | Path, records: Iterable[Any]) -> None:
    """Replace ``path`` with one JSON line per record atomically (records may be a generator)."""
    _write_atomic(path, lambda handle: handle.writelines(map(_jsonl_line, records)))


# ----------------------------------------------------------------------------------------------------------
# JSON lines: appends and reads that survive a writer killed mid-line
# ----------------------------------------------------------------------------------------------------------


def _is_record(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line.decode("utf-8")), dict)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False


def _last_line(handle: IO[bytes], size: int) -> tuple[int, bytes]:
    """Offset and bytes of the last non-blank line of a file open for reading (``b""`` when all is blank)."""
    block, start, tail = 4096, size, b""
    while start > 0:
        step = min(block, start)
        start -= step
        handle.seek(start)
        tail = handle.read(step) + tail
        content = tail.rstrip()
        newline = content.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1, content[newline + 1 :]
        block *= 2  # a long record: read further back, in growing steps
    return 0, tail.rstrip()


def append_jsonl(path: str | Path, records: Iterable[Any]) -> None:
    """Append one JSON line per record, whole lines only, and flush them to disk.

    A last line that does not parse (a writer killed mid-line) is cut off first, so a new record never glues
    onto it; a last record that only lacks its newline is kept and given one. ``read_jsonl`` reads the
    result exactly as it read the file before, plus the new records.
    """
    data = "".join(map(_jsonl_line, records)).encode("utf-8")  # serialised first: a bad record appends nothing
    with open(os.open(path, os.O_RDWR | os.O_CREAT, 0o666), "r+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size:
            start, line = _last_line(handle, size)
            if line and not _is_record(line):
                handle.truncate(start)
                logger.warning("%s: cut off an incomplete last line (left by an interrupted write).", path)
            else:
                handle.seek(size - 1)
                if handle.read(1) != b"\n":
                    handle.write(b"\n")
        handle.seek(0, os.SEEK_END)
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file; blank lines are skipped, and so is a torn last line (with a warning).

    A malformed line elsewhere is a DataError naming the file and line; it never quotes the line, since
    records may hold patients' data.
    """
    lines = [(number, line) for number, line in enumerate(Path(path).read_bytes().split(b"\n"), 1) if line.strip()]
    records = []
    for index, (number, line) in enumerate(lines):
        try:
            record = json.loads(line.decode("utf-8"))
            problem = None if isinstance(record, dict) else f"a JSON {type(record).__name__}, not an object"
        except UnicodeDecodeError as error:
            problem = f"not UTF-8 text (byte {error.start + 1} of the line)"
        except json.JSONDecodeError as error:
            problem = f"not valid JSON ({error.msg}, column {error.colno})"  # msg and column, never the text
        if problem is None:
            records.append(record)
        elif index == len(lines) - 1:
            logger.warning("%s:%d: skipping an incomplete last line (left by an interrupted write).", path, number)
        else:
            raise DataError(f"{path}:{number}: {problem}. Each line must be one JSON object; fix or remove the line.")
    return records


# ----------------------------------------------------------------------------------------------------------
# folders: build in a hidden sibling, rename into place when complete
# ----------------------------------------------------------------------------------------------------------


def is_nonempty_dir(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def target_problem(target: Path, overwrite: bool) -> str | None:
    """Why ``publish_dir`` would refuse ``target``, or None: a file is never replaced, a full folder only on request.

    Callers check this before the long work, to raise their own error with their own hint.
    """
    if target.exists() and not target.is_dir():
        return f"{target} is a file, not a folder"
    if is_nonempty_dir(target) and not overwrite:
        return f"{target} exists and is not empty"
    return None


def staging_dir(target: str | Path, kind: str) -> Path:
    """A new hidden folder beside ``target`` (``.NAME.KIND-xxxxxxxx``) to build its contents in."""
    folder = _sibling(Path(target), kind)
    folder.mkdir(parents=True)  # not mkdtemp: its 0700 mode would stick to the published folder
    return folder


def _readable_files(folder: Path) -> None:
    """Give files the umask's usual mode: safetensors writes 0600, which would hide them from a serving user."""
    umask = os.umask(0)
    os.umask(umask)
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            path.chmod(0o666 & ~umask)


def publish_dir(staging: str | Path, target: str | Path, overwrite: bool) -> None:
    """Rename ``staging`` to ``target``, which must be missing, an empty folder, or (with ``overwrite``) a folder.

    An existing folder is renamed aside first and deleted only once the new one is in place; if the final
    rename fails it is put back. Raises FileExistsError when ``target`` is a file or, without ``overwrite``,
    a non-empty folder (checked again here: another process may have written there meanwhile).
    """
    staging, target = Path(staging), Path(target)
    _readable_files(staging)
    problem = target_problem(target, overwrite)
    if problem:
        raise FileExistsError(f"{problem}; nothing was replaced.")
    old = None
    if target.is_dir():
        if any(target.iterdir()):
            old = _sibling(target, "old")
            os.replace(target, old)
        else:
            target.rmdir()  # an empty folder made beforehand holds nothing to keep
    try:
        os.replace(staging, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)  # put the previous version back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def staged_dir(target: str | Path, kind: str, overwrite: bool) -> Iterator[Path]:
    """``with staged_dir(target, "tmp", overwrite) as folder:`` write into ``folder``; it becomes ``target`` at the
    end of the block, and is removed instead if the block (or the publishing) fails."""
    staging = staging_dir(target, kind)
    try:
        yield staging
        publish_dir(staging, target, overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def move_into(staging: str | Path, folder: str | Path) -> None:
    """Move each entry of ``staging`` into ``folder`` by rename, replacing same-named entries; remove ``staging``.

    For a folder that holds more than the staged files (a training output_dir with its checkpoints): each file
    is replaced atomically, a same-named subfolder like ``publish_dir`` does.
    """
    staging, folder = Path(staging), Path(folder)
    for item in sorted(staging.iterdir()):
        target = folder / item.name
        if item.is_dir() and target.is_dir() and not target.is_symlink():
            publish_dir(item, target, overwrite=True)
        else:
            os.replace(item, target)
    staging.rmdir()


# ----------------------------------------------------------------------------------------------------------
# write failures: a full disk, whichever library met it
# ----------------------------------------------------------------------------------------------------------

_NO_SPACE = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}
# how the libraries that write weights report it: safetensors raises SafetensorError("... No space left on device
# (os error 28)"), torch.save a RuntimeError from its zip writer ("... inline_container.cc ... unexpected pos 576
# vs 534", or "PytorchStreamWriter failed writing file ...") that names no cause
_NO_SPACE_TEXT = (("No space left on device", _NO_SPACE[errno.ENOSPC]), ("os error 28", _NO_SPACE[errno.ENOSPC]),
                  ("Disk quota exceeded", _NO_SPACE[errno.EDQUOT]), ("os error 122", _NO_SPACE[errno.EDQUOT]))
_TORCH_WRITER = ("PytorchStreamWriter failed writing", "unexpected pos")


def write_failure(error: BaseException) -> str | None:
    """Why a write failed when the disk is the cause (full, over quota), else None (any other error: a bug).

    Looks through the exception and its causes; a torch.save that could not write its file is counted too (on
    a full disk that is the only error torch gives)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _NO_SPACE:
            return _NO_SPACE[current.errno]
        text = str(current)
        for needle, reason in _NO_SPACE_TEXT:
            if needle in text:
                return reason
        if isinstance(current, RuntimeError) and any(needle in text for needle in _TORCH_WRITER):
            return "torch.save could not write the whole file; the disk is probably full"
        current = current.__cause__ or current.__context__
    return None


def free_space(path: str | Path) -> str:
    """"12.3 GB free on the disk of PATH" (of its nearest existing folder), for messages about a full disk."""
    folder = Path(path).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return f"the free space on the disk of {folder} could not be read"
    return f"{free / 1e9:.1f} GB free on the disk of {folder}"

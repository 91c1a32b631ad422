"""Uploaded files on disk and their registration in `<data_dir>/datasets/dataset_info.json`.

An upload is copied in 1 MiB chunks into datasets/.incoming/ (hashing as it goes, and refused past the size
limit), checked there, then renamed to datasets/files/<name><ext>. The registry entry is what `llmtuner train`
reads, so a job names the dataset exactly as the CLI would (`dataset: <name>`, dataset_dir = the datasets folder).
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from pathlib import Path
from typing import IO, Any

from ...data.registry import read_dataset_info
from ...extras.constants import DATASET_INFO_NAME
from ...extras.errors import DataError
from ...extras.files import write_json

CHUNK = 2**20
INCOMING, FILES = ".incoming", "files"


class TooLarge(Exception):
    pass


def receive(source: IO[bytes], datasets_dir: Path, suffix: str, limit: int) -> tuple[Path, int, str]:
    """Copy `source` to a new file under datasets/.incoming/: (path, size, sha256). Raises TooLarge past `limit`."""
    folder = datasets_dir / INCOMING
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{uuid.uuid4().hex}{suffix}"
    digest, size = hashlib.sha256(), 0
    try:
        with open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise TooLarge
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target, size, digest.hexdigest()


def file_name_for(name: str, suffix: str) -> str:
    return f"{FILES}/{name}{suffix}"


def place(incoming: Path, datasets_dir: Path, file_name: str) -> Path:
    target = datasets_dir / file_name
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(incoming, target)
    return target


def register(datasets_dir: Path, name: str, entry: dict[str, Any], lock: threading.Lock) -> None:
    with lock:
        info = read_dataset_info(str(datasets_dir))
        if name in info:
            raise DataError(f"{datasets_dir / DATASET_INFO_NAME} already has an entry {name!r}. Choose another name.")
        info[name] = entry
        write_json(datasets_dir / DATASET_INFO_NAME, info)


def unregister(datasets_dir: Path, name: str, lock: threading.Lock) -> None:
    with lock:
        info = read_dataset_info(str(datasets_dir))
        if info.pop(name, None) is not None:
            write_json(datasets_dir / DATASET_INFO_NAME, info)


def registered_names(datasets_dir: Path) -> set[str]:
    return set(read_dataset_info(str(datasets_dir)))

"""Text encodings of dataset files: UTF-8 by default, another one when the registry entry names it.

Chinese hospital systems often export GBK or GB18030. Read as UTF-8 such a file fails deep inside `datasets`
with a UnicodeDecodeError that names neither the file nor the fix, so every local file is checked first: a
file that is not UTF-8 is refused with the encoding it most likely has and both ways to fix it. Only the
bytes' position is reported, never their content (the records may be patients').
"""

from pathlib import Path

from ..extras.errors import DataError

SAMPLE_BYTES = 1 << 20  # enough to meet the first non-ASCII text of any realistic export
CANDIDATES = ("gb18030", "big5", "utf-16")  # gb18030 is a superset of GBK and GB2312


def _first_error(data: bytes, encoding: str, complete: bool) -> int | None:
    """Offset of the first byte that does not decode, or None; a character cut at the end of a sample is fine."""
    import codecs

    try:
        codecs.getincrementaldecoder(encoding)().decode(data, final=complete)
        return None
    except UnicodeDecodeError as error:
        return error.start


def check_encoding(path: Path, dataset: str, encoding: str | None) -> None:
    """Raise DataError when `path` does not read in `encoding` (UTF-8 when None), naming the likely one and the fix."""
    import codecs

    wanted = encoding or "utf-8"
    try:
        codecs.lookup(wanted)
    except LookupError:
        raise DataError(f"Dataset {dataset!r}: encoding {encoding!r} is not known to Python. Use e.g. gb18030, gbk or utf-8.") from None
    with open(path, "rb") as handle:
        data = handle.read(SAMPLE_BYTES)
    complete = len(data) < SAMPLE_BYTES
    position = _first_error(data, wanted, complete)
    if position is None:
        return
    likely = next((name for name in CANDIDATES if name != wanted and _first_error(data, name, complete) is None), None)
    found = f"it reads as {likely.upper()}" if likely else "its encoding could not be told"
    entry = f'"encoding": "{likely or "..."}"'
    convert = f"iconv -f {likely.upper()} -t UTF-8 {path} > {path.with_suffix('.utf8' + path.suffix)}" if likely else "iconv"
    raise DataError(f"Dataset {dataset!r}: {path} is not {wanted.upper()} text (byte {position + 1}); {found}. Add {entry} to "
                    f"its dataset_info.json entry, or convert the file once: `{convert}`.")


def utf8_copy(path: Path, encoding: str, cache_root: Path) -> Path:
    """A UTF-8 copy of `path` under `cache_root`, made once per file version: `datasets` reads JSON as UTF-8
    whatever encoding it is given, so a GB18030 file is transcoded before it is loaded."""
    import hashlib

    from ..extras.files import write_text

    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{encoding}".encode()).hexdigest()[:16]
    target = cache_root / "utf8_copies" / f"{path.stem}-{key}{path.suffix}"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        write_text(target, path.read_text(encoding=encoding))
    return target

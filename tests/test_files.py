"""extras.files: atomic writes keep the old file on failure, torn JSON lines are cut or skipped, folders publish whole."""

import json
import os
from pathlib import Path

import pytest

from llmtuner.extras.errors import DataError
from llmtuner.extras.files import (
    append_jsonl,
    publish_dir,
    read_jsonl,
    staged_dir,
    staging_dir,
    write_json,
    write_jsonl,
    write_text,
)


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_write_json_replaces_and_keeps_the_old_file_when_serialising_fails(tmp_path):
    path = tmp_path / "record.json"
    write_json(path, {"方剂": "补中益气汤", "n": 1})
    assert path.read_text(encoding="utf-8") == '{\n  "方剂": "补中益气汤",\n  "n": 1\n}\n'  # readable, indented
    with pytest.raises(TypeError):
        write_json(path, {"n": 2, "bad": object()})
    assert json.loads(path.read_text(encoding="utf-8")) == {"方剂": "补中益气汤", "n": 1}
    assert hidden(tmp_path) == []  # no temporary file left behind


def test_write_jsonl_failing_midway_leaves_the_previous_file(tmp_path):
    path = tmp_path / "records.jsonl"
    write_jsonl(path, [{"id": 1}, {"id": 2}])
    before = path.read_bytes()

    def records():
        yield {"id": 3}
        raise RuntimeError("killed while writing")

    with pytest.raises(RuntimeError, match="killed"):
        write_jsonl(path, records())
    assert path.read_bytes() == before and hidden(tmp_path) == []
    write_text(tmp_path / "note.txt", "舌红苔黄\n")
    assert (tmp_path / "note.txt").read_text(encoding="utf-8") == "舌红苔黄\n"


def test_atomic_rewrite_keeps_a_private_file_private(tmp_path):
    path = tmp_path / "predictions.jsonl"
    write_jsonl(path, [{"id": 1}])
    path.chmod(0o600)
    write_jsonl(path, [{"id": 2}])
    assert path.stat().st_mode & 0o777 == 0o600 and read_jsonl(path) == [{"id": 2}]


@pytest.mark.parametrize("tail", ['{"id": 3, "ans', '{"id": 3, "answer": "\xe5', "\n{\"id\": 3\n\n"])
def test_append_cuts_a_torn_last_line_first(tmp_path, tail):
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"id": 1}\n{"id": 2}\n' + tail.encode("latin-1"))  # \xe5: half a UTF-8 character
    assert read_jsonl(path) == [{"id": 1}, {"id": 2}]  # the reader skips it
    append_jsonl(path, [{"id": 4, "answer": "黄芪"}])
    assert read_jsonl(path) == [{"id": 1}, {"id": 2}, {"id": 4, "answer": "黄芪"}]
    assert path.read_bytes().endswith(b"\n") and hidden(tmp_path) == []


def test_append_keeps_a_whole_last_record_that_only_lacks_its_newline(tmp_path):
    path = tmp_path / "log.jsonl"
    long = {"id": 1, "text": "长" * 10_000}  # longer than the first block read back from the end
    path.write_text(json.dumps(long, ensure_ascii=False), encoding="utf-8")
    append_jsonl(path, [{"id": 2}])
    assert read_jsonl(path) == [long, {"id": 2}]
    append_jsonl(tmp_path / "new.jsonl", [{"id": 1}])  # a missing file is created
    assert read_jsonl(tmp_path / "new.jsonl") == [{"id": 1}]


def test_append_of_a_bad_record_appends_nothing(tmp_path):
    path = tmp_path / "log.jsonl"
    append_jsonl(path, [{"id": 1}])
    with pytest.raises(TypeError):
        append_jsonl(path, [{"id": 2}, {"id": object()}])
    assert read_jsonl(path) == [{"id": 1}]


@pytest.mark.parametrize(("line", "problem"), [('{"patient": "张三, 咳嗽'.encode(), "not valid JSON"),
                                               ('["张三", "咳嗽"]'.encode(), "not an object"),
                                               (b"\xff" + "张三咳嗽".encode(), "not UTF-8")])
def test_a_malformed_line_inside_names_file_and_line_not_its_text(tmp_path, line, problem):
    path = tmp_path / "store.jsonl"
    path.write_bytes(b'{"id": 1}\n\n' + line + b'\n{"id": 4}\n')
    with pytest.raises(DataError) as caught:
        read_jsonl(path)
    message = str(caught.value)
    assert f"{path}:3:" in message and problem in message
    assert "张三" not in message and "咳嗽" not in message and caught.value.__cause__ is None


def test_publish_dir_into_a_missing_or_empty_target(tmp_path):
    target = tmp_path / "release"
    staging = staging_dir(target, "export")
    assert staging.parent == tmp_path and staging.name.startswith(".release.export-")
    (staging / "config.json").write_text("{}", encoding="utf-8")
    os.chmod(staging / "config.json", 0o600)  # as safetensors writes weights
    publish_dir(staging, target, overwrite=False)
    assert [p.name for p in target.iterdir()] == ["config.json"] and hidden(tmp_path) == []
    umask = os.umask(0)
    os.umask(umask)
    assert (target / "config.json").stat().st_mode & 0o777 == 0o666 & ~umask  # the umask's mode, not 0600

    empty = tmp_path / "made_by_user"
    empty.mkdir()
    staging = staging_dir(empty, "tmp")
    publish_dir(staging, empty, overwrite=False)  # an empty folder holds nothing to keep
    assert empty.is_dir() and hidden(tmp_path) == []


def test_publish_dir_refuses_a_full_target_or_a_file_without_touching_them(tmp_path):
    target = tmp_path / "release"
    target.mkdir()
    (target / "mine.txt").write_text("keep", encoding="utf-8")
    staging = staging_dir(target, "export")
    with pytest.raises(FileExistsError, match="not empty"):
        publish_dir(staging, target, overwrite=False)
    assert [p.name for p in target.iterdir()] == ["mine.txt"] and staging.is_dir()
    afile = tmp_path / "file"
    afile.write_text("a file", encoding="utf-8")
    with pytest.raises(FileExistsError, match="is a file"):
        publish_dir(staging, afile, overwrite=True)  # never replaced, even with overwrite
    assert afile.read_text(encoding="utf-8") == "a file"


def test_publish_dir_with_overwrite_replaces_and_restores_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "release"
    target.mkdir()
    (target / "old.txt").write_text("old", encoding="utf-8")
    staging = staging_dir(target, "export")
    (staging / "new.txt").write_text("new", encoding="utf-8")
    real_replace = os.replace

    def failing(src, dst):
        if Path(src) == staging:
            raise OSError("disk gone")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError, match="disk gone"):
        publish_dir(staging, target, overwrite=True)
    assert [p.name for p in target.iterdir()] == ["old.txt"]  # the previous version was put back
    monkeypatch.undo()
    publish_dir(staging, target, overwrite=True)
    assert [p.name for p in target.iterdir()] == ["new.txt"] and hidden(tmp_path) == []


def test_staged_dir_publishes_on_success_and_removes_the_staging_on_failure(tmp_path):
    target = tmp_path / "model"
    with pytest.raises(RuntimeError), staged_dir(target, "tmp", overwrite=False) as folder:
        (folder / "half.bin").write_bytes(b"x")
        raise RuntimeError("crash while writing")
    assert list(tmp_path.iterdir()) == []
    with staged_dir(target, "tmp", overwrite=False) as folder:
        (folder / "done.bin").write_bytes(b"x")
    assert [p.name for p in target.iterdir()] == ["done.bin"] and hidden(tmp_path) == []

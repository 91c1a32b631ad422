"""predictions.jsonl survives interrupted writes."""

import json

from llmtuner.eval.store import PredictionStore


def test_a_torn_first_line_is_dropped_so_later_appends_stay_readable(tmp_path):
    path = tmp_path / "predictions.jsonl"
    path.write_text('{"id": "q1", "predic', encoding="utf-8")  # killed while writing the very first record
    store = PredictionStore(path)
    assert store.load() == {}
    store.append([{"id": "q1", "prediction": "a"}, {"id": "q2", "prediction": "b"}])
    assert set(PredictionStore(path).load()) == {"q1", "q2"}


def test_overwrite_keeps_the_old_file_aside(tmp_path):
    path = tmp_path / "predictions.jsonl"
    path.write_text(json.dumps({"id": "q1", "prediction": "old"}) + "\n", encoding="utf-8")
    store = PredictionStore(path, overwrite=True)
    assert store.load() == {}
    kept = list(tmp_path.glob("predictions.*.jsonl.bak"))
    assert len(kept) == 1 and "old" in kept[0].read_text(encoding="utf-8")


def _weights(folder, seed=0, **extra_files):
    """A model folder: one safetensors file of small tensors, plus any other files given."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    save_file({"a.weight": torch.randn(64, 64, generator=generator), "b.weight": torch.randn(8, generator=generator)},
              str(folder / "model.safetensors"))
    for name, content in extra_files.items():
        (folder / name.replace("__", ".")).write_bytes(content)
    return folder


def test_the_weights_fingerprint_follows_the_content_not_the_path(tmp_path):
    import shutil

    from llmtuner.eval.store import weights_fingerprint

    first = weights_fingerprint(_weights(tmp_path / "a"))
    assert first and len(first) == 64
    shutil.copytree(tmp_path / "a", tmp_path / "elsewhere" / "b")
    assert weights_fingerprint(tmp_path / "elsewhere" / "b") == first  # copied or moved: the same weights
    # what does not decide an answer: the trainer's optimizer state, its arguments, a card
    _weights(tmp_path / "a", optimizer__pt=b"adam", training_args__bin=b"args", README__md=b"card")
    assert weights_fingerprint(tmp_path / "a") == first
    assert weights_fingerprint(_weights(tmp_path / "a", seed=1)) != first  # retrained in place: other weights
    assert weights_fingerprint(tmp_path / "no-such-folder") is None  # a hub id: compared by name
    (tmp_path / "empty").mkdir()
    assert weights_fingerprint(tmp_path / "empty") is None


def test_a_large_weights_file_is_sampled_not_read_whole(tmp_path, monkeypatch):
    """A 15 GB model must not be read whole on every resume: a few MiB per file, at its start, middle and end."""
    from pathlib import Path

    from llmtuner.eval import store

    shard = tmp_path / "model-00001-of-00002.safetensors"
    header = b'{"__metadata__":{"format":"pt"}}'
    size = 64 * store.SAMPLE
    with shard.open("wb") as handle:
        handle.write(len(header).to_bytes(8, "little") + header)
        handle.truncate(size)
    (tmp_path / "model.safetensors.index.json").write_text('{"weight_map": {}}', encoding="utf-8")
    read: list[int] = []
    real_open = Path.open

    class Counting:  # a test double for the opened file, counting the bytes the fingerprint reads
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def seek(self, offset, whence=0):
            return self.handle.seek(offset, whence)

        def read(self, size=-1):
            data = self.handle.read(size)
            read.append(len(data))
            return data

    monkeypatch.setattr(Path, "open", lambda self, *args, **kwargs: Counting(real_open(self, *args, **kwargs)))
    before = store.weights_fingerprint(tmp_path)
    assert 4 * store.SAMPLE < sum(read) <= 6 * store.SAMPLE  # five samples of 1 MiB and the header, of 64 MiB
    monkeypatch.undo()
    with shard.open("r+b") as handle:  # one byte in the middle of the file
        handle.seek(size // 2)
        handle.write(b"\x01")
    assert store.weights_fingerprint(tmp_path) != before


def _settings(**changes):
    settings = {"task": "qa", "model": "/models/a", "adapter": "/runs/lora", "dataset_dir": "/data", "eval_dataset": "qa",
                "template": "qwen", "model_weights": "m" * 64, "adapter_weights": "a" * 64,
                "item_keys": "sha256 of id, prompt and reference"}
    return {**settings, **changes}


def test_resume_compares_weights_by_content_and_paths_only_for_files_without_one(tmp_path):
    import pytest

    from llmtuner.eval.store import SETTINGS_ADDED_LATER
    from llmtuner.extras.errors import ConfigError

    store = PredictionStore(tmp_path / "predictions.jsonl")
    store.check_settings(_settings(), SETTINGS_ADDED_LATER)
    store.append([{"id": "q1", "prediction": "a"}])
    # the same weights and items under other paths: resumes
    store.check_settings(_settings(model="/mnt/new/a", adapter="/mnt/new/lora", dataset_dir="/mnt/data"), SETTINGS_ADDED_LATER)
    with pytest.raises(ConfigError) as refused:  # the adapter retrained into the same folder
        store.check_settings(_settings(model="/mnt/new/a", adapter="/mnt/new/lora", adapter_weights="b" * 64),
                             SETTINGS_ADDED_LATER)
    message = str(refused.value)
    assert "adapter_weights: the weights in /mnt/new/lora are not those the answers were made with" in message
    assert "overwrite_predictions: true" in message and "choose another output_dir" in message
    assert "model_weights" not in message and "model:" not in message
    with pytest.raises(ConfigError, match="eval_dataset: 'qa' -> 'other'"):  # names are still compared
        store.check_settings(_settings(eval_dataset="other"), SETTINGS_ADDED_LATER)
    with pytest.raises(ConfigError, match="model: '/mnt/new/a' -> 'Qwen/Qwen2.5-7B'"):  # a hub id has no fingerprint
        store.check_settings(_settings(model="Qwen/Qwen2.5-7B", model_weights=None), SETTINGS_ADDED_LATER)
    hub = PredictionStore(tmp_path / "hub" / "predictions.jsonl")  # then its name is what is compared
    hub.check_settings(_settings(model="Qwen/Qwen2.5-7B", model_weights=None), SETTINGS_ADDED_LATER)
    hub.append([{"id": "q1", "prediction": "a"}])
    hub.check_settings(_settings(model="Qwen/Qwen2.5-7B", model_weights=None), SETTINGS_ADDED_LATER)
    with pytest.raises(ConfigError, match="model: 'Qwen/Qwen2.5-7B' -> 'Qwen/Qwen2.5-14B'"):
        hub.check_settings(_settings(model="Qwen/Qwen2.5-14B", model_weights=None), SETTINGS_ADDED_LATER)


def test_settings_written_before_fingerprints_existed_still_resume_by_path(tmp_path):
    import pytest

    from llmtuner.eval.store import SETTINGS_ADDED_LATER
    from llmtuner.extras.errors import ConfigError

    path = tmp_path / "predictions.jsonl"
    path.write_text(json.dumps({"id": "q1", "prediction": "a"}) + "\n", encoding="utf-8")
    old = {key: value for key, value in _settings().items() if key not in ("model_weights", "adapter_weights", "item_keys")}
    meta = tmp_path / "predictions.settings.json"
    meta.write_text(json.dumps(old), encoding="utf-8")
    with pytest.raises(ConfigError, match="model: '/models/a' -> '/mnt/a'"):  # no fingerprint to tell a move from a change
        PredictionStore(path).check_settings(_settings(model="/mnt/a"), SETTINGS_ADDED_LATER)
    PredictionStore(path).check_settings(_settings(), SETTINGS_ADDED_LATER)  # same paths: resumes, and records the content
    assert json.loads(meta.read_text(encoding="utf-8"))["model_weights"] == "m" * 64
    PredictionStore(path).check_settings(_settings(model="/mnt/a"), SETTINGS_ADDED_LATER)  # from now on by content


def test_answers_for_items_changed_under_the_same_id_are_not_reused(tmp_path, warnings_logged):
    store = PredictionStore(tmp_path / "predictions.jsonl")
    store.append([{"id": "q1", "prediction": "a", "item_key": "k1"}, {"id": "q2", "prediction": "b", "item_key": "k2"},
                  {"id": "q3", "prediction": "c", "question": "old text"}, {"id": "q4", "prediction": "d", "item_key": "k4"}])
    done = store.load_unchanged({"q1": "k1", "q2": "k2-edited", "q3": "k3"}, legacy=lambda record, _: record["question"] == "new text")
    assert sorted(done) == ["q1", "q4"]  # q4: not selected now, left alone
    [warning] = warnings_logged
    assert "2 answer(s) were made for items that have changed since under the same id (q2, q3)" in warning
    assert "old text" not in warning

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

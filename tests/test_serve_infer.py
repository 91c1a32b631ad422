"""`llmtuner infer` on the real hf engine (the embedded model with a random LoRA adapter, on CPU): every input
format, resuming, refusing changed settings, keeping a .bak, and answers identical to `llmtuner eval`'s
predictions, batched or not. Bad input is refused before any model loads."""

import json

import pytest
from conftest import ROOT, random_lora_adapter

from llmtuner.extras.errors import ConfigError, DataError
from llmtuner.hparams import parse_eval_args
from llmtuner.hparams.serve_parser import parse_serve_args
from llmtuner.serve import infer as infer_module
from llmtuner.serve.infer import run_infer
from llmtuner.serve.infer_inputs import read_input_file

DATA = str(ROOT / "data")
QUESTIONS = ["头痛发热三天怎么办？", "孕妇能用红花吗？", "失眠多梦如何调理？", "高血压患者可以服用人参吗？",
             "糖尿病的中医辨证分型有哪些？", "慢性胃炎饮食注意什么？", "小儿咳嗽夜间加重怎么办？", "腰膝酸软是肾虚吗？",
             "经常口腔溃疡是上火吗？", "颈椎病可以针灸吗？"]


@pytest.fixture(scope="module")
def lora_adapter(tmp_path_factory, tiny_model_dir):
    """A LoRA adapter with non-zero weights, so the answers are not the base model's repetitions."""
    return random_lora_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapter") / "lora", seed=1, rank=12, alpha=64,
                               targets=("q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"))


def infer_config(adapter, **settings):
    values = {"model_name_or_path": "embedded", "adapter_name_or_path": adapter, "template": "shuzhiqihuang",
              "max_new_tokens": 8, **settings}
    argv = [token for key, value in values.items() for token in (f"--{key}", str(value))]
    return parse_serve_args("infer", argv)


def read_records(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if infer loads a model."""
    def refuse(config):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(infer_module, "load_serving_engine", refuse)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


MIXED = [
    {"instruction": "头痛三天", "input": "伴发热", "system": "你是中医师", "history": [["你好", "您好"]]},
    {"id": "dialogue-1", "conversations": [{"from": "system", "value": "你是医生"}, {"from": "human", "value": "失眠"},
                                            {"from": "gpt", "value": "可以试试酸枣仁汤"}, {"from": "human", "value": "孕妇呢"},
                                            {"from": "gpt", "value": "参考答案"}]},
    {"messages": [{"role": "user", "content": [{"type": "text", "text": "胃痛"}, {"type": "text", "text": "怎么办"}]}]},
    {"id": 7, "prompt": "咳嗽", "system": ""},
]


def test_every_input_format_is_read_as_the_conversation_up_to_the_last_user_turn(tmp_path):
    items = read_input_file(write_jsonl(tmp_path / "mixed.jsonl", MIXED))
    assert [item.id for item in items] == ["line-1", "dialogue-1", "line-3", "7"]
    alpaca, sharegpt, openai, plain = items
    assert alpaca.turns == [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "您好"},
                            {"role": "user", "content": "头痛三天\n伴发热"}] and alpaca.system == "你是中医师"
    assert [turn["content"] for turn in sharegpt.turns] == ["失眠", "可以试试酸枣仁汤", "孕妇呢"]  # the reference is dropped
    assert sharegpt.system == "你是医生" and sharegpt.prompt == "孕妇呢"
    assert openai.turns == [{"role": "user", "content": "胃痛怎么办"}] and openai.system is None
    assert plain.prompt == "咳嗽" and plain.system == ""  # "" = no system turn at all
    (tmp_path / "list.json").write_text(json.dumps(MIXED, ensure_ascii=False), encoding="utf-8")
    assert [item.id for item in read_input_file(tmp_path / "list.json")] == ["sample-0", "dialogue-1", "sample-2", "7"]
    (tmp_path / "prompts.txt").write_text("头痛\n\n  失眠  \n", encoding="utf-8")
    assert [(item.id, item.prompt) for item in read_input_file(tmp_path / "prompts.txt")] == [("line-1", "头痛"), ("line-3", "失眠")]


@pytest.mark.parametrize(("line", "named"), [
    ('{"instruction": "患者张三头痛", "output": "x"', "line 3: not valid JSON"),
    ('{"question": "患者张三头痛"}', "line 3: the record has no prompt"),
    ('{"messages": [{"role": "doctor", "content": "患者张三头痛"}]}', "line 3: field 'messages[0].role'"),
    ('{"messages": [{"role": "user", "content": 3}]}', "line 3: field 'messages[0].content'"),
    ('{"conversations": [{"from": "human", "value": "患者张三头痛"}, {"from": "human", "value": "又问"}]}',
     "line 3: field 'conversations[1].from' is 'user' where 'assistant' was expected"),
    ('{"instruction": "  "}', "line 3: field 'instruction' is empty"),
    ('{"id": "a", "prompt": "患者张三头痛"}', "line 3: id 'a' is also the id of line 1"),
])
def test_a_bad_line_is_named_before_any_model_loads(tmp_path, no_model, lora_adapter, line, named):
    source = tmp_path / "prompts.jsonl"
    source.write_text('{"id": "a", "prompt": "头痛"}\n\n' + line + "\n", encoding="utf-8")
    config = infer_config(lora_adapter, input_file=source, output_file=tmp_path / "out.jsonl")
    with pytest.raises(DataError) as raised:
        run_infer(config)
    assert named in str(raised.value) and str(source) in str(raised.value)
    assert "张三" not in str(raised.value)  # records may hold patients' data: never echoed
    assert not (tmp_path / "out.jsonl").exists()


def test_answers_every_format_then_resumes_with_only_the_new_prompts(tmp_path, lora_adapter):
    source = write_jsonl(tmp_path / "mixed.jsonl", MIXED)
    output = tmp_path / "mixed_answers.jsonl"
    counts = run_infer(infer_config(lora_adapter, input_file=source, output_file=output, max_concurrency=4))
    records = read_records(output)
    assert counts["generated"] == 4 and [record["id"] for record in records] == ["line-1", "dialogue-1", "line-3", "7"]
    assert [record["prompt"] for record in records] == ["头痛三天\n伴发热", "孕妇呢", "胃痛怎么办", "咳嗽"]
    for record in records:
        assert set(record) == {"id", "prompt", "answer", "finish_reason", "prompt_tokens", "completion_tokens",
                               "latency_s", "input_sha256", "x_safety"}
        assert record["finish_reason"] in ("stop", "length") and 0 < record["completion_tokens"] <= 8

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(QUESTIONS[:6]) + "\n", encoding="utf-8")
    output = tmp_path / "answers.jsonl"
    config = infer_config(lora_adapter, input_file=prompts, output_file=output, max_concurrency=2)
    assert run_infer(config)["generated"] == 6
    first = read_records(output)
    prompts.write_text("\n".join(QUESTIONS) + "\n", encoding="utf-8")
    counts = run_infer(config)
    assert (counts["kept"], counts["generated"]) == (6, 4)
    second = read_records(output)
    assert second[:6] == first  # untouched: same answers, same latencies
    assert [record["id"] for record in second] == [f"line-{n}" for n in range(1, 11)]
    assert [record["prompt"] for record in second] == QUESTIONS


def test_changed_settings_are_refused_and_overwrite_keeps_a_backup(tmp_path, lora_adapter, monkeypatch):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(QUESTIONS[:3]) + "\n", encoding="utf-8")
    output = tmp_path / "answers.jsonl"
    run_infer(infer_config(lora_adapter, input_file=prompts, output_file=output))
    before = output.read_text(encoding="utf-8")

    real_loader = infer_module.load_serving_engine
    monkeypatch.setattr(infer_module, "load_serving_engine", lambda config: pytest.fail("the model was loaded"))
    for change, key in (({"max_new_tokens": 9}, "generating.max_new_tokens: 8 -> 9"),
                        ({"default_system": "你是医生"}, "default_system: None -> '你是医生'"),
                        ({"do_sample": "true"}, "generating.do_sample: False -> True")):
        with pytest.raises(ConfigError) as raised:
            run_infer(infer_config(lora_adapter, input_file=prompts, output_file=output, **change))
        assert key in str(raised.value) and "overwrite_output: true" in str(raised.value)
    prompts.write_text(f"{QUESTIONS[0]}\n换了的问题\n", encoding="utf-8")  # line-2 now holds another prompt
    with pytest.raises(ConfigError, match="whose prompt has changed since \\('line-2'\\)"):
        run_infer(infer_config(lora_adapter, input_file=prompts, output_file=output))
    assert output.read_text(encoding="utf-8") == before

    monkeypatch.setattr(infer_module, "load_serving_engine", real_loader)
    counts = run_infer(infer_config(lora_adapter, input_file=prompts, output_file=output, max_new_tokens=9,
                                    overwrite_output="true"))
    assert counts["generated"] == 2
    [backup] = tmp_path.glob("answers.*.jsonl.bak")
    assert backup.read_text(encoding="utf-8") == before
    assert len(list(tmp_path.glob("answers.*.settings.json.bak"))) == 1
    assert [record["prompt"] for record in read_records(output)] == [QUESTIONS[0], "换了的问题"]


def test_answers_equal_the_evaluators_predictions_alone_or_batched(tmp_path, lora_adapter, warnings_logged, monkeypatch):
    from llmtuner.eval.evaluator import run_evaluation
    from llmtuner.serve import hf_engine

    batch_sizes = []  # rows per generate(): max_concurrency 4 must really batch

    def recording(model, tokenizer, jobs, *args, **kwargs):
        batch_sizes.append(len(jobs))
        return real_generate_batch(model, tokenizer, jobs, *args, **kwargs)

    real_generate_batch = hf_engine.generate_batch
    monkeypatch.setattr(hf_engine, "generate_batch", recording)

    common = {"eval_dataset": "clinical_qa_sample", "dataset_dir": DATA, "max_samples": 6, "max_new_tokens": 12}
    for cutoff_len in (2048, 48):  # 48: every prompt is cut from the left, as the evaluator cuts it
        settings = {**common, "cutoff_len": cutoff_len}
        eval_dir = tmp_path / f"eval-{cutoff_len}"
        argv = ["--model_name_or_path", "embedded", "--adapter_name_or_path", str(lora_adapter), "--template",
                "shuzhiqihuang", "--task", "qa", "--output_dir", str(eval_dir), "--batch_size", "4"]
        run_evaluation(parse_eval_args(argv + [token for key, value in settings.items() for token in (f"--{key}", str(value))]))
        predictions = {record["id"]: record["prediction"] for record in read_records(eval_dir / "predictions.jsonl")}
        assert len(predictions) == 6 and len(set(predictions.values())) > 1
        for concurrency in (1, 4) if cutoff_len == 2048 else (4,):
            output = tmp_path / f"answers-{cutoff_len}-{concurrency}.jsonl"
            batch_sizes.clear()
            counts = run_infer(infer_config(lora_adapter, output_file=output, max_concurrency=concurrency, **settings))
            assert max(batch_sizes) == concurrency, batch_sizes
            answers = {record["id"]: record["answer"] for record in read_records(output)}
            assert answers == predictions, (cutoff_len, concurrency)
            assert counts["truncated"] == (6 if cutoff_len == 48 else 0)
    assert any("6 of 6 prompts are longer than cutoff_len 48" in line for line in warnings_logged)


def test_refused_adapters_and_a_dataset_without_answers(tmp_path, lora_adapter, no_model):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("头痛\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="--adapter_name_or_path"):
        run_infer(infer_config(lora_adapter, input_file=prompts, output_file=tmp_path / "o.jsonl",
                               adapters=f"tcm={lora_adapter}"))
    (tmp_path / "questions.json").write_text(json.dumps([{"instruction": "头痛"}]), encoding="utf-8")
    (tmp_path / "dataset_info.json").write_text(json.dumps({"questions": {"file_name": "questions.json"}}), encoding="utf-8")
    with pytest.raises(DataError, match="use input_file"):
        run_infer(infer_config(lora_adapter, eval_dataset="questions", dataset_dir=tmp_path, output_file=tmp_path / "o.jsonl"))


def test_sampled_answers_follow_the_seed_whatever_is_in_flight(tmp_path, lora_adapter):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(QUESTIONS[:4]) + "\n", encoding="utf-8")

    def answers(name, **settings):
        output = tmp_path / f"{name}.jsonl"
        run_infer(infer_config(lora_adapter, input_file=prompts, output_file=output, do_sample="true", temperature=1.5,
                               **settings))
        return [record["answer"] for record in read_records(output)]

    first = answers("a", seed=1, max_concurrency=4)
    assert answers("b", seed=1, max_concurrency=1) == first
    assert answers("c", seed=2, max_concurrency=4) != first


def test_refuse_replaces_a_flagged_answer_and_keeps_its_flags():
    from llmtuner.serve.infer import _record
    from llmtuner.serve.infer_inputs import InferItem
    from llmtuner.serve.requests import Completion

    config = parse_serve_args("infer", ["--model_name_or_path", "embedded", "--template", "shuzhiqihuang",
                                        "--input_file", __file__, "--output_file", "o.jsonl", "--safety", "refuse"])
    item = InferItem("q1", [{"role": "user", "content": "便秘怎么办"}])
    counts = {"generated": 0, "failed": 0}
    record = _record(config, item, Completion("可用甘草配甘遂同煎", "stop", 10, 8), counts)
    assert record["answer"].startswith("【安全提示】") and "甘草配甘遂" not in record["answer"]
    assert record["x_safety"][0]["rule"] == "甘草反甘遂"
    config.serving.safety = "off"
    assert "x_safety" not in _record(config, item, Completion("可用甘草配甘遂同煎", "stop", 10, 8), counts)
    assert _record(config, item, Completion("", "error", 10, 0, error="RuntimeError during generation"), counts) is None
    assert counts == {"generated": 2, "failed": 1}


def test_an_adapter_retrained_into_the_same_folder_does_not_resume_onto_old_answers(tmp_path, lora_adapter, monkeypatch):
    import shutil

    adapter = tmp_path / "adapter"
    shutil.copytree(lora_adapter, adapter)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(QUESTIONS[:2]) + "\n", encoding="utf-8")
    output = tmp_path / "answers.jsonl"
    run_infer(infer_config(adapter, input_file=prompts, output_file=output))
    weights = adapter / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-8:] = bytes(8)  # "retrained": other weights, same folder, same size
    weights.write_bytes(bytes(data))
    monkeypatch.setattr(infer_module, "load_serving_engine", lambda config: pytest.fail("the model was loaded"))
    with pytest.raises(ConfigError, match="adapter_weights: .* -> .*overwrite_output: true"):
        run_infer(infer_config(adapter, input_file=prompts, output_file=output))

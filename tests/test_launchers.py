"""finetune/run_{pt,sft,dpo,grpo}_shuzhiqihuang.sh: which launch command they choose, and real CPU runs.

The DRY_RUN tests put a fake `nvidia-smi` first on PATH so that 0, 1, 2 or 8 GPUs can be pretended
on any machine; the command the script prints (its last line) is split and checked, and its training
flags must pass `parse_train_args`, so the launchers cannot drift from the argument parser.
"""

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest
from run_helpers import ROOT, child_env, write_qa_dataset

from llmtuner.hparams import parse_train_args

SFT, PT = ROOT / "finetune" / "run_sft_shuzhiqihuang.sh", ROOT / "finetune" / "run_pt_shuzhiqihuang.sh"
DPO = ROOT / "finetune" / "run_dpo_shuzhiqihuang.sh"
GRPO = ROOT / "finetune" / "run_grpo_shuzhiqihuang.sh"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if os.access(VENV_PYTHON, os.X_OK) else "python3"
TRAIN = str(ROOT / "src" / "train_bash.py")
SETTINGS = (  # noqa: SIM905 - a block of names reads better than a list; every variable the scripts read: cleared so the caller's environment cannot leak in
    "PYTHON MODEL_NAME_OR_PATH DATASET DATASET_DIR TEMPLATE FINETUNING_TYPE OUTPUT_DIR CUTOFF_LEN BATCH_SIZE "
    "GRAD_ACCUM LR EPOCHS MAX_STEPS LORA_RANK LORA_TARGET SAVE_STEPS LOGGING_STEPS VAL_SIZE PACKING REPORT_TO "
    "NUM_GPUS DS_CONFIG MASTER_PORT HOSTFILE NNODES NODE_RANK MASTER_ADDR LAUNCHER DRY_RUN BF16 "
    "GRADIENT_CHECKPOINTING OVERWRITE_OUTPUT_DIR NPROC_PER_NODE CUDA_VISIBLE_DEVICES STAGE PREF_BETA PREF_LOSS ADAPTER "
    "REWARD_FUNCS REWARD_WEIGHTS NUM_GENERATIONS MAX_COMPLETION_LENGTH GRPO_BETA USE_VLLM VLLM_MODE"
).split()


def script_env(tmp_path: Path, gpus: int | None, **settings: str) -> dict[str, str]:
    """The environment with a fake nvidia-smi listing `gpus` GPUs (None: nvidia-smi fails, as without a driver)."""
    fake_bin = tmp_path / "fake_bin"
    fake_bin.mkdir(exist_ok=True)
    smi = fake_bin / "nvidia-smi"
    if gpus is None:
        smi.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'\nexit 9\n")
    else:
        lines = "".join(f"echo 'GPU {i}: NVIDIA H100 80GB HBM3 (UUID: GPU-{i:08d})'\n" for i in range(gpus))
        smi.write_text("#!/bin/sh\n" + lines)
    smi.chmod(0o755)
    env = child_env()
    for name in SETTINGS:
        env.pop(name, None)
    env["PATH"] = f"{fake_bin}{os.pathsep}{env['PATH']}"
    env.update(settings)
    return env


def run_script(script: Path, tmp_path: Path, gpus: int | None = 0, args: tuple[str, ...] = (), cwd: Path | None = None,
               **settings: str) -> subprocess.CompletedProcess:
    env = script_env(tmp_path, gpus, DRY_RUN="1", **settings)
    return subprocess.run(["bash", str(script), *args], cwd=cwd or tmp_path, env=env, capture_output=True, text=True, timeout=60)


def dry_run(script: Path, tmp_path: Path, gpus: int | None = 0, args: tuple[str, ...] = (), **settings: str) -> list[str]:
    """The command the script would run, as a list of words."""
    result = run_script(script, tmp_path, gpus, args, **settings)
    assert result.returncode == 0, result.stderr
    return shlex.split(result.stdout.strip().splitlines()[-1])


def training_flags(command: list[str]) -> list[str]:
    return command[command.index(TRAIN) + 1 :]


def flag(command: list[str], key: str) -> str | None:
    """The value of the last `--key value` (the one training sees), or None."""
    values = [command[i + 1] for i, word in enumerate(command[:-1]) if word == f"--{key}"]
    return values[-1] if values else None


def test_scripts_are_executable():
    for script in (SFT, PT, DPO, GRPO, ROOT / "finetune" / "common.sh"):
        assert script.is_file()
    assert os.access(SFT, os.X_OK) and os.access(PT, os.X_OK) and os.access(DPO, os.X_OK) and os.access(GRPO, os.X_OK)


@pytest.mark.parametrize("gpus", [0, None], ids=["no-gpu", "nvidia-smi-fails"])
def test_no_gpu_runs_the_cpu_demo_in_one_process(tmp_path, gpus):
    command = dry_run(SFT, tmp_path, gpus)
    assert command[:2] == [PYTHON, TRAIN]
    assert flag(command, "model_name_or_path") == "embedded"
    assert flag(command, "dataset") == "medical_sft_sample,medical_dialogue_sample"
    assert flag(command, "dataset_dir") == str(ROOT / "data")
    assert flag(command, "template") == "shuzhiqihuang"
    assert flag(command, "output_dir") == str(ROOT / "saves" / "embedded" / "lora" / "sft")
    assert flag(command, "gradient_checkpointing") == "false" and flag(command, "cutoff_len") == "512"
    assert flag(command, "deepspeed") is None and flag(command, "bf16") is None and flag(command, "fp16") is None
    args = parse_train_args(training_flags(command))
    assert args.finetuning.stage == "sft" and args.data.packing is True


def test_pt_defaults_on_cpu(tmp_path):
    command = dry_run(PT, tmp_path)
    assert flag(command, "stage") == "pt" and flag(command, "dataset") == "medical_pt_sample"
    assert flag(command, "template") is None and flag(command, "packing") is None
    assert flag(command, "output_dir") == str(ROOT / "saves" / "embedded" / "lora" / "pt")
    assert parse_train_args(training_flags(command)).finetuning.stage == "pt"


def test_dpo_defaults_on_cpu_and_gpu(tmp_path):
    command = dry_run(DPO, tmp_path)
    assert command[:2] == [PYTHON, TRAIN]
    assert flag(command, "stage") == "dpo" and flag(command, "dataset") == "medical_preference_sample"
    assert flag(command, "template") == "shuzhiqihuang" and flag(command, "learning_rate") == "5.0e-3"
    assert flag(command, "pref_beta") == "0.1" and flag(command, "pref_loss") == "sigmoid"
    assert flag(command, "packing") is None and flag(command, "output_dir") == str(ROOT / "saves" / "embedded" / "lora" / "dpo")
    args = parse_train_args(training_flags(command))
    assert args.finetuning.stage == "dpo" and args.finetuning.pref_loss == "sigmoid"

    gpu = dry_run(DPO, tmp_path, 1, MODEL_NAME_OR_PATH="/models/Qwen2.5-7B-Instruct", ADAPTER="saves/sft-adapter")
    assert flag(gpu, "learning_rate") == "5.0e-6" and flag(gpu, "num_train_epochs") == "3" and flag(gpu, "template") == "qwen"
    assert flag(gpu, "deepspeed") == str(ROOT / "deepspeed_config.json") and flag(gpu, "bf16") == "true"
    assert flag(gpu, "adapter_name_or_path") == "saves/sft-adapter" and flag(gpu, "create_new_adapter") == "true"
    mine = dry_run(DPO, tmp_path, 1, MODEL_NAME_OR_PATH="/models/Qwen3-8B", LR="1e-6", STAGE="kto", DATASET="my_pairs")
    assert flag(mine, "learning_rate") == "1e-6" and flag(mine, "stage") == "kto" and flag(mine, "dataset") == "my_pairs"
    assert flag(mine, "pref_loss") is None and flag(mine, "template") == "qwen3"
    assert parse_train_args(training_flags(mine)).finetuning.stage == "kto"
    result = run_script(DPO, tmp_path, STAGE="ppo")
    assert result.returncode == 2 and "STAGE must be dpo, kto, orpo, simpo or rm" in result.stderr


def test_grpo_defaults_on_cpu_and_gpu(tmp_path):
    command = dry_run(GRPO, tmp_path)
    assert command[:2] == [PYTHON, TRAIN]
    assert flag(command, "stage") == "grpo" and flag(command, "dataset") == "medical_grpo_sample"
    assert flag(command, "template") == "shuzhiqihuang" and flag(command, "learning_rate") == "5.0e-3"
    assert flag(command, "reward_funcs") == "mcq_correct,format" and flag(command, "reward_weights") == "1.0,0.5"
    assert flag(command, "grpo_num_generations") == "4" and flag(command, "grpo_use_vllm") is None
    assert flag(command, "output_dir") == str(ROOT / "saves" / "embedded" / "lora" / "grpo")
    args = parse_train_args(training_flags(command))
    assert args.finetuning.stage == "grpo" and args.finetuning.reward_weights == [1.0, 0.5]

    gpu = dry_run(GRPO, tmp_path, 1, MODEL_NAME_OR_PATH="/models/Qwen2.5-7B-Instruct", REWARD_FUNCS="mcq_correct,tcm_safety")
    assert flag(gpu, "learning_rate") == "1.0e-5" and flag(gpu, "per_device_train_batch_size") == "8"
    assert flag(gpu, "grpo_num_generations") == "8" and flag(gpu, "template") == "qwen" and flag(gpu, "val_size") is None
    assert flag(gpu, "reward_funcs") == "mcq_correct,tcm_safety" and flag(gpu, "bf16") == "true"
    vllm = dry_run(GRPO, tmp_path, 1, MODEL_NAME_OR_PATH="/models/Qwen3-8B", USE_VLLM="true", VLLM_MODE="server")
    assert flag(vllm, "grpo_use_vllm") == "true" and flag(vllm, "grpo_vllm_mode") == "server"


def test_one_gpu_is_one_process_with_deepspeed_and_bf16(tmp_path):
    command = dry_run(SFT, tmp_path, 1, MODEL_NAME_OR_PATH="/models/Qwen2.5-7B-Instruct/")
    python_at = command.index(PYTHON)
    assert command[python_at + 1] == TRAIN and "LOCAL_RANK=0" in command[:python_at]  # a world of one for DeepSpeed
    assert not any(word.endswith("deepspeed") for word in command[:python_at])
    assert flag(command, "deepspeed") == str(ROOT / "deepspeed_config.json")
    assert flag(command, "bf16") == "true" and flag(command, "gradient_checkpointing") == "true"
    assert flag(command, "learning_rate") == "1.0e-4" and flag(command, "cutoff_len") == "2048"
    assert flag(command, "template") == "qwen"  # guessed from the model folder
    assert flag(command, "output_dir") == str(ROOT / "saves" / "Qwen2.5-7B-Instruct" / "lora" / "sft")
    args = parse_train_args(training_flags(command))
    assert args.training["bf16"] is True and args.data.val_size == pytest.approx(0.02)

    fp16 = dry_run(SFT, tmp_path, 1, MODEL_NAME_OR_PATH="/models/Qwen3-8B", BF16="0", FINETUNING_TYPE="full", DS_CONFIG="none")
    assert fp16[:2] == [PYTHON, TRAIN]  # no DeepSpeed: no process-group environment either
    assert flag(fp16, "fp16") == "true" and flag(fp16, "bf16") is None and flag(fp16, "deepspeed") is None
    assert flag(fp16, "learning_rate") == "1.0e-5" and flag(fp16, "lora_rank") is None
    assert flag(fp16, "template") == "qwen3"


@pytest.mark.parametrize("model,template", [
    ("/models/Meta-Llama-3-8B-Instruct", "llama3"), ("/models/llama3-8b-chinese-chat/", "llama3"),
    ("/models/Meta-Llama-3.1-8B-Instruct", "llama3.1"), ("/models/Llama-3.2-3B-Instruct", "llama3.1"),
    ("/models/Llama-3.3-70B-Instruct", "llama3.1"), ("/models/llama3_1-8b", "llama3.1"),
    ("/models/Qwen2-7B-Instruct", "qwen2"), ("/models/qwen2", "qwen2"), ("/models/Qwen2.5-7B-Instruct", "qwen"),
    ("/models/Qwen2_5-0.5B", "qwen"), ("/models/Qwen3-8B", "qwen3"), ("/models/chatglm3-6b", "chatglm3"),
    ("/models/mistral-7b", ""),
])
def test_template_guess_from_the_model_name(model, template):
    """Llama 3.1/3.2/3.3 write a date header that 3.0 does not; Qwen2's default system prompt is not Qwen2.5's."""
    result = subprocess.run(["bash", "-c", f'source "{ROOT}/finetune/common.sh"; guess_template "$1"', "guess", model],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == template


def test_several_gpus_use_the_deepspeed_launcher(tmp_path):
    command = dry_run(SFT, tmp_path, 2, MODEL_NAME_OR_PATH="/models/m", TEMPLATE="qwen")
    assert command[0].endswith("deepspeed") or command[1:3] == ["-m", "deepspeed.launcher.runner"]
    launcher = command[: command.index(TRAIN)]
    assert launcher[-4:] == ["--num_gpus", "2", "--master_port", "29500"]
    assert flag(command, "deepspeed") == str(ROOT / "deepspeed_config.json")

    port = dry_run(PT, tmp_path, 8, MODEL_NAME_OR_PATH="/models/m", MASTER_PORT="29611", DS_CONFIG="configs/ds_z3.json")
    assert flag(port, "num_gpus") == "8" and flag(port, "master_port") == "29611"
    assert flag(port, "deepspeed") == str(ROOT / "configs" / "ds_z3.json")  # relative to the repository


def test_cuda_visible_devices_decide_the_gpus(tmp_path):
    command = dry_run(SFT, tmp_path, 8, MODEL_NAME_OR_PATH="/models/m", TEMPLATE="qwen", CUDA_VISIBLE_DEVICES="2,3")
    assert "--num_gpus" not in command  # deepspeed turns CUDA_VISIBLE_DEVICES into --include itself
    assert command[0].endswith("deepspeed") or "deepspeed.launcher.runner" in command
    one = dry_run(SFT, tmp_path, 8, MODEL_NAME_OR_PATH="/models/m", TEMPLATE="qwen", CUDA_VISIBLE_DEVICES="5")
    assert PYTHON in one and "--num_gpus" not in one
    none = dry_run(SFT, tmp_path, 8, CUDA_VISIBLE_DEVICES="")
    assert none[:2] == [PYTHON, TRAIN] and flag(none, "model_name_or_path") == "embedded"


def test_hostfile_launches_several_nodes(tmp_path):
    command = dry_run(SFT, tmp_path, 8, MODEL_NAME_OR_PATH="/models/m", TEMPLATE="qwen", HOSTFILE="configs/hostfile.example")
    launcher = command[: command.index(TRAIN)]
    assert launcher[1:] == ["--hostfile", str(ROOT / "configs" / "hostfile.example"), "--master_port", "29500"]
    assert flag(command, "deepspeed") == str(ROOT / "deepspeed_config.json")
    missing = run_script(SFT, tmp_path, 8, MODEL_NAME_OR_PATH="/models/m", TEMPLATE="qwen", HOSTFILE="no/such/hostfile")
    assert missing.returncode != 0 and "HOSTFILE" in missing.stderr


def test_torchrun_launcher(tmp_path):
    command = dry_run(SFT, tmp_path, 2, MODEL_NAME_OR_PATH="/models/m", TEMPLATE="qwen", LAUNCHER="torchrun")
    assert command[: command.index(TRAIN)] == [
        PYTHON, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29500"]
    nodes = dry_run(SFT, tmp_path, 8, MODEL_NAME_OR_PATH="/models/m", TEMPLATE="qwen",
                    NNODES="2", NODE_RANK="1", MASTER_ADDR="10.0.0.1")  # auto picks torchrun for NNODES > 1
    assert nodes[: nodes.index(TRAIN)] == [
        PYTHON, "-m", "torch.distributed.run", "--nproc_per_node", "8",
        "--nnodes", "2", "--node_rank", "1", "--master_addr", "10.0.0.1", "--master_port", "29500"]
    no_addr = run_script(SFT, tmp_path, 8, MODEL_NAME_OR_PATH="/models/m", TEMPLATE="qwen", NNODES="2", NODE_RANK="1")
    assert no_addr.returncode == 2 and "MASTER_ADDR" in no_addr.stderr


def test_environment_overrides_and_extra_args_come_last(tmp_path):
    settings = dict(
        MODEL_NAME_OR_PATH="/models/m", TEMPLATE="llama3", DATASET="a,b", DATASET_DIR="/data/x", OUTPUT_DIR="/out",
        CUTOFF_LEN="1024", BATCH_SIZE="3", GRAD_ACCUM="5", LR="3e-4", EPOCHS="2", MAX_STEPS="7", LORA_RANK="64",
        LORA_TARGET="q_proj,v_proj", SAVE_STEPS="50", LOGGING_STEPS="2", VAL_SIZE="0", PACKING="false",
        REPORT_TO="tensorboard", NUM_GPUS="1", DS_CONFIG="none", PYTHON="/opt/py/bin/python",
    )
    extra = ("--learning_rate", "5e-5", "--default_system", "你是医生 it's")
    command = dry_run(SFT, tmp_path, 0, args=extra, **settings)
    assert command[:2] == ["/opt/py/bin/python", TRAIN] and command[-4:] == list(extra)
    expected = {
        "model_name_or_path": "/models/m", "template": "llama3", "dataset": "a,b", "dataset_dir": "/data/x",
        "output_dir": "/out", "cutoff_len": "1024", "per_device_train_batch_size": "3", "gradient_accumulation_steps": "5",
        "num_train_epochs": "2", "max_steps": "7", "lora_rank": "64", "lora_target": "q_proj,v_proj", "save_steps": "50",
        "logging_steps": "2", "packing": "false", "report_to": "tensorboard", "learning_rate": "5e-5",
    }
    assert {key: flag(command, key) for key in expected} == expected
    assert flag(command, "val_size") is None and flag(command, "eval_strategy") is None
    args = parse_train_args(training_flags(command))  # a repeated key: the last one wins
    assert args.training["learning_rate"] == pytest.approx(5e-5) and args.data.default_system == "你是医生 it's"
    assert args.finetuning.lora_rank == 64 and args.training["max_steps"] == 7


def test_qlora_quantizes_to_4_bit(tmp_path):
    command = dry_run(SFT, tmp_path, 1, MODEL_NAME_OR_PATH="/models/Qwen2.5-7B-Instruct", FINETUNING_TYPE="qlora")
    assert flag(command, "finetuning_type") == "qlora" and flag(command, "quantization_bit") == "4"
    assert flag(command, "output_dir").endswith("/qlora/sft")
    args = parse_train_args(training_flags(command))
    assert args.model.quantization_bit == 4 and args.finetuning.finetuning_type == "lora"


def test_gpu_without_a_model_says_how_to_set_it(tmp_path):
    for script in (SFT, PT):
        result = run_script(script, tmp_path, 2)
        assert result.returncode == 2 and result.stdout == ""
        assert "MODEL_NAME_OR_PATH is not set" in result.stderr and "MODEL_NAME_OR_PATH=/models/" in result.stderr
    unknown = run_script(SFT, tmp_path, 1, MODEL_NAME_OR_PATH="/models/mystery-7b")
    assert unknown.returncode == 2 and "TEMPLATE" in unknown.stderr
    bad = run_script(SFT, tmp_path, 0, FINETUNING_TYPE="lorra")
    assert bad.returncode == 2 and "lora, qlora, freeze or full" in bad.stderr


def test_works_from_another_directory_and_through_a_relative_path(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    relative = os.path.relpath(SFT, elsewhere)
    result = run_script(Path(relative), tmp_path, 0, cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    command = shlex.split(result.stdout.strip().splitlines()[-1])
    assert command[:2] == [PYTHON, TRAIN] and flag(command, "dataset_dir") == str(ROOT / "data")
    assert "MODEL_NAME_OR_PATH" in result.stdout and "(default)" in result.stdout  # the settings are printed first


def _real_run(script: Path, tmp_path: Path, dataset: str, dataset_dir: Path) -> Path:
    out = tmp_path / "out"
    env = script_env(tmp_path, 0, MAX_STEPS="2", OUTPUT_DIR=str(out), DATASET=dataset, DATASET_DIR=str(dataset_dir),
                     CUTOFF_LEN="128")
    result = subprocess.run(["bash", str(script), "--logging_steps", "1", "--plot_loss", "false"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-6000:]
    assert (out / "adapter_model.safetensors").is_file()
    steps = [json.loads(line)["step"] for line in (out / "trainer_log.jsonl").read_text().splitlines() if line.strip()]
    assert steps == [1, 2]  # --logging_steps 1 given to the script overrode LOGGING_STEPS' default
    return out


def test_sft_runs_on_cpu(tmp_path, tiny_model_dir):
    _real_run(SFT, tmp_path, "qa", write_qa_dataset(tmp_path / "data"))


def test_dpo_runs_on_cpu(tmp_path, tiny_model_dir):
    out = _real_run(DPO, tmp_path, "medical_preference_sample", ROOT / "data")
    assert "rewards/margins" in (out / "trainer_log.jsonl").read_text()


def test_pt_runs_on_cpu(tmp_path, tiny_model_dir):
    folder = tmp_path / "data"
    folder.mkdir()
    rows = [{"text": f"第{i}篇：脾胃为后天之本，气血生化之源。高血压患者宜低盐饮食，规律服药，定期复查血压。" * (1 + i % 4)}
            for i in range(40)]
    (folder / "pt.jsonl").write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows), encoding="utf-8")
    (folder / "dataset_info.json").write_text(json.dumps({"pt": {"file_name": "pt.jsonl", "columns": {"prompt": "text"}}}))
    _real_run(PT, tmp_path, "pt", folder)


COMPARED = {
    "model": ("finetuning_type", "quantization_bit", "lora_rank", "lora_target"),
    "data": ("template", "dataset", "cutoff_len", "packing", "val_size"),
    "training": ("per_device_train_batch_size", "gradient_accumulation_steps", "learning_rate", "num_train_epochs",
                 "lr_scheduler_type", "warmup_steps", "bf16", "gradient_checkpointing", "eval_steps", "save_steps",
                 "logging_steps"),
}


@pytest.mark.parametrize(("script", "config", "settings"), [
    (SFT, "sft_lora.yaml", {}), (PT, "pt_lora.yaml", {}), (SFT, "sft_qlora.yaml", {"FINETUNING_TYPE": "qlora"}),
], ids=["sft_lora", "pt_lora", "sft_qlora"])
def test_configs_are_the_launchers_gpu_runs(tmp_path, monkeypatch, script, config, settings):
    """configs/*.yaml are the runs the launchers make on one GPU, without the launcher."""
    monkeypatch.chdir(ROOT)  # the configs name data/ and deepspeed_config.json relative to the repository
    from_file = parse_train_args([str(ROOT / "configs" / config)])
    command = dry_run(script, tmp_path, gpus=1, MODEL_NAME_OR_PATH=from_file.model.model_name_or_path,
                      TEMPLATE=from_file.data.template or "", **settings)
    launched = parse_train_args(training_flags(command))

    def settings_of(args):
        groups = {"model": {**vars(args.model), **vars(args.finetuning)}, "data": vars(args.data), "training": args.training}
        return {key: str(groups[group].get(key)).lower() for group, keys in COMPARED.items() for key in keys}

    assert settings_of(launched) == settings_of(from_file)
    assert Path(launched.training["deepspeed"]).name == Path(from_file.training["deepspeed"]).name


def test_a_gpu_node_without_nvidia_smi_is_detected_through_torch(tmp_path):
    fake_python = tmp_path / "python"  # a test double of the venv's Python: reports 2 CUDA devices
    fake_python.write_text("#!/bin/sh\nif [ \"$1\" = -c ]; then echo 2; fi\n")
    fake_python.chmod(0o755)
    result = run_script(SFT, tmp_path, gpus=None, PYTHON=str(fake_python))
    assert result.returncode == 2 and "MODEL_NAME_OR_PATH is not set" in result.stderr  # the GPU path, not the CPU demo
    command = dry_run(SFT, tmp_path, gpus=None, PYTHON=str(fake_python), MODEL_NAME_OR_PATH="/models/Qwen2.5-7B-Instruct")
    assert flag(command, "nproc_per_node") == "2" or "--num_gpus" in command


def test_only_the_demo_model_overwrites_by_default_on_cpu(tmp_path):
    assert flag(dry_run(SFT, tmp_path), "overwrite_output_dir") == "true"  # embedded: the CPU demo starts over
    model = tmp_path / "my-model"
    model.mkdir()
    command = dry_run(SFT, tmp_path, MODEL_NAME_OR_PATH=str(model), TEMPLATE="qwen")
    assert flag(command, "overwrite_output_dir") == "false"  # anyone's real model resumes instead

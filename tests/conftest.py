"""Shared fixtures: paths to the project and to ../shared (tests needing it skip when absent, fail under CI=true)."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SHUZHIQIHUANG_SHARED", ROOT.parent / "shared"))
DOUBLES = ROOT / "tests" / "doubles"

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the suite may reach a hub
os.environ.setdefault("WANDB_MODE", "disabled")


IN_CI = os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Skip a test whose prerequisite is missing on a developer's machine; under CI=true fail it instead, so a
    run that silently lost ../shared or the test-only packages cannot pass by skipping."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: every test must run)", pytrace=False)
    pytest.skip(reason)


def shared_path(*parts: str) -> Path:
    """A path under ../shared, skipping (failing under CI=true) the calling test when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        skip_or_fail(f"{path} not present (../shared is optional outside CI)")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The embedded default model (built from data/ once, then reused)."""
    from llmtuner.model.tiny import ensure_tiny_model

    return ensure_tiny_model()


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


@pytest.fixture
def warnings_logged():
    """WARNING lines of the llmtuner loggers (they do not propagate to pytest's caplog)."""
    import logging

    lines: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: lines.append(record.getMessage())
    logging.getLogger("llmtuner").addHandler(handler)
    yield lines
    logging.getLogger("llmtuner").removeHandler(handler)


@pytest.fixture
def vllm_double(monkeypatch):
    """tests/doubles/vllm imported as `vllm` (never the real package), its CREATED log emptied."""
    monkeypatch.syspath_prepend(str(DOUBLES))
    for name in [name for name in sys.modules if name == "vllm" or name.startswith("vllm.")]:
        monkeypatch.delitem(sys.modules, name)
    import vllm

    vllm.CREATED.clear()
    yield vllm
    for name in [name for name in sys.modules if name == "vllm" or name.startswith("vllm.")]:
        del sys.modules[name]


def random_lora_adapter(base_dir, folder, seed: int, rank: int = 8, alpha: int = 128,
                        targets: tuple[str, ...] = ("q_proj", "v_proj", "o_proj", "up_proj", "down_proj")) -> Path:
    """A LoRA adapter of the tiny model with random non-zero weights (peft's init_lora_weights=False), saved to
    `folder`. Large enough weights make the random tiny base answer each question differently, so tests comparing
    answers between commands compare something."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=alpha, target_modules=list(targets), init_lora_weights=False))
    model.save_pretrained(folder)
    return Path(folder)

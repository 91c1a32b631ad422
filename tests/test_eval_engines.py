"""Inference engines of the evaluator: the vllm engine gives the hf engine's records, and what vLLM cannot
serve is refused before anything loads.

Tests named `*vllm_double*` do NOT run vLLM. vLLM needs a GPU, so they put a test double of vLLM 0.33's
offline API on the path (tests/doubles/vllm: the same argument names, answers computed with transformers)
and check our side only: prompts as token ids, SamplingParams and LLM settings, LoRA requests, reading
logprobs back. Since the double answers with transformers, its agreement with the hf engine says nothing
about vLLM's own numerics. The one test against real vLLM is marked `gpu` and runs only where vLLM and a
CUDA GPU are present (`pytest -m gpu tests/test_eval_engines.py` on a GPU server); elsewhere, CI included,
it is skipped with that reason.
"""

import json
import math

import pytest
from conftest import DOUBLES, ROOT

from llmtuner.extras.errors import ConfigError
from llmtuner.hparams import parse_eval_args

DATA = str(ROOT / "data")


@pytest.fixture(scope="module")
def lora_adapter(tmp_path_factory, tiny_model_dir):
    """A rank-12 LoRA adapter with non-zero weights, so it changes the answers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=12, lora_alpha=24, target_modules=["q_proj", "v_proj", "down_proj"],
                                             init_lora_weights=False))
    folder = tmp_path_factory.mktemp("adapter") / "lora"
    model.save_pretrained(folder)
    return folder


def evaluate(**settings):
    from llmtuner.eval.evaluator import run_evaluation

    argv = [token for key, value in settings.items() for token in (f"--{key}", str(value))]
    return run_evaluation(parse_eval_args(argv))


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def both_backends(tmp_path, backends=("hf", "vllm"), **settings):
    """Run the same evaluation on each engine, in the order given; returns {backend: (metrics, records)}."""
    results = {}
    for backend in backends:
        out = tmp_path / backend
        metrics = evaluate(**settings, output_dir=out, infer_backend=backend)
        results[backend] = (metrics, read_jsonl(out / "predictions.jsonl"))
    return results


def test_qa_on_vllm_double_writes_the_hf_records(tmp_path, tiny_model_dir, vllm_double, lora_adapter):
    results = both_backends(tmp_path, model_name_or_path="embedded", adapter_name_or_path=lora_adapter,
                            template="shuzhiqihuang", eval_dataset="clinical_qa_sample", dataset_dir=DATA, task="qa",
                            max_samples=5, max_new_tokens=12, batch_size=4, cutoff_len=256)
    (hf_metrics, hf_records), (vllm_metrics, vllm_records) = results["hf"], results["vllm"]
    assert [r["prediction"] for r in vllm_records] == [r["prediction"] for r in hf_records]
    assert any(r["prediction"] for r in hf_records)
    assert [r.keys() for r in vllm_records] == [r.keys() for r in hf_records]
    assert vllm_metrics["overall"] == hf_metrics["overall"]
    [llm] = [kwargs for kind, kwargs in vllm_double.CREATED if kind == "LLM"]
    assert llm["enable_lora"] and llm["max_loras"] == 1 and llm["max_lora_rank"] == 16  # rank 12 -> next vLLM size
    assert llm["max_model_len"] == 256 + 12 and llm["trust_remote_code"] is False
    assert llm["generation_config"] == "vllm"  # stop and sampling settings are ours, not the model folder's
    [params] = [kwargs for kind, kwargs in vllm_double.CREATED if kind == "SamplingParams"]
    assert params["temperature"] == 0.0 and params["max_tokens"] == 12 and "top_p" not in params
    from llmtuner.data.template_registry import get_template
    from llmtuner.eval.engine import load_tokenizer_and_template

    tokenizer, _ = load_tokenizer_and_template(parse_eval_args(["--model_name_or_path", "embedded", "--template",
                                                                "shuzhiqihuang", "--eval_dataset", "x", "--output_dir", "o"]))
    assert params["stop_token_ids"] == get_template("shuzhiqihuang").stop_token_ids(tokenizer)


def test_mcq_likelihood_and_ppl_on_vllm_double_match_hf(tmp_path, tiny_model_dir, vllm_double):
    common = {"model_name_or_path": "embedded", "dataset_dir": DATA, "max_samples": 10, "batch_size": 4}
    mcq = both_backends(tmp_path / "mcq", **common, template="shuzhiqihuang", eval_dataset="medical_mcq_sample", task="mcq")
    assert len(mcq["hf"][1]) == len(mcq["vllm"][1]) == 10
    for hf_record, vllm_record in zip(mcq["hf"][1], mcq["vllm"][1]):
        assert vllm_record["prediction"] == hf_record["prediction"]
        for letter, probability in hf_record["probs"].items():
            assert vllm_record["probs"][letter] == pytest.approx(probability, abs=1e-5)
    assert mcq["vllm"][0]["overall"] == mcq["hf"][0]["overall"]
    ppl = both_backends(tmp_path / "ppl", **common, eval_dataset="medical_pt_sample", task="ppl", cutoff_len=64)
    assert ppl["vllm"][0]["overall"]["perplexity"] == pytest.approx(ppl["hf"][0]["overall"]["perplexity"], rel=1e-4)
    assert [r["tokens"] for r in ppl["vllm"][1]] == [r["tokens"] for r in ppl["hf"][1]]
    assert math.isfinite(ppl["vllm"][0]["overall"]["perplexity"])


def test_vllm_double_context_is_capped_at_the_model_limit_and_long_prompts_keep_their_end(tiny_model_dir, vllm_double):
    from llmtuner.eval.vllm_engine import VllmEngine, engine_kwargs

    args = parse_eval_args(["--model_name_or_path", "embedded", "--template", "shuzhiqihuang", "--eval_dataset", "x",
                            "--output_dir", "o", "--infer_backend", "vllm", "--max_new_tokens", "8"])
    assert engine_kwargs(args, 2048)["max_model_len"] == 2048  # cutoff_len 2048 + 8 would exceed the model's 2048
    assert engine_kwargs(args, None)["max_model_len"] == 2048 + 8
    engine = VllmEngine(args)
    long_prompt = list(range(10, 3010))
    [[(index, _)]] = list(engine.generate([long_prompt]))
    sent = [kwargs for kind, kwargs in vllm_double.CREATED if kind == "SamplingParams"]
    assert index == 0 and sent[-1]["max_tokens"] == 8
    assert engine._fit([long_prompt], 8)[0] == long_prompt[-(2048 - 8):]


def test_sampling_kwargs_translate_our_decoding_settings():
    from llmtuner.eval.vllm_engine import sampling_kwargs
    from llmtuner.hparams import GeneratingArguments

    sampled = sampling_kwargs(GeneratingArguments(do_sample=True, temperature=0.5, top_p=0.9, top_k=20, max_new_tokens=64,
                                                  repetition_penalty=1.1), [7, 9], seed=3)
    assert sampled == {"max_tokens": 64, "repetition_penalty": 1.1, "stop_token_ids": [7, 9], "seed": 3,
                       "skip_special_tokens": True, "temperature": 0.5, "top_p": 0.9, "top_k": 20}
    assert sampling_kwargs(GeneratingArguments(), [2], seed=1)["temperature"] == 0.0


def test_switching_backend_to_vllm_double_does_not_mix_answers(tmp_path, tiny_model_dir, vllm_double):
    settings = {"model_name_or_path": "embedded", "template": "shuzhiqihuang", "eval_dataset": "clinical_qa_sample",
                "dataset_dir": DATA, "task": "qa", "output_dir": tmp_path, "max_samples": 2, "max_new_tokens": 4}
    evaluate(**settings)
    with pytest.raises(ConfigError, match="infer_backend: 'hf' -> 'vllm'"):
        evaluate(**settings, infer_backend="vllm")
    assert not vllm_double.CREATED  # refused before vLLM was started
    meta = tmp_path / "predictions.settings.json"  # as written before infer_backend existed: it meant hf
    meta.write_text(json.dumps({key: value for key, value in json.loads(meta.read_text()).items() if key != "infer_backend"}))
    with pytest.raises(ConfigError, match="infer_backend: 'hf' -> 'vllm'"):  # not "None -> 'vllm'"
        evaluate(**settings, infer_backend="vllm")
    predictions = tmp_path / "predictions.jsonl"
    records = read_jsonl(predictions)
    records[0]["prediction"] = "stored answer"  # a stored answer a resumed run keeps and a fresh one would replace
    predictions.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records), encoding="utf-8")
    evaluate(**settings)  # the old settings file without infer_backend resumes on hf
    assert [record["prediction"] for record in read_jsonl(predictions)] == ["stored answer", records[1]["prediction"]]
    assert json.loads(meta.read_text())["infer_backend"] == "hf"


def _eval_argv(*extra):
    return ["--model_name_or_path", "embedded", "--template", "shuzhiqihuang", "--eval_dataset", "clinical_qa_sample",
            "--dataset_dir", DATA, "--output_dir", "out", "--infer_backend", "vllm", *extra]


def test_vllm_missing_is_an_error_before_loading(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real_find_spec(name, *a))
    with pytest.raises(ConfigError, match="needs vLLM, which is not installed: `pip install vllm`"):
        parse_eval_args(_eval_argv())


def _adapter(folder, **config):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text(json.dumps({"r": 8, **config}))
    return str(folder)


@pytest.mark.parametrize(("extra", "message"), [
    (["--num_beams", "4"], "no beam search"),
    (["--quantization_bit", "4"], "does not quantise with bitsandbytes"),
    (["--rope_scaling", "linear", "--rope_scaling_factor", "2"], "rope_scaling with infer_backend vllm"),
    (["--new_special_tokens", "<诊断>"], "new_special_tokens / resize_vocab with infer_backend vllm"),
    (["--vllm_tensor_parallel_size", "0"], "vllm_tensor_parallel_size must be at least 1"),
    (["--vllm_gpu_memory_utilization", "1.5"], r"share of GPU memory in \(0, 1\]"),
])
def test_what_vllm_cannot_serve_is_refused_vllm_double_installed(vllm_double, extra, message):
    with pytest.raises(ConfigError, match=message):
        parse_eval_args(_eval_argv(*extra))


def test_adapters_vllm_cannot_serve_are_refused_vllm_double_installed(tmp_path, vllm_double):
    dora = _adapter(tmp_path / "dora", use_dora=True)
    vocab = _adapter(tmp_path / "vocab", modules_to_save=["embed_tokens", "lm_head"])
    wide = _adapter(tmp_path / "wide", r=1024)
    plain = _adapter(tmp_path / "plain")
    # (adapter, message, whether the message points to infer_backend hf as the way out)
    cases = [(dora, "DoRA adapter", True), (vocab, "trains whole modules", True), (wide, "rank 1024", True),
             (f"{plain},{plain}", "serves one LoRA adapter", True), (str(tmp_path / "none"), "no adapter_config.json", False)]
    for adapter, message, suggests_hf in cases:
        with pytest.raises(ConfigError, match=message) as error:
            parse_eval_args(_eval_argv("--adapter_name_or_path", adapter))
        assert ("infer_backend: hf" in str(error.value)) is suggests_hf, message
    config = parse_eval_args(_eval_argv("--adapter_name_or_path", plain))  # a plain LoRA adapter is served
    assert config.model.adapter_name_or_path == [plain] and config.eval.infer_backend == "vllm"


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda_available(), reason="needs a CUDA GPU and vLLM (CI has no GPU): on a GPU server with "
                    "`pip install vllm`, run `pytest -m gpu tests/test_eval_engines.py`")
def test_real_vllm_gives_the_hf_greedy_answers_on_gpu(tmp_path, tiny_model_dir, monkeypatch):
    """Real vLLM, not the double: the embedded model's greedy answers and perplexity as the hf engine gives them.

    fp32 on both engines, so kernel numerics cannot flip a near-tie between two tokens. vLLM runs first and
    in this process (no engine-core subprocess, which would need CUDA not yet initialised by the hf engine).
    """
    vllm = pytest.importorskip("vllm", reason="real vLLM is not installed (`pip install vllm` on a GPU server)")
    assert not str(getattr(vllm, "__file__", "")).startswith(str(DOUBLES)), "imported the test double, not vLLM"
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    gpu = {"model_name_or_path": "embedded", "template": "shuzhiqihuang", "dataset_dir": DATA, "dtype": "float32",
           "vllm_gpu_memory_utilization": 0.2, "vllm_enforce_eager": True, "max_samples": 6, "batch_size": 4}
    qa = both_backends(tmp_path / "qa", ("vllm", "hf"), **gpu, eval_dataset="clinical_qa_sample", task="qa",
                       max_new_tokens=16, cutoff_len=256)
    hf_answers, vllm_answers = ([r["prediction"] for r in qa[backend][1]] for backend in ("hf", "vllm"))
    assert len(hf_answers) == 6 and any(hf_answers)
    assert vllm_answers == hf_answers
    ppl = both_backends(tmp_path / "ppl", ("vllm", "hf"), **gpu, eval_dataset="medical_pt_sample", task="ppl", cutoff_len=64)
    assert [r["tokens"] for r in ppl["vllm"][1]] == [r["tokens"] for r in ppl["hf"][1]]
    assert ppl["vllm"][0]["overall"]["perplexity"] == pytest.approx(ppl["hf"][0]["overall"]["perplexity"], rel=1e-3)

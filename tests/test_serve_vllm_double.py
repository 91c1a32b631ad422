"""The vllm serving engine against a test double of vLLM 0.33's AsyncLLM (tests/doubles/vllm), NOT vLLM itself.

vLLM needs a GPU. The double takes exactly the AsyncEngineArgs / SamplingParams names our engine sets and answers
with transformers, so these tests check our side only: engine settings, one LoRARequest per served adapter,
prompts as token ids, cumulative outputs read into streamed text, stop strings, aborts, logprobs. Agreement with
the hf engine here says nothing about vLLM's numerics.
"""

import asyncio

import pytest
from test_serve_engine import QUESTIONS, make_adapter, prompts_of

from llmtuner.extras.errors import ConfigError
from llmtuner.hparams.serve_parser import parse_serve_args
from llmtuner.serve.requests import GenerationRequest, SamplingOptions


@pytest.fixture(scope="module")
def adapters(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("vllm-adapters")
    return [make_adapter(tiny_model_dir, root / name, seed) for name, seed in (("a", 3), ("b", 4))]


def config_for(backend, adapters, *flags):
    return parse_serve_args("chat", ["--model_name_or_path", "embedded", "--template", "shuzhiqihuang", "--max_new_tokens", "16",
                                     "--infer_backend", backend, "--adapters", f"a={adapters[0]},b={adapters[1]}", *flags])


def answers(engine, config, requests):
    async def main():
        handles = [engine.submit(request) for request in requests]
        return await asyncio.gather(*(handle.result() for handle in handles))

    return asyncio.run(main())


def test_vllm_double_serves_the_hf_answers_with_one_lora_request_per_adapter(vllm_double, adapters):
    from llmtuner.serve.engine import load_serving_engine

    results = {}
    for backend in ("hf", "vllm"):
        config = config_for(backend, adapters)
        engine = load_serving_engine(config)
        try:
            prompts = prompts_of(engine, config, QUESTIONS[:3])
            options = SamplingOptions.from_arguments(config.generating)
            requests = [GenerationRequest(ids, options, adapter=name) for ids in prompts for name in (None, "a", "b")]
            results[backend] = [(c.text, c.finish_reason, c.completion_tokens) for c in answers(engine, config, requests)]
        finally:
            engine.close()
    assert results["vllm"] == results["hf"]
    (settings,) = [settings for kind, settings in vllm_double.CREATED if kind == "AsyncLLM"]
    assert settings["enable_lora"] and settings["max_loras"] == 2 and settings["max_lora_rank"] == 8
    assert settings["generation_config"] == "vllm" and settings["max_num_seqs"] == 8


def test_vllm_double_streams_cuts_stop_strings_and_aborts_early(vllm_double, adapters):
    from llmtuner.serve.engine import load_serving_engine

    config = config_for("vllm", adapters)
    engine = load_serving_engine(config)
    try:
        prompt = prompts_of(engine, config, QUESTIONS[:1])[0]
        full = answers(engine, config, [GenerationRequest(prompt, SamplingOptions.from_arguments(config.generating))])[0]
        stop = full.text[3:5]

        async def stream():
            handle = engine.submit(GenerationRequest(prompt, SamplingOptions.from_arguments(config.generating, stop=(stop,),
                                                                                           logprobs=2)))
            pieces, completion = [], None
            async for event in handle:
                pieces.append(event.text)
                completion = event.completion or completion
            return pieces, completion

        pieces, stopped = asyncio.run(stream())
        assert stopped.finish_reason == "stop" and "".join(pieces) == stopped.text and full.text.startswith(stopped.text)
        assert stop not in stopped.text and stopped.completion_tokens < full.completion_tokens
        assert [lp.token_id for lp in stopped.logprobs] == list(stopped.token_ids) and len(stopped.logprobs[0].top) == 2
        assert engine.engine.aborted  # the generator was left before vLLM finished: the request is aborted
        with pytest.raises(ConfigError, match="no adapter named 'c'"):
            answers(engine, config, [GenerationRequest(prompt, SamplingOptions.from_arguments(config.generating), adapter="c")])
    finally:
        engine.close()


def test_what_vllm_cannot_serve_is_refused_before_it_starts(vllm_double, adapters, tmp_path):
    import json

    dora = tmp_path / "dora"
    dora.mkdir()
    (dora / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "use_dora": True, "r": 8}))
    with pytest.raises(ConfigError) as error:
        parse_serve_args("chat", ["--model_name_or_path", "embedded", "--template", "shuzhiqihuang", "--infer_backend", "vllm",
                                  "--adapter_name_or_path", f"{adapters[0]},{adapters[1]}", "--quantization_bit", "4",
                                  "--adapters", f"d={dora}"])
    text = str(error.value)
    assert "serves one LoRA adapter on the base, got 2" in text and "quantization_bit" in text and "DoRA" in text
    assert "cannot stack a named adapter" in text
    assert not [kind for kind, _ in vllm_double.CREATED if kind == "AsyncLLM"]

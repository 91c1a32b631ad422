"""The transformers serving engine on the embedded model: batching, per-request limits, cancel, queue, adapters."""

import asyncio
import threading
import time

import pytest
from conftest import random_lora_adapter

from llmtuner.hparams.serve_parser import parse_serve_args
from llmtuner.serve.requests import GenerationRequest, PromptTooLong, QueueFull, SamplingOptions

QUESTIONS = ["头痛发热怎么办？", "高血压患者可以服用人参吗？请详细说明。", "孕妇能用红花吗", "糖尿病的中医辨证分型有哪些？", "失眠",
             "小儿咳嗽夜间加重，舌红苔黄，如何辨证？"]


def make_adapter(base_dir, folder, seed):
    return random_lora_adapter(base_dir, folder, seed)


@pytest.fixture(scope="module")
def adapters(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-adapters")
    return [make_adapter(tiny_model_dir, root / name, seed) for name, seed in (("a", 1), ("b", 2))]


def engine_for(*flags):
    from llmtuner.serve.engine import load_serving_engine

    config = parse_serve_args("chat", ["--model_name_or_path", "embedded", "--template", "shuzhiqihuang",
                                       "--max_new_tokens", "24", *flags])
    return config, load_serving_engine(config)


@pytest.fixture(scope="module")
def served(adapters):
    """Base with adapter a merged in (as the evaluator loads it), and adapters a and b by name beside it."""
    config, engine = engine_for("--adapter_name_or_path", str(adapters[0]), "--adapters", f"a={adapters[0]},b={adapters[1]}",
                                "--max_concurrency", "8", "--batch_wait_ms", "50")
    yield config, engine
    engine.close()


def prompts_of(engine, config, questions=QUESTIONS):
    from llmtuner.serve.prompts import render_prompt

    return [render_prompt(engine.template, engine.tokenizer, None, [{"role": "user", "content": q}],
                          config.data.default_system, True) for q in questions]


def run(engine, requests):
    async def main():
        handles = [engine.submit(request) for request in requests]
        return await asyncio.gather(*(handle.result() for handle in handles))

    return asyncio.run(main())


def greedy(config, **overrides):
    return SamplingOptions.from_arguments(config.generating, **overrides)


def evaluator_answers(model, engine, config, prompts):
    """What `llmtuner eval` generates for these prompts (eval.generate, batch of 2, sorted by length)."""
    from llmtuner.eval.generate import generate_batches

    answers = {}
    for batch in generate_batches(model, engine.tokenizer, prompts, config.generating.to_generate_kwargs(), 2, engine.stop_ids):
        answers.update(dict(batch))
    return [answers[index] for index in range(len(prompts))]


def test_batched_answers_equal_the_evaluators_and_single_requests(served):
    config, engine = served
    prompts = prompts_of(engine, config)
    together = run(engine, [GenerationRequest(ids, greedy(config)) for ids in prompts])
    alone = [run(engine, [GenerationRequest(ids, greedy(config))])[0] for ids in prompts[:2]]
    base = engine.model.get_base_model()  # the merged base without the named adapters: what eval loads
    with engine.model.disable_adapter():
        expected = evaluator_answers(base, engine, config, prompts)
    assert [c.text for c in together] == expected
    assert [c.text for c in alone] == expected[:2]
    assert len(set(expected)) > 1  # the adapter makes the answers differ per question
    assert all(c.finish_reason in ("stop", "length") and c.prompt_tokens == len(ids) for c, ids in zip(together, prompts))


def test_streamed_text_adds_up_to_the_answer(served):
    config, engine = served
    prompt = prompts_of(engine, config)[1]

    async def main():
        handle = engine.submit(GenerationRequest(prompt, greedy(config)))
        pieces, completion = [], None
        async for event in handle:
            pieces.append(event.text)
            completion = event.completion or completion
        return pieces, completion

    pieces, completion = asyncio.run(main())
    assert "".join(pieces) == completion.text
    assert sum(bool(piece) for piece in pieces) > 3  # streamed in several pieces, not at the end


def test_each_request_keeps_its_own_budget_and_stop_string_inside_one_batch(served):
    config, engine = served
    prompts = prompts_of(engine, config)
    full = run(engine, [GenerationRequest(prompts[0], greedy(config))])[0]
    stop = full.text[4:6]
    short, stopped, whole = run(engine, [GenerationRequest(prompts[0], greedy(config, max_new_tokens=3)),
                                         GenerationRequest(prompts[0], greedy(config, stop=(stop,))),
                                         GenerationRequest(prompts[0], greedy(config))])
    assert (short.finish_reason, short.completion_tokens) == ("length", 3)
    assert full.text.startswith(short.text)
    assert stopped.finish_reason == "stop" and stop not in stopped.text and full.text.startswith(stopped.text)
    assert whole.text == full.text


def test_named_adapters_mix_in_one_batch_and_match_each_alone(served, adapters):
    config, engine = served
    prompts = prompts_of(engine, config)[:3]
    mixed = run(engine, [GenerationRequest(ids, greedy(config), adapter=name) for ids in prompts for name in ("a", "b", None)])
    alone_b = [run(engine, [GenerationRequest(ids, greedy(config), adapter="b")])[0].text for ids in prompts]
    assert [c.text for c in mixed[1::3]] == alone_b
    assert [c.text for c in mixed[0::3]] != alone_b  # a and b are different adapters
    with pytest.raises(Exception, match="no adapter named 'c'"):
        run(engine, [GenerationRequest(prompts[0], greedy(config), adapter="c")])


def test_logprobs_are_the_chosen_tokens_and_greedy_picks_the_top_one(served):
    config, engine = served
    (completion,) = run(engine, [GenerationRequest(prompts_of(engine, config)[0], greedy(config, logprobs=3, max_new_tokens=4))])
    assert [lp.token_id for lp in completion.logprobs] == list(completion.token_ids)
    for lp in completion.logprobs:
        assert lp.logprob <= 0 and len(lp.top) == 3
        assert lp.top[0][0] == lp.token_id and lp.top[0][2] == pytest.approx(lp.logprob)


def test_seeded_sampling_repeats_and_differs_from_greedy(served):
    config, engine = served
    prompt = prompts_of(engine, config)[2]
    sampled = [run(engine, [GenerationRequest(prompt, greedy(config, do_sample=True, temperature=1.5, seed=7))])[0].text
               for _ in range(2)]
    assert sampled[0] == sampled[1]


def test_a_prompt_over_the_context_is_refused_and_budgets_are_cut_to_fit(served):
    config, engine = served
    with pytest.raises(PromptTooLong, match="context holds 2048"):
        run(engine, [GenerationRequest([5] * 2048, greedy(config))])
    (completion,) = run(engine, [GenerationRequest([5] * 2046, greedy(config, max_new_tokens=50))])
    assert completion.completion_tokens <= 2


def test_cancel_stops_a_row_and_a_full_queue_refuses(tiny_model_dir):
    config, engine = engine_for("--max_concurrency", "1", "--max_queue", "1", "--max_new_tokens", "1500")
    try:
        prompt = prompts_of(engine, config)[0]

        async def main():
            first = engine.submit(GenerationRequest(prompt, greedy(config)))
            second = engine.submit(GenerationRequest(prompt, greedy(config)))
            with pytest.raises(QueueFull, match="max_queue"):
                engine.submit(GenerationRequest(prompt, greedy(config)))
            await asyncio.sleep(0.3)
            first.cancel(), second.cancel()
            return await first.result(), await second.result()

        started = time.monotonic()
        first, second = asyncio.run(main())
        assert first.finish_reason == "cancelled" and 0 < first.completion_tokens < 1500
        assert second.finish_reason == "cancelled" and second.completion_tokens == 0  # cancelled while waiting
        assert time.monotonic() - started < 30
    finally:
        engine.close()


def test_a_failing_batch_ends_its_requests_with_an_error_and_the_engine_goes_on(served, monkeypatch):
    config, engine = served
    prompt = prompts_of(engine, config)[0]
    calls = []

    def broken(*args, **kwargs):
        calls.append(threading.current_thread().name)
        raise RuntimeError("CUDA out of memory (test double)")

    monkeypatch.setattr(engine.model, "generate", broken)
    (failed,) = run(engine, [GenerationRequest(prompt, greedy(config))])
    monkeypatch.undo()
    (fine,) = run(engine, [GenerationRequest(prompt, greedy(config))])
    assert failed.finish_reason == "error" and "RuntimeError" in failed.error and calls
    assert fine.finish_reason in ("stop", "length") and fine.text

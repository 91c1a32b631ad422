"""`llmtuner api`: a real uvicorn server on a loopback port, called with the official `openai` client and httpx.

The embedded tiny model answers repetitively, so two random LoRA adapters (non-zero weights, different seeds)
make answers that differ by model. `FixedAnswerEngine` is a test double of the serving engine: it answers
every request with one fixed text (through the real RequestHandle), so that the safety check and the engine
error path can be driven with answers the tiny model would never write.
"""

import asyncio
import json
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest
from conftest import ROOT, random_lora_adapter, skip_or_fail
from run_helpers import child_env

from llmtuner.hparams.serve_parser import parse_serve_args
from llmtuner.serve.api import BackgroundServer, create_app
from llmtuner.serve.api.auth import key_id
from llmtuner.serve.api.server import is_loopback
from llmtuner.serve.engine import RequestHandle, load_serving_engine
from llmtuner.serve.prompts import render_prompt
from llmtuner.serve.requests import Completion, Event
from llmtuner.serve.safety import REFUSAL

try:
    import openai  # requirements-dev.txt: scripts/run_tests.sh installs it
except ImportError:
    openai = None

KEY, OTHER_KEY = "test-key-0123456789", "second-key-abcdef"
BASE = ["--model_name_or_path", "embedded", "--template", "shuzhiqihuang", "--max_new_tokens", "24"]
QUESTIONS = ["头痛发热怎么办？", "高血压患者可以服用人参吗？", "孕妇能用红花吗", "糖尿病的中医辨证分型有哪些", "失眠多梦"]
HARMFUL = "可用甘草与甘遂同用，水煎服。"  # 十八反: the real safety check flags it


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module", autouse=True)
def openai_client_installed():
    if openai is None:
        skip_or_fail("the openai client is not installed (pip install -r requirements-dev.txt)")


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The engine's thread and the server's share this process (and 2 cores with other jobs): one torch thread
    keeps decode steps from stalling on a busy OpenMP team."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def adapters(tmp_path_factory, tiny_model_dir):
    """Two rank-8 LoRA adapters with random non-zero weights (seeds 1 and 2); no llmtuner_args.json."""
    return {name: random_lora_adapter(tiny_model_dir, tmp_path_factory.mktemp(f"adapter-{name}") / "lora", seed, alpha=16,
                                      targets=("q_proj", "v_proj", "down_proj"))
            for name, seed in (("a", 1), ("b", 2))}


class Served:
    """An engine behind a real server; `client` is the official OpenAI client, `http` httpx with the key."""

    def __init__(self, argv: list[str], engine=None) -> None:
        self.config = parse_serve_args("api", [*argv, "--api_key", f"{KEY},{OTHER_KEY}"])
        self.engine = engine or load_serving_engine(self.config)
        self.server = BackgroundServer(create_app(self.config, self.engine)).__enter__()
        self.url = self.server.url
        self.client = openai.OpenAI(base_url=f"{self.url}/v1", api_key=KEY, max_retries=0, timeout=120)
        self.aclient_args = {"base_url": f"{self.url}/v1", "api_key": KEY, "max_retries": 0, "timeout": 120}
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120)

    def close(self) -> None:
        self.http.close()
        self.server.__exit__()
        self.engine.close()

    def metric(self, name: str, **labels: str) -> float:
        from prometheus_client.parser import text_string_to_metric_families

        text = self.http.get("/metrics").text
        return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
                   if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()))


@pytest.fixture(scope="module")
def served(adapters, tmp_path_factory):
    """Base + adapters a and b, safety annotate, an audit log."""
    audit = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    server = Served([*BASE, "--adapters", f"a={adapters['a']},b={adapters['b']}", "--audit_log", str(audit)])
    server.audit = audit
    yield server
    server.close()


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The base alone, one request at a time and no queue (429 at once), 4 KiB bodies, an audit log."""
    audit = tmp_path_factory.mktemp("audit-small") / "audit.jsonl"
    server = Served([*BASE, "--max_concurrency", "1", "--max_queue", "0", "--max_body_bytes", "4096",
                     "--audit_log", str(audit)])
    server.audit = audit
    yield server
    server.close()


def answer(server: Served, question: str, model: str = "embedded", **options) -> str:
    reply = server.client.chat.completions.create(model=model, messages=user(question), **options)
    return reply.choices[0].message.content


def test_models_health_and_keys(served):
    assert [model.id for model in served.client.models.list()] == ["embedded", "a", "b"]
    assert httpx.get(f"{served.url}/health").json() == {"status": "ok", "models": ["embedded", "a", "b"]}
    other = openai.OpenAI(base_url=f"{served.url}/v1", api_key=OTHER_KEY, max_retries=0)
    assert other.models.list().data[0].id == "embedded"  # every configured key is accepted
    for wrong in ("wrong-key", KEY[:-1]):
        with pytest.raises(openai.AuthenticationError) as caught:
            openai.OpenAI(base_url=f"{served.url}/v1", api_key=wrong, max_retries=0).models.list()
        assert caught.value.code == "invalid_api_key"
    for headers in ({}, {"Authorization": KEY}, {"Authorization": f"Basic {KEY}"}):
        response = httpx.get(f"{served.url}/metrics", headers=headers)
        assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"
    assert key_id(KEY) == __import__("hashlib").sha256(KEY.encode()).hexdigest()[:8]
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and not is_loopback("0.0.0.0")


def test_answer_is_the_evaluators_and_usage_and_safety_annotations(served, small):
    from llmtuner.eval.generate import generate_batches

    prompts = [render_prompt(small.engine.template, small.engine.tokenizer, None, user(q), None, True) for q in QUESTIONS]
    reference = {}
    for batch in generate_batches(small.engine.model, small.engine.tokenizer, prompts,
                                  small.config.generating.to_generate_kwargs(), 2, small.engine.stop_ids):
        reference.update(dict(batch))
    for index, question in enumerate(QUESTIONS[:3]):
        reply = served.client.chat.completions.create(model="embedded", messages=user(question))
        choice = reply.choices[0]
        assert choice.message.content == reference[index] and choice.message.role == "assistant"
        assert reply.object == "chat.completion" and reply.model == "embedded" and reply.id.startswith("chatcmpl-")
        assert reply.usage.prompt_tokens == len(prompts[index])
        assert reply.usage.completion_tokens <= 24 and reply.usage.total_tokens == len(prompts[index]) + reply.usage.completion_tokens
        assert choice.finish_reason in ("stop", "length")
        assert choice.model_extra["x_safety"] == {"flags": [], "refused": False}
    # the model field may be left out (the base), the thinking switch is accepted
    raw = served.http.post("/v1/chat/completions", json={"messages": user(QUESTIONS[0]),
                                                         "chat_template_kwargs": {"enable_thinking": False}})
    assert raw.status_code == 200 and raw.json()["model"] == "embedded"


def test_streaming_deltas_equal_the_answer(served):
    for model, options in (("embedded", {}), ("a", {"stop": ["。", "，"]}), ("b", {"max_completion_tokens": 9})):
        whole = served.client.chat.completions.create(model=model, messages=user(QUESTIONS[1]), **options)
        chunks = list(served.client.chat.completions.create(model=model, messages=user(QUESTIONS[1]), stream=True,
                                                            stream_options={"include_usage": True}, **options))
        assert chunks[0].choices[0].delta.role == "assistant"
        text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
        assert text == whole.choices[0].message.content
        finals = [chunk.choices[0] for chunk in chunks if chunk.choices and chunk.choices[0].finish_reason]
        assert len(finals) == 1 and finals[0].finish_reason == whole.choices[0].finish_reason
        assert finals[0].model_extra["x_safety"] == {"flags": [], "refused": False}
        assert chunks[-1].choices == [] and chunks[-1].usage.model_dump() == whole.usage.model_dump()
        assert {chunk.id for chunk in chunks} == {chunks[0].id} and chunks[0].object == "chat.completion.chunk"
    # the raw stream, as a browser or curl sees it
    body = {"model": "a", "messages": user(QUESTIONS[2]), "stream": True, "max_tokens": 5}
    with served.http.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines) and lines[-1] == "data: [DONE]"
    payloads = [json.loads(line[6:]) for line in lines[:-1]]
    assert "usage" not in payloads[-1] and payloads[-1]["choices"][0]["finish_reason"] == "length"


def test_adapters_by_name_differ_and_equal_the_merged_adapter(served, adapters):
    answers = {model: answer(served, QUESTIONS[0], model) for model in ("embedded", "a", "b")}
    assert len(set(answers.values())) == 3, answers
    for name in ("a", "b"):  # served unmerged beside the base = merged into it (as `llmtuner eval` loads it)
        merged = Served([*BASE, "--adapter_name_or_path", str(adapters[name]), "--served_model_name", f"merged-{name}"])
        try:
            assert [model.id for model in merged.client.models.list()] == [f"merged-{name}"]
            for question in QUESTIONS[:3]:
                assert answer(merged, question, f"merged-{name}") == answer(served, question, name)
        finally:
            merged.close()

    async def together():  # base and both adapters in one batch: each as when requested alone
        async with openai.AsyncOpenAI(**served.aclient_args) as client:
            replies = await asyncio.gather(*[client.chat.completions.create(model=model, messages=user(QUESTIONS[0]))
                                             for model in ("embedded", "a", "b", "a")])
        return [reply.choices[0].message.content for reply in replies]

    assert asyncio.run(together()) == [answers["embedded"], answers["a"], answers["b"], answers["a"]]


def test_logprobs_n_and_seeded_sampling(served):
    reply = served.client.chat.completions.create(model="a", messages=user(QUESTIONS[3]), logprobs=True, top_logprobs=3,
                                                  max_tokens=6)
    content = reply.choices[0].logprobs.content
    assert len(content) == reply.usage.completion_tokens == 6
    joined = b"".join(bytes(item.bytes) for item in content)  # a token may hold part of a character
    assert reply.choices[0].message.content.startswith(joined.decode("utf-8", errors="ignore").strip())
    for item in content:
        assert item.logprob <= 0 and "\ufffd".encode() not in bytes(item.bytes) and len(item.top_logprobs) == 3
        assert item.top_logprobs[0].logprob == pytest.approx(item.logprob)  # greedy: the chosen one is the likeliest
        assert [top.logprob for top in item.top_logprobs] == sorted((top.logprob for top in item.top_logprobs), reverse=True)
    plain = served.client.chat.completions.create(model="a", messages=user(QUESTIONS[3]), max_tokens=6)
    assert plain.choices[0].logprobs is None
    streamed = list(served.client.chat.completions.create(model="a", messages=user(QUESTIONS[3]), logprobs=True,
                                                          max_tokens=6, stream=True))
    tokens = [item.token for chunk in streamed if chunk.choices and chunk.choices[0].logprobs
              for item in chunk.choices[0].logprobs.content]
    assert tokens == [item.token for item in content]
    greedy = served.client.chat.completions.create(model="b", messages=user(QUESTIONS[0]), n=3, max_tokens=5)
    assert [choice.index for choice in greedy.choices] == [0, 1, 2]
    assert len({choice.message.content for choice in greedy.choices}) == 1 and greedy.usage.completion_tokens == 15

    def sampled(seed):
        reply = served.client.chat.completions.create(model="b", messages=user(QUESTIONS[0]), n=2, temperature=1.0,
                                                      top_p=0.95, seed=seed, max_tokens=8)
        return [choice.message.content for choice in reply.choices]

    assert sampled(7) == sampled(7)


@pytest.mark.parametrize("body, param", [
    ({"messages": "hello"}, "messages"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "doctor", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "assistant", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}, "messages[0].content"),
    ({"temperature": 2.5}, "temperature"),
    ({"top_p": 0}, "top_p"),
    ({"n": 9}, "n"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"stop": [""]}, "stop"),
    ({"top_logprobs": 21, "logprobs": True}, "top_logprobs"),
    ({"top_logprobs": 2}, "top_logprobs"),
    ({"presence_penalty": 0.5}, "presence_penalty"),
    ({"frequency_penalty": 1}, "frequency_penalty"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
    ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"logit_bias": {"11": 5}}, "logit_bias"),
    ({"chat_template_kwargs": {"add_generation_prompt": False}}, "chat_template_kwargs.add_generation_prompt"),
    ({"stream_options": {"include_usage": True}}, "stream_options"),
    ({"best_of": 2}, "best_of"),
])
def test_bad_requests_are_400_naming_the_param(served, body, param):
    secret = "患者张三，身份证号110101199003077777"
    request = {"model": "embedded", "messages": [{"role": "system", "content": secret}, *user(secret)], **body}
    extra = {key: request.pop(key) for key in ("chat_template_kwargs", "best_of") if key in request}  # not in the SDK
    with pytest.raises(openai.BadRequestError) as caught:
        served.client.chat.completions.create(**request, extra_body=extra)
    error = caught.value.body
    assert caught.value.status_code == 400 and error["param"] == param and error["type"] == "invalid_request_error"
    assert secret not in caught.value.response.text and "Traceback" not in caught.value.response.text


def test_other_errors_have_openais_shape(served):
    with pytest.raises(openai.NotFoundError) as caught:
        served.client.chat.completions.create(model="no-such-model", messages=user("x"))
    assert caught.value.code == "model_not_found" and caught.value.body["param"] == "model"
    with pytest.raises(openai.NotFoundError):
        served.client.models.retrieve("no-such-model")
    assert served.client.models.retrieve("b").id == "b"
    with pytest.raises(openai.APIStatusError) as caught:  # the prompt alone fills the 2048-token context
        served.client.chat.completions.create(model="embedded", messages=user("头痛发热，咳嗽。" * 600))
    assert caught.value.status_code == 413 and caught.value.code == "context_length_exceeded"
    cases = [  # (method, path, body, headers, status)
        ("POST", "/v1/chat/completions", b"{not json", {"content-type": "application/json"}, 400),
        ("POST", "/v1/chat/completions", b"[1, 2]", {"content-type": "application/json"}, 400),
        ("GET", "/v1/nothing-here", None, {}, 404),
        ("DELETE", "/v1/models", None, {}, 405),
    ]
    for method, path, content, headers, status in cases:
        response = served.http.request(method, path, content=content, headers=headers)
        assert response.status_code == status, response.text
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    # without a key, a bad body is a 401 (the key is checked first)
    response = httpx.post(f"{served.url}/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 401


def test_metrics_count_requests_tokens_and_latency(served, small):
    answer(served, QUESTIONS[4], "b")
    text = served.http.get("/metrics").text
    for name in ("llmtuner_requests_total", "llmtuner_prompt_tokens_total", "llmtuner_completion_tokens_total",
                 "llmtuner_request_latency_seconds_bucket", "llmtuner_time_to_first_token_seconds_bucket",
                 "llmtuner_queue_depth", "llmtuner_generations_running", "llmtuner_generations_total"):
        assert name in text, name
    assert served.metric("llmtuner_requests_total", route="/v1/chat/completions", status="200") >= 1
    assert served.metric("llmtuner_completion_tokens_total", model="b") >= 1
    assert served.metric("llmtuner_generations_running") == 0
    # each app has its own registry: the small server has not seen requests for adapter b
    assert small.metric("llmtuner_completion_tokens_total", model="b") == 0


def test_body_limit_queue_full_and_cancel_on_disconnect(small):
    big = json.dumps({"messages": user("头痛" * 3000)}).encode()
    response = small.http.post("/v1/chat/completions", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"

    def chunked():  # no Content-Length: the server counts what arrives
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield "头痛".encode() * 200
        yield b'"}]}'

    response = small.http.post("/v1/chat/completions", content=chunked(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.request.headers["transfer-encoding"] == "chunked"
    assert response.json()["error"]["code"] == "request_too_large"

    long = {"messages": user(QUESTIONS[0]), "max_tokens": 1500, "stream": True}
    with small.http.stream("POST", "/v1/chat/completions", json=long) as stream:
        lines = stream.iter_lines()
        assert next(lines).startswith("data: ")  # the role chunk: the generation is running
        with pytest.raises(openai.RateLimitError) as caught:
            small.client.chat.completions.create(model="embedded", messages=user("x"), max_tokens=2)
        assert caught.value.response.headers["retry-after"].isdigit() and caught.value.code == "rate_limit_exceeded"
        raw = small.http.post("/v1/chat/completions", json={"messages": user("x")})
        assert raw.status_code == 429 and int(raw.headers["Retry-After"]) >= 1
        for _ in range(3):
            next(lines)
    # the client left after a few tokens: the generation stops early
    wait_for(lambda: small.metric("llmtuner_generations_total", finish_reason="cancelled") == 1)
    record = last_audit(small.audit, lambda r: r["status"] == 499)
    assert record["finish_reasons"] == ["cancelled"] and record["completion_tokens"] < 1500

    with pytest.raises(httpx.ReadTimeout):  # non-streaming: a client that gives up is noticed while it waits
        small.http.post("/v1/chat/completions", json={**long, "stream": False}, timeout=1.0)
    wait_for(lambda: small.metric("llmtuner_generations_total", finish_reason="cancelled") == 2)
    assert answer(small, QUESTIONS[1], max_tokens=3)  # and the server serves the next one
    assert last_audit(small.audit, lambda r: r["status"] == 499, after=1)["completion_tokens"] < 1500


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def audit_records(path, where):
    return [record for record in map(json.loads, path.read_text(encoding="utf-8").splitlines()) if where(record)]


def last_audit(path, where, after=0, timeout=10.0):
    """The newest matching audit record once there are more than `after` of them: the server writes a request's
    record when its last generation has finished, which can be just after the response reached the client."""
    deadline = time.monotonic() + timeout
    while len(records := audit_records(path, where)) <= after and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(records) > after, "the audit record of the request never appeared"
    return records[-1]


def test_audit_log_has_ids_and_counts_never_text(served):
    secret = "患者李四，孕12周，咳嗽三天"
    assert httpx.post(f"{served.url}/v1/chat/completions", json={"messages": user(secret)}).status_code == 401
    ours = lambda r: r["route"] == "/v1/chat/completions" and r["model"] == "a"  # noqa: E731
    before = len(audit_records(served.audit, ours))
    reply = served.client.chat.completions.create(model="a", messages=user(secret), max_tokens=4)
    record = last_audit(served.audit, ours, after=before)
    text = served.audit.read_text(encoding="utf-8")
    assert reply.choices[0].message.content and reply.choices[0].message.content not in text
    assert secret not in text and KEY not in text
    assert record["key_id"] == key_id(KEY) and record["status"] == 200 and record["completion_tokens"] == 4
    assert record["prompt_tokens"] == reply.usage.prompt_tokens and re.fullmatch(r"[0-9a-f]{64}", record["prompt_sha256"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT.*", record["time"]) and record["latency_s"] > 0
    assert any(r["status"] == 401 and r["key_id"] is None for r in map(json.loads, text.splitlines()))


class FixedAnswerEngine:
    """Test double of a serving engine: every request is answered `answer` (a few characters per event, then the
    Completion), through the real RequestHandle; finish_reason "error" plays an engine failure."""

    def __init__(self, real, answer: str, finish_reason: str = "stop") -> None:
        self.tokenizer, self.template, self.context_length = real.tokenizer, real.template, real.context_length
        self.model_names = ["embedded"]
        self.answer, self.finish_reason = answer, finish_reason

    def submit(self, request):
        if self.finish_reason == "raise":
            raise RuntimeError(f"bug while handling {self.tokenizer.decode(request.prompt_ids)}")
        loop = asyncio.get_running_loop()
        handle = RequestHandle(request, loop)
        text = "" if self.finish_reason == "error" else self.answer
        for start in range(0, len(text), 3):
            loop.call_soon(handle.sink, Event(text=text[start:start + 3]))
        loop.call_soon(handle.sink, Event(completion=Completion(text, self.finish_reason, len(request.prompt_ids), len(text))))
        return handle

    def queue_depth(self) -> int:
        return 0

    def close(self) -> None:
        pass


def double_server(small, mode: str, finish_reason: str = "stop") -> Served:
    engine = FixedAnswerEngine(small.engine, HARMFUL, finish_reason)
    return Served([*BASE, "--safety", mode], engine=engine)


def test_safety_annotate_refuse_and_off_with_a_fixed_answer_double(small):
    annotate = double_server(small, "annotate")
    try:
        reply = annotate.client.chat.completions.create(model="embedded", messages=user("水肿怎么治"))
        assert reply.choices[0].message.content == HARMFUL
        safety = reply.choices[0].model_extra["x_safety"]
        assert safety["refused"] is False and [flag["rule"] for flag in safety["flags"]] == ["甘草反甘遂"]
        chunks = list(annotate.client.chat.completions.create(model="embedded", messages=user("水肿怎么治"), stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == HARMFUL
        assert chunks[-1].choices[0].model_extra["x_safety"] == safety and len(chunks) > 3  # streamed in pieces
    finally:
        annotate.close()
    refuse = double_server(small, "refuse")
    try:
        reply = refuse.client.chat.completions.create(model="embedded", messages=user("水肿怎么治"), logprobs=True)
        choice = reply.choices[0]
        assert choice.message.content == REFUSAL.format(rules="甘草反甘遂") and choice.finish_reason == "content_filter"
        assert choice.model_extra["x_safety"]["refused"] is True and choice.logprobs is None
        body = {"messages": user("水肿怎么治"), "stream": True}
        with refuse.http.stream("POST", "/v1/chat/completions", json=body) as response:
            raw = response.read().decode()
        assert "甘遂同用" not in raw and raw.rstrip().endswith("data: [DONE]")  # not even a piece of it was sent
        chunks = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: {")]
        assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == choice.message.content
        assert chunks[-1]["choices"][0]["x_safety"]["refused"] is True
    finally:
        refuse.close()
    off = double_server(small, "off")
    try:
        raw = off.http.post("/v1/chat/completions", json={"messages": user("水肿怎么治")}).json()
        assert raw["choices"][0]["message"]["content"] == HARMFUL and "x_safety" not in raw["choices"][0]
    finally:
        off.close()


def test_engine_error_is_a_generic_500(small):
    failing = double_server(small, "annotate", finish_reason="error")
    try:
        with pytest.raises(openai.InternalServerError) as caught:
            failing.client.chat.completions.create(model="embedded", messages=user("x"))
        assert caught.value.body["type"] == "server_error" and "Traceback" not in caught.value.response.text
        with pytest.raises(openai.APIError):
            list(failing.client.chat.completions.create(model="embedded", messages=user("x"), stream=True))
    finally:
        failing.close()
    buggy = double_server(small, "annotate", finish_reason="raise")
    try:
        with pytest.raises(openai.InternalServerError) as caught:
            buggy.client.chat.completions.create(model="embedded", messages=user("患者王五胸痛"))
        assert "王五" not in caught.value.response.text and caught.value.body["type"] == "server_error"
        assert buggy.client.models.list().data  # the server is still up
    finally:
        buggy.close()


def test_cli_serves_on_a_free_port(tmp_path):
    env = child_env(LLMTUNER_API_KEYS=KEY)
    process = subprocess.Popen([sys.executable, "-m", "llmtuner.cli", "api", *BASE, "--port", "0"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    try:
        deadline = time.monotonic() + 120
        while not any("llmtuner api: serving" in line for line in output):
            assert process.poll() is None and time.monotonic() < deadline, "".join(output)
            output.append(process.stdout.readline())
        url = re.search(r"at (http://127\.0\.0\.1:\d+)/v1", output[-1]).group(1)
        assert "embedded" in output[-1] and KEY not in "".join(output)
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
        assert client.chat.completions.create(model="embedded", messages=user("头痛"), max_tokens=3).usage.completion_tokens == 3
        assert httpx.get(f"{url}/health").json()["models"] == ["embedded"]
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    text = "".join(output) + rest
    assert process.returncode == 0, text
    assert "头痛" not in text and KEY not in text  # the access log and our INFO lines carry no text, no key


@pytest.mark.slow
def test_load_200_requests_at_concurrency_1_8_32_lose_nothing(served):
    cases = [(question, model) for question in QUESTIONS for model in ("embedded", "a", "b")]
    single = {case: answer(served, case[0], case[1], max_tokens=8) for case in cases}

    async def run(concurrency: int) -> list[tuple[tuple[str, str], str]]:
        gate = asyncio.Semaphore(concurrency)
        async with openai.AsyncOpenAI(**served.aclient_args) as client:
            async def one(index: int):
                case = cases[index % len(cases)]
                async with gate:
                    reply = await client.chat.completions.create(model=case[1], messages=user(case[0]), max_tokens=8)
                return case, reply.choices[0].message.content

            return await asyncio.gather(*[one(index) for index in range(200)])

    for concurrency in (1, 8, 32):
        started = time.monotonic()
        results = asyncio.run(run(concurrency))
        assert len(results) == 200
        wrong = [(case, text) for case, text in results if text != single[case]]
        assert wrong == [], f"concurrency {concurrency}: {len(wrong)} answers differ from the single-request answer"
        print(f"concurrency {concurrency}: 200 requests in {time.monotonic() - started:.1f} s")
    assert served.metric("llmtuner_generations_running") == 0


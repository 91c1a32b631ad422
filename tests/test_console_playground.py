"""The console's chat playground: serve jobs (`llmtuner api` as a console job, checked by the serve parser before it
is accepted, on a console-chosen loopback port with a console-made key in a 0600 file) and the playground routes
that ask its base model and its LoRA adapter the same question.

The slow test runs a real serve job on the embedded model with one random LoRA adapter, started by the real
scheduler and executor, and checks the base's greedy answer against the evaluator's generation for the same prompt
(as tests/test_serve_api.py does for `llmtuner api` itself).
"""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest
from conftest import random_lora_adapter
from console_support import group_gone, running_console, settings_for

QUESTION = "头痛发热怎么办？"
MAX_NEW_TOKENS = 16


def serve_config(**extra: object) -> dict[str, object]:
    return {"model_name_or_path": "embedded", "template": "shuzhiqihuang", "max_new_tokens": MAX_NEW_TOKENS, **extra}


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.fixture
def idle_console(tmp_path):
    """No scheduler thread: jobs stay PENDING, so the checks of a serve job's config need no model server."""
    with running_console(settings_for(tmp_path, f"sqlite:///{tmp_path / 'console.db'}", start_scheduler=False)) as console:
        yield console


def test_serve_config_is_checked_and_the_console_owns_host_port_and_key(idle_console):
    console = idle_console
    typo = console.post("/api/jobs", "engineer", json={"kind": "serve", "name": "s", "config": serve_config(max_concurency=2)})
    assert typo.status_code == 422, typo.text
    problem = typo.json()["detail"][0]
    assert problem["loc"] == ["body", "config", "max_concurency"] and "max_concurrency" in problem["msg"]
    for key, value in (("host", "0.0.0.0"), ("port", 9000), ("api_key", "mine"), ("api_key_file", "/tmp/keys")):
        owned = console.post("/api/jobs", "engineer", json={"kind": "serve", "name": "s", "config": serve_config(**{key: value})})
        assert owned.status_code == 422 and owned.json()["detail"][0]["loc"] == ["body", "config", key], owned.text
    bad_adapter = console.post("/api/jobs", "engineer", json={"kind": "serve", "name": "s",
                                                              "config": serve_config(adapters=["tuned=/no/such/folder"])})
    assert bad_adapter.status_code == 422 and "/no/such/folder" in bad_adapter.json()["detail"][0]["msg"]
    assert console.get("/api/jobs").json()["total"] == 0

    first = console.post("/api/jobs", "engineer", json={"kind": "serve", "name": "srv", "config": serve_config()})
    second = console.post("/api/jobs", "engineer", json={"kind": "serve", "name": "srv2", "config": serve_config()})
    assert first.status_code == 201 and second.status_code == 201, first.text
    job = first.json()
    config = job["config"]
    assert job["kind"] == "serve" and job["output_dir"] == "" and config["host"] == "127.0.0.1"
    assert isinstance(config["port"], int) and config["port"] != second.json()["config"]["port"]
    key_file = Path(config["api_key_file"])
    assert key_file.parent == Path(job["job_dir"]) and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert len(key) >= 32 and "api_key" not in config
    for answer in (first, console.get(f"/api/jobs/{job['id']}"), console.get("/api/jobs"), console.get("/api/audit")):
        assert key not in answer.text

    servers = console.get("/api/playground/servers", "viewer").json()["items"]
    assert [(server["job_id"], server["ready"]) for server in servers] == [(second.json()["id"], False), (job["id"], False)]
    assert "PENDING" in servers[1]["message"] and servers[1]["models"] == []

    assert console.post(f"/api/playground/{job['id']}/chat", "viewer", json={"model": "embedded", "messages": user("x")}
                        ).status_code == 403
    waiting = console.post(f"/api/playground/{job['id']}/chat", "engineer",
                           json={"model": "embedded", "messages": user(QUESTION)})
    assert waiting.status_code == 409 and "PENDING" in waiting.json()["detail"]
    bad = console.post(f"/api/playground/{job['id']}/chat", "engineer", json={"model": "embedded", "messages": user("x"),
                                                                             "temperature": 5})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "temperature"
    assert console.post("/api/playground/999/chat", "engineer", json={"model": "embedded", "messages": user("x")}
                        ).status_code == 404
    entry = next(entry for entry in console.get("/api/audit").json()["items"] if entry["action"] == "playground.chat")
    assert entry["outcome"] == "error" and entry["detail"]["status"] == 409 and QUESTION not in str(entry)

    stopped = console.post(f"/api/jobs/{job['id']}/stop", "engineer").json()
    assert stopped["status"] == "STOPPED"
    restarted = console.post(f"/api/jobs/{job['id']}/restart", "engineer").json()
    assert restarted["config"]["port"] != second.json()["config"]["port"]
    assert restarted["config"]["api_key_file"] == config["api_key_file"]


def reference_answer(question: str) -> str:
    """The evaluator's greedy generation (llmtuner.eval.generate) for the prompt the server renders."""
    import torch

    from llmtuner.eval.generate import generate_batches
    from llmtuner.hparams.serve_parser import parse_serve_args
    from llmtuner.serve.engine import load_serving_engine
    from llmtuner.serve.prompts import render_prompt

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    config = parse_serve_args("api", config={**serve_config(), "api_key": ["reference-only"]})
    engine = load_serving_engine(config)
    try:
        prompt = render_prompt(engine.template, engine.tokenizer, None, user(question), None, True)
        answers: dict[int, str] = {}
        for batch in generate_batches(engine.model, engine.tokenizer, [prompt], config.generating.to_generate_kwargs(), 1,
                                      engine.stop_ids):
            answers.update(dict(batch))
        return answers[0]
    finally:
        engine.close()
        torch.set_num_threads(threads)


def wait_ready(console, job_id: int, timeout: float = 240.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        servers = {server["job_id"]: server for server in console.get("/api/playground/servers", "viewer").json()["items"]}
        if servers.get(job_id, {}).get("ready"):
            return servers[job_id]
        job = console.get(f"/api/jobs/{job_id}").json()
        assert job["status"] in ("PENDING", "PREPARING", "RUNNING"), job["error"]
        if time.monotonic() > deadline:
            log = Path(job["job_dir"]) / "job.log"
            raise AssertionError(f"serve job {job_id} not ready after {timeout} s: {servers.get(job_id)}; log tail:\n"
                                 f"{log.read_text()[-3000:] if log.is_file() else '(none)'}")
        time.sleep(0.5)


@pytest.mark.slow
def test_playground_asks_base_and_adapter_of_a_real_serve_job(tmp_path, tiny_model_dir):
    adapter = random_lora_adapter(tiny_model_dir, tmp_path / "adapter" / "lora", 1, alpha=16,
                                  targets=("q_proj", "v_proj", "down_proj"))
    settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'console.db'}", stop_grace_s=20.0)
    with running_console(settings) as console:
        created = console.post("/api/jobs", "engineer", json={"kind": "serve", "name": "playground",
                                                              "config": serve_config(adapters=[f"tuned={adapter}"])})
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        early = console.post(f"/api/playground/{job_id}/chat", "engineer", json={"model": "embedded", "messages": user("x")})
        assert early.status_code in (409, 503), early.text  # not running yet, or still loading its model
        server = wait_ready(console, job_id)
        assert server["models"] == ["embedded", "tuned"] and server["base"] == "embedded" and server["adapters"] == ["tuned"]

        answers = {}
        for model in ("embedded", "tuned"):
            reply = console.post(f"/api/playground/{job_id}/chat", "engineer", json={"model": model, "messages": user(QUESTION)})
            assert reply.status_code == 200, reply.text
            body = reply.json()
            assert body["model"] == model and body["content"] and body["finish_reason"] in ("stop", "length")
            assert 0 < body["usage"]["completion_tokens"] <= MAX_NEW_TOKENS and body["safety"] == {"flags": [], "refused": False}
            answers[model] = body["content"]
        assert answers["embedded"] != answers["tuned"]  # the adapter is applied to its model only
        assert answers["embedded"] == reference_answer(QUESTION)
        follow_up = [*user(QUESTION), {"role": "assistant", "content": answers["tuned"]}, *user("还有别的办法吗？")]
        again = console.post(f"/api/playground/{job_id}/chat", "admin", json={"model": "tuned", "messages": follow_up,
                                                                             "max_tokens": 4, "temperature": 0.7, "seed": 3})
        assert again.status_code == 200 and again.json()["usage"]["completion_tokens"] <= 4, again.text

        unknown = console.post(f"/api/playground/{job_id}/chat", "engineer", json={"model": "nope", "messages": user(QUESTION)})
        assert unknown.status_code == 404 and "nope" in unknown.json()["detail"], unknown.text
        assert console.post(f"/api/playground/{job_id}/chat", "viewer",
                            json={"model": "embedded", "messages": user(QUESTION)}).status_code == 403

        entries = [entry for entry in console.get("/api/audit", params={"limit": 100}).json()["items"]
                   if entry["action"] == "playground.chat"]
        assert sorted(entry["detail"]["status"] for entry in entries if entry["detail"]["prompt_chars"] > 1) == [200, 200, 200, 404]
        for entry in entries:
            text = str(entry)
            assert QUESTION not in text and answers["embedded"] not in text and answers["tuned"] not in text
            assert len(entry["detail"]["prompt_sha256"]) == 64
        job = console.get(f"/api/jobs/{job_id}").json()
        key = Path(job["config"]["api_key_file"]).read_text().strip()
        log = (Path(job["job_dir"]) / "job.log").read_text()
        assert "llmtuner api: serving embedded, tuned at http://127.0.0.1:" in log
        assert key not in log and QUESTION not in log and key not in str(entries)

        assert console.post(f"/api/jobs/{job_id}/stop", "engineer").status_code == 200
        stopped = console.wait_for(job_id, ("STOPPED", "FAILED", "COMPLETED"), timeout=60)
        assert stopped["status"] == "STOPPED" and group_gone(job["pid"])
        after = console.post(f"/api/playground/{job_id}/chat", "engineer", json={"model": "embedded", "messages": user(QUESTION)})
        assert after.status_code == 409 and "STOPPED" in after.json()["detail"] and "restart" in after.json()["detail"]
        assert console.get("/api/playground/servers").json()["items"] == []

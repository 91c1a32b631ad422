"""The console's REST API in-process (FastAPI's TestClient), on SQLite and on PostgreSQL (LLMTUNER_TEST_DATABASE_URL;
required under CI=true): sign-in, roles, CSRF, rate limit, audit, datasets, jobs with real `llmtuner train` runs
on the embedded model, stop without orphans, and reconciling after a restart of the console."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from console_support import (
    DATABASES,
    PASSWORDS,
    alpaca_bytes,
    database_url,
    group_gone,
    running_console,
    settings_for,
    sft_config,
    upload,
)


@pytest.fixture(params=DATABASES)
def db_url(request, tmp_path):
    with database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def console(tmp_path, db_url):
    with running_console(settings_for(tmp_path, db_url)) as running:
        yield running


# --- sign-in, roles, CSRF, rate limit, audit ------------------------------------------------------------------------


def test_sign_in_roles_and_csrf(console):
    client = console.client
    assert client.get("/api/health").json()["status"] == "ok"
    assert client.get("/api/datasets").status_code == 401
    assert client.get("/api/datasets", headers={"Authorization": "Bearer nope"}).status_code == 401
    wrong = client.post("/api/auth/login", json={"username": "admin", "password": "not-the-password"})
    assert wrong.status_code == 401 and "Wrong username or password" in wrong.json()["detail"]
    assert client.post("/api/auth/login", json={"username": "nobody", "password": "x" * 12}).status_code == 401

    assert console.get("/api/auth/me", "viewer").json()["role"] == "viewer"
    assert console.get("/api/datasets", "viewer").status_code == 200
    denied = console.post("/api/jobs", "viewer", json={"kind": "train", "name": "x", "config": {}})
    assert denied.status_code == 403 and "may only read" in denied.json()["detail"]
    assert console.post("/api/models", "viewer", json={"name": "m", "path": "/tmp"}).status_code == 403
    assert console.get("/api/users", "engineer").status_code == 403
    assert console.get("/api/audit", "engineer").status_code == 403
    assert console.get("/api/users", "admin").json()["total"] == 3

    # the browser: HttpOnly session cookie + CSRF double submit on writes
    from fastapi.testclient import TestClient

    with TestClient(console.app) as browser:
        signed_in = browser.post("/api/auth/login", json={"username": "engineer", "password": PASSWORDS["engineer"]})
        set_cookie = signed_in.headers.get_list("set-cookie")
        assert any(c.startswith("llmtuner_session=") and "HttpOnly" in c and "SameSite=strict" in c for c in set_cookie)
        assert any(c.startswith("llmtuner_csrf=") and "HttpOnly" not in c for c in set_cookie)
        assert browser.get("/api/auth/me").json()["username"] == "engineer"  # reads need no CSRF token
        body = {"name": "m1", "path": str(Path(console.settings.data_dir))}
        refused = browser.post("/api/models", json=body)
        assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
        assert browser.post("/api/models", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
        csrf = signed_in.json()["csrf_token"]
        assert browser.cookies.get("llmtuner_csrf") == csrf
        accepted = browser.post("/api/models", json=body, headers={"X-CSRF-Token": csrf})
        assert accepted.status_code == 422 and "not a model folder" in accepted.json()["detail"][0]["msg"]  # past CSRF
        assert browser.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert browser.get("/api/auth/me").status_code == 401
    assert console.post("/api/auth/logout", "viewer").status_code == 204  # bearer: no CSRF token needed
    assert console.get("/api/auth/me", "viewer").status_code == 401


def test_login_rate_limit_and_audit(tmp_path, db_url):
    settings = settings_for(tmp_path, db_url, login_failures_per_user=3, login_attempts_per_address=50)
    with running_console(settings) as console:
        client = console.client
        for _ in range(3):
            assert client.post("/api/auth/login", json={"username": "viewer", "password": "guess-guess-guess"}).status_code == 401
        limited = client.post("/api/auth/login", json={"username": "viewer", "password": PASSWORDS["viewer"]})
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
        assert "Too many sign-in attempts" in limited.json()["detail"]
        assert client.post("/api/auth/login", json={"username": "admin", "password": PASSWORDS["admin"]}).status_code == 200

        created = console.post("/api/users", json={"username": "nurse", "password": "short", "role": "viewer"})
        assert created.status_code == 422 and created.json()["detail"][0]["loc"] == ["body", "password"]
        created = console.post("/api/users", json={"username": "nurse", "password": "a-long-passphrase", "role": "viewer"})
        assert created.status_code == 201
        user_id = created.json()["id"]
        promoted = console.client.patch(f"/api/users/{user_id}", json={"role": "engineer"}, headers=console.headers("admin"))
        assert promoted.json()["role"] == "engineer"
        last_admin = console.client.patch("/api/users/1", json={"role": "viewer"}, headers=console.headers("admin"))
        assert last_admin.status_code == 409
        assert console.delete(f"/api/users/{user_id}").status_code == 204

        entries = console.get("/api/audit", params={"limit": 100}).json()["items"]
        actions = [(entry["action"], entry["outcome"]) for entry in entries]
        assert actions.count(("auth.login", "failed")) == 3 and ("auth.login", "limited") in actions
        assert {("user.create", "ok"), ("user.update", "ok"), ("user.delete", "ok")} <= set(actions)
        text = str(entries)
        assert "a-long-passphrase" not in text and "guess-guess-guess" not in text  # no password ever


def test_changes_to_a_user_count_at_once(console):
    """Sign-ins are remembered for a few seconds between requests; a change to the user drops them at once."""
    users = {user["username"]: user["id"] for user in console.get("/api/users").json()["items"]}
    assert console.get("/api/auth/me", "viewer").status_code == 200  # remembered now
    patch = console.client.patch
    assert patch(f"/api/users/{users['viewer']}", json={"role": "engineer"}, headers=console.headers("admin")).status_code == 200
    assert console.get("/api/auth/me", "viewer").json()["role"] == "engineer"
    assert console.post("/api/models", "viewer", json={"name": "m", "path": "/nonexistent"}).status_code == 422  # may write
    assert console.get("/api/datasets", "engineer").status_code == 200
    assert patch(f"/api/users/{users['engineer']}", json={"disabled": True}, headers=console.headers("admin")).status_code == 200
    assert console.get("/api/datasets", "engineer").status_code == 401
    assert console.delete(f"/api/users/{users['viewer']}").status_code == 204
    assert console.get("/api/datasets", "viewer").status_code == 401


# --- datasets ------------------------------------------------------------------------------------------------------


def test_dataset_upload_preview_and_delete(console):
    made = upload(console, "qa_small", alpaca_bytes(), "qa.json")
    assert made.status_code == 201, made.text
    dataset = made.json()
    assert (dataset["format"], dataset["num_samples"], dataset["file_type"]) == ("alpaca", 16, "json")
    assert len(dataset["sha256"]) == 64 and dataset["used_by_jobs"] == []
    assert set(dataset["deidentification"]) == {"counts", "records_with_identifiers"}
    info = (console.settings.datasets_dir / "dataset_info.json").read_text(encoding="utf-8")
    assert '"qa_small"' in info and '"formatting": "alpaca"' in info
    assert upload(console, "qa_small", alpaca_bytes(), "qa.json").status_code == 409
    assert upload(console, "qa_viewer", alpaca_bytes(), "qa.json", role="viewer").status_code == 403

    csv_text = ("instruction,input,output\n问：高血压患者饮食注意什么？,,少盐少油\n问：失眠怎么办？,,\n"
                "问：感冒发热,,多喝水\n").encode()
    broken = upload(console, "broken_csv", csv_text, "broken.csv")
    assert broken.status_code == 422
    problem = broken.json()["detail"][0]
    assert problem["line"] == "line 3" and "no answer in `output`" in problem["msg"] and problem["loc"] == ["body", "file"]
    assert "失眠" not in broken.text  # the record is named, never echoed
    bad_jsonl = b'{"instruction": "a", "output": "b"}\n{"instruction": "c", "output": \n'
    broken = upload(console, "broken_jsonl", bad_jsonl, "b.jsonl")
    assert broken.status_code == 422 and "line 2" in broken.json()["detail"][0]["msg"]
    assert upload(console, "wrong_type", b"x", "notes.docx").status_code == 422
    too_big = upload(console, "huge", b"[" + b'{"text": "x"},' * 120_000 + b'{"text": "x"}]', "huge.json")
    assert too_big.status_code == 413

    phones = alpaca_bytes([{"instruction": "患者电话13812345678，请回访", "output": "好的"}])
    scanned = upload(console, "with_phone", phones, "p.jsonl").json()
    assert scanned["deidentification"]["counts"].get("mobile") == 1 and scanned["deidentification"]["records_with_identifiers"] == 1
    text = upload(console, "corpus", "第一段。\n第二段。\n".encode(), "corpus.txt").json()
    assert (text["format"], text["num_samples"]) == ("text", 2)
    pairs = b'[{"instruction": "q", "chosen": "good answer", "rejected": "bad answer"}]'
    assert upload(console, "pairs", pairs, "pairs.json").json()["format"] == "preference"
    same = upload(console, "same_pairs", b'[{"instruction": "q", "chosen": "same", "rejected": "same"}]', "p.json")
    assert same.status_code == 422 and "`rejected`" in same.json()["detail"][0]["msg"]

    preview = console.get(f"/api/datasets/{dataset['id']}/preview", "viewer", params={"rows": 2, "cutoff_len": 128})
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert len(body["rows"]) == 2 and body["stats"]["samples"] == 16 and body["stats"]["tokens"]["max"] <= 128
    segments = body["rows"][0]["segments"]
    assert {segment["learned"] for segment in segments} == {True, False}  # prompt masked, answer learned
    assert console.get(f"/api/datasets/{dataset['id']}/preview", params={"model": "nope"}).status_code == 422

    job = console.post("/api/jobs", "engineer", json={"kind": "train", "name": "holds-data",
                                                      "config": sft_config("qa_small"), "priority": 1})
    assert job.status_code == 201, job.text
    job_id = job.json()["id"]
    assert console.get(f"/api/datasets/{dataset['id']}").json()["used_by_jobs"] == [job_id]
    refused = console.delete(f"/api/datasets/{dataset['id']}", "engineer")
    assert refused.status_code == 409 and str(job_id) in refused.json()["detail"]
    console.post(f"/api/jobs/{job_id}/stop", "engineer")
    console.wait_for(job_id, ("STOPPED",))
    assert console.delete(f"/api/datasets/{dataset['id']}", "engineer").status_code == 204
    assert '"qa_small"' not in (console.settings.datasets_dir / "dataset_info.json").read_text(encoding="utf-8")
    assert console.get(f"/api/datasets/{dataset['id']}").status_code == 404
    actions = [entry["action"] for entry in console.get("/api/audit").json()["items"]]
    assert actions.count("dataset.create") == 4 and "dataset.delete" in actions and "job.create" in actions


# --- jobs ----------------------------------------------------------------------------------------------------------


def test_job_config_is_checked_before_it_is_accepted(console):
    typo = console.post("/api/jobs", "engineer", json={"kind": "train", "name": "typo",
                                                       "config": {**sft_config("anything"), "learning_rte": 1e-3}})
    assert typo.status_code == 422
    problem = typo.json()["detail"][0]
    assert problem["loc"] == ["body", "config", "learning_rte"] and "learning_rate" in problem["msg"]
    unknown = console.post("/api/jobs", "engineer", json={"kind": "train", "name": "x", "config": sft_config("no_such_data")})
    assert unknown.status_code == 422 and "no_such_data" in unknown.json()["detail"][0]["msg"]
    gpus = console.post("/api/jobs", "engineer", json={"kind": "train", "name": "x", "config": sft_config("x"), "gpus": 2})
    assert gpus.status_code == 422 and gpus.json()["detail"][0]["loc"] == ["body", "gpus"]
    assert console.get("/api/jobs").json()["total"] == 0  # nothing was accepted


@pytest.mark.slow
def test_sft_job_runs_to_completion_and_registers_its_adapter(console):
    assert upload(console, "qa_small", alpaca_bytes(), "qa.json").status_code == 201
    created = console.post("/api/jobs", "engineer", json={"kind": "train", "name": "tiny-sft", "config": sft_config("qa_small")})
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["status"] == "PENDING" and job["config"]["output_dir"].endswith(f"jobs/{job['id']}/output")
    done = console.wait_for(job["id"], ("COMPLETED", "FAILED"))
    assert done["status"] == "COMPLETED", done["error"]
    assert [event["to_status"] for event in done["history"]] == ["PENDING", "PREPARING", "RUNNING", "COMPLETED"]
    assert done["exit_code"] == 0 and done["devices"] == ["cpu"]

    metrics = console.get(f"/api/jobs/{job['id']}/metrics", "viewer").json()
    assert [point["step"] for point in metrics["train"]] == [1, 2, 3, 4]
    assert all(point["loss"] > 0 and point["lr"] is not None for point in metrics["train"])
    assert metrics["total_steps"] == 4 and metrics["results"]["train_loss"] > 0
    later = console.get(f"/api/jobs/{job['id']}/metrics", params={"since_step": 2}).json()
    assert [point["step"] for point in later["train"]] == [3, 4]

    logs = console.get(f"/api/jobs/{job['id']}/logs", "viewer", params={"tail": 5}).json()
    assert len(logs["lines"]) == 5 and logs["status"] == "COMPLETED"
    warnings = console.get(f"/api/jobs/{job['id']}/logs", params={"tail": 1000, "level": "WARNING"}).json()["lines"]
    assert all(line["level"] in ("WARNING", "ERROR", "CRITICAL") for line in warnings)
    found = console.get(f"/api/jobs/{job['id']}/logs", params={"tail": 1000, "search": "train_loss"}).json()["lines"]
    assert found and all("train_loss" in line["text"] for line in found)

    models = console.get("/api/models").json()["items"]
    adapter = next(model for model in models if model["job_id"] == job["id"])
    assert adapter["name"] == "tiny-sft" and adapter["kind"] == "adapter" and adapter["template"] == "shuzhiqihuang"
    assert adapter["config"]["model_name_or_path"] == "embedded" and adapter["config"]["adapter_name_or_path"] == adapter["path"]
    assert adapter["architecture"] == "LORA adapter" and adapter["num_parameters"] > 0

    dashboard = console.get("/api/dashboard", "viewer").json()
    assert dashboard["counts"]["jobs_by_status"]["COMPLETED"] == 1 and dashboard["counts"]["datasets"] == 1
    assert dashboard["recent_jobs"][0]["id"] == job["id"] and dashboard["system"]["memory"]["total_bytes"] > 0
    assert console.post(f"/api/jobs/{job['id']}/restart", "engineer").status_code == 409  # COMPLETED stays so
    assert console.delete(f"/api/jobs/{job['id']}", "engineer", params={"delete_files": True}).status_code == 204
    assert not Path(done["job_dir"]).exists()
    assert all(model["job_id"] != job["id"] for model in console.get("/api/models").json()["items"])


@pytest.mark.slow
def test_stopping_a_running_job_leaves_no_process_and_restart_queues_it(console):
    assert upload(console, "qa_small", alpaca_bytes(), "qa.json").status_code == 201
    config = sft_config("qa_small", max_steps=100000, save_steps=100000, overwrite_output_dir=True)
    job = console.post("/api/jobs", "engineer", json={"kind": "train", "name": "long", "config": config}).json()
    waiting = console.post("/api/jobs", "engineer", json={"kind": "train", "name": "queued", "config": sft_config("qa_small")}).json()
    running = console.wait_for(job["id"], ("RUNNING",))
    time.sleep(1.0)
    assert console.get(f"/api/jobs/{waiting['id']}").json()["status"] == "PENDING"  # one CPU slot: it waits
    assert console.post(f"/api/jobs/{waiting['id']}/stop", "engineer").json()["status"] == "STOPPED"
    stopping = console.post(f"/api/jobs/{job['id']}/stop", "engineer").json()
    assert stopping["stop_requested"] is True
    stopped = console.wait_for(job["id"], ("STOPPED", "FAILED", "COMPLETED"), timeout=60)
    assert stopped["status"] == "STOPPED" and stopped["history"][-1]["reason"] == "stopped on request"
    assert group_gone(running["pid"])
    assert console.post(f"/api/jobs/{job['id']}/stop", "engineer").status_code == 409

    restarted = console.post(f"/api/jobs/{job['id']}/restart", "engineer").json()
    assert restarted["status"] in ("PENDING", "PREPARING", "RUNNING") and restarted["config"]["overwrite_output_dir"] is False
    again = console.wait_for(job["id"], ("RUNNING",))
    assert again["attempts"] == 2
    assert console.delete(f"/api/jobs/{job['id']}", "engineer").status_code == 409  # running: stop it first
    console.post(f"/api/jobs/{job['id']}/stop", "engineer")
    console.wait_for(job["id"], ("STOPPED",), timeout=60)
    assert group_gone(again["pid"])


@pytest.mark.slow
def test_restart_of_the_console_reconciles_its_jobs(tmp_path, db_url):
    settings = settings_for(tmp_path, db_url, cpu_slots=2)
    long = sft_config("qa_small", max_steps=100000, save_steps=100000)
    with running_console(settings) as first:
        assert upload(first, "qa_small", alpaca_bytes(), "qa.json").status_code == 201
        lost = first.post("/api/jobs", "engineer", json={"kind": "train", "name": "lost", "config": long}).json()
        kept = first.post("/api/jobs", "engineer", json={"kind": "train", "name": "kept", "config": long}).json()
        lost, kept = first.wait_for(lost["id"], ("RUNNING",)), first.wait_for(kept["id"], ("RUNNING",))
        log = Path(lost["job_dir"]) / "job.log"
        deadline = time.monotonic() + 60
        while (not log.is_file() or not log.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.2)
    # the console is gone (its jobs were not stopped); one job dies meanwhile
    os.killpg(lost["pid"], signal.SIGKILL)
    assert group_gone(lost["pid"])
    with running_console(settings) as second:
        failed = second.get(f"/api/jobs/{lost['id']}").json()
        assert failed["status"] == "FAILED" and "Last lines of the log" in failed["error"]
        assert any(line in failed["error"] for line in log.read_text().splitlines() if line.strip())
        reattached = second.get(f"/api/jobs/{kept['id']}").json()
        assert reattached["status"] == "RUNNING" and reattached["pid"] == kept["pid"]
        second.post(f"/api/jobs/{kept['id']}/stop", "engineer")
        assert second.wait_for(kept["id"], ("STOPPED",), timeout=60)["status"] == "STOPPED"
        assert group_gone(kept["pid"])


def test_the_interface_is_served_with_its_own_routes(console, tmp_path, monkeypatch):
    import llmtuner.console.app as app_module

    missing = tmp_path / "not-built"
    monkeypatch.setattr(app_module, "FRONTEND_DIST", missing)
    assert "npm run build" in console.client.get("/").text
    assert console.client.get("/jobs/3").status_code == 404
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<div id=root></div>")
    (dist / "assets" / "app.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("no")
    monkeypatch.setattr(app_module, "FRONTEND_DIST", dist)
    assert console.client.get("/").text == "<div id=root></div>"
    assert console.client.get("/assets/app.js").text == "console.log(1)"
    assert console.client.get("/jobs/3").text == "<div id=root></div>"  # the interface's own route
    assert console.client.get("/..%2Fsecret.txt").text != "no"
    unknown = console.client.get("/api/nothing-here")
    assert unknown.status_code == 404 and "openapi.json" in unknown.json()["detail"]


@pytest.mark.slow
def test_restart_resumes_from_the_last_checkpoint(tmp_path):
    """Checkpoints and resuming are the training code's (files, not the database): SQLite only."""
    with database_url("sqlite", tmp_path) as url, running_console(settings_for(tmp_path, url)) as console:
        assert upload(console, "qa_small", alpaca_bytes(), "qa.json").status_code == 201
        job = console.post("/api/jobs", "engineer", json={"kind": "train", "name": "resumable",
                                                          "config": sft_config("qa_small", max_steps=10)}).json()
        output = Path(job["output_dir"])
        deadline = time.monotonic() + 120
        def saved_past_checkpoint_2() -> bool:  # checkpoint-2 complete, and training went on after it
            log = output / "trainer_log.jsonl"
            return (output / "checkpoint-2" / "trainer_state.json").is_file() and log.is_file() and '"step": 3' in log.read_text()

        while not saved_past_checkpoint_2() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert console.post(f"/api/jobs/{job['id']}/stop", "engineer").status_code == 200
        stopped = console.wait_for(job["id"], ("STOPPED", "COMPLETED"), timeout=60)
        assert stopped["status"] == "STOPPED"
        console.post(f"/api/jobs/{job['id']}/restart", "engineer")
        done = console.wait_for(job["id"], ("COMPLETED", "FAILED"))
        assert done["status"] == "COMPLETED", done["error"]
        assert "Resuming from" in (Path(done["job_dir"]) / "job.log").read_text()
        steps = [point["step"] for point in console.get(f"/api/jobs/{job['id']}/metrics").json()["train"]]
        assert steps == list(range(1, 11))  # the resumed run redid the steps after its checkpoint, once
        assert [event["to_status"] for event in done["history"]] == [
            "PENDING", "PREPARING", "RUNNING", "STOPPED", "PENDING", "PREPARING", "RUNNING", "COMPLETED"]


@pytest.mark.slow
@pytest.mark.distributed
def test_a_train_job_on_two_gpus_runs_one_rank_per_gpu(tmp_path):
    """The console's GPU ids stand for two GPUs here: CUDA_VISIBLE_DEVICES=0,1 on a machine without CUDA, so the two
    ranks torchrun starts train on the CPU over gloo, as one data-parallel run (SQLite only: the launch is the
    executor's, not the database's)."""
    with database_url("sqlite", tmp_path) as url, running_console(settings_for(tmp_path, url, gpu_ids=(0, 1))) as console:
        assert upload(console, "qa_small", alpaca_bytes(), "qa.json").status_code == 201  # 16 samples
        job = console.post("/api/jobs", "engineer", json={"kind": "train", "name": "two-ranks", "gpus": 2,
                                                          "config": sft_config("qa_small", save_steps=100)}).json()
        done = console.wait_for(job["id"], ("COMPLETED", "FAILED"))
        assert done["status"] == "COMPLETED", done["error"]
        assert done["devices"] == [0, 1]
        log = (Path(done["job_dir"]) / "job.log").read_text()
        assert "gloo process group, rank 0 of 2" in log
        points = console.get(f"/api/jobs/{job['id']}/metrics").json()["train"]
        assert [point["step"] for point in points] == [1, 2, 3, 4]  # written once, by rank 0
        # 2 ranks x batch 4 = 8 samples a step: 4 steps are two passes over the 16 samples (one alone would be one)
        assert points[-1]["epoch"] == pytest.approx(2.0)

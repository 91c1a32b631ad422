"""The console as a user starts it: `create-user --password-stdin`, then the server (`python -m llmtuner.console.cli`)
on a free loopback port, a real training job, and its log followed live over SSE (resumed with Last-Event-ID)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx2 as httpx  # what huggingface_hub and Starlette's TestClient use (httpx's API)
import pytest
from console_support import alpaca_bytes, sft_config

ENV = dict(os.environ, HF_HUB_OFFLINE="1", WANDB_MODE="disabled", TOKENIZERS_PARALLELISM="false")
ENV.pop("LLMTUNER_CONSOLE_DATABASE_URL", None)


def _console(*args: str, password: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmtuner.console.cli", *args], input=password, capture_output=True,
                          text=True, env=ENV, timeout=120)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_create_user_reads_the_password_from_stdin(tmp_path):
    data = str(tmp_path / "console")
    short = _console("create-user", "--data_dir", data, "--username", "ann", "--role", "admin", "--password-stdin", password="short\n")
    assert short.returncode == 2 and "at least 12" in short.stderr
    made = _console("create-user", "--data_dir", data, "--username", "ann", "--role", "admin", "--password-stdin",
                    password="a long passphrase\n")
    assert made.returncode == 0 and "created user 'ann' (admin)" in made.stdout and "passphrase" not in made.stdout
    again = _console("create-user", "--data_dir", data, "--username", "ann", "--role", "viewer", "--password-stdin",
                     password="another passphrase\n")
    assert again.returncode == 2 and "exists already" in again.stderr
    no_stdin_flag = _console("create-user", "--data_dir", data, "--username", "bob", "--role", "admin")
    assert no_stdin_flag.returncode == 2 and "--password-stdin" in no_stdin_flag.stderr


def test_main_returns_the_exit_status(capsys):
    from llmtuner.console.cli import main

    assert main(["--help"]) == 0 and "llmtuner console" in capsys.readouterr().out
    assert main(["create-user", "--username", "x"]) == 2  # --role and --password-stdin missing
    assert main(["--port", "not-a-number"]) == 2


def _events(response: httpx.Response) -> list[dict]:
    events, current = [], {}
    for line in response.iter_lines():
        if not line:
            if current:
                events.append(current)
                if current.get("event") == "end":
                    return events
            current = {}
            continue
        field, _, value = line.partition(":")
        current[field] = value.lstrip(" ")
    return events


@pytest.mark.slow
def test_live_server_streams_a_training_log(tmp_path):
    data = str(tmp_path / "console")
    assert _console("create-user", "--data_dir", data, "--username", "eng", "--role", "engineer", "--password-stdin",
                    password="engineer passphrase\n").returncode == 0
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "llmtuner.console.cli", "--data_dir", data, "--port", str(port),
                               "--gpu_ids", ""], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              start_new_session=True, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/api/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
            page = client.get("/")  # the built interface, or the page saying how to build it
            assert page.status_code == 200 and ("npm run build" in page.text or '<div id="root">' in page.text)
            assert page.headers["x-frame-options"] == "DENY"
            assert "default-src 'self'" in page.headers["content-security-policy"]
            assert "swagger" not in client.get("/docs").text.lower()  # no docs page: its script would come from a CDN
            assert client.get("/openapi.json").json()["info"]["title"] == "llmtuner console"
            token = client.post("/api/auth/login", json={"username": "eng", "password": "engineer passphrase"}).json()["access_token"]
            client.headers["Authorization"] = f"Bearer {token}"
            client.cookies.clear()
            made = client.post("/api/datasets", files={"file": ("qa.json", alpaca_bytes())}, data={"name": "qa"})
            assert made.status_code == 201, made.text
            job = client.post("/api/jobs", json={"kind": "train", "name": "live", "config": sft_config("qa")}).json()
            with client.stream("GET", f"/api/jobs/{job['id']}/logs/stream", timeout=180) as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                events = _events(stream)
            lines = [json.loads(event["data"]) for event in events if event.get("event") == "line"]
            assert events[-1]["event"] == "end" and json.loads(events[-1]["data"])["status"] == "COMPLETED"
            assert any("train_loss" in line["text"] for line in lines)
            ids = [int(event["id"]) for event in events if event.get("event") == "line"]
            assert ids == sorted(ids) and len(set(ids)) == len(ids)
            middle = len(ids) // 2
            with client.stream("GET", f"/api/jobs/{job['id']}/logs/stream", headers={"Last-Event-ID": str(ids[middle])}) as again:
                resumed = [json.loads(event["data"]) for event in _events(again) if event.get("event") == "line"]
            assert resumed == lines[middle + 1:]  # a reconnecting reader goes on after the last line it saw
            with client.stream("GET", f"/api/jobs/{job['id']}/logs/stream", params={"level": "WARNING", "tail": 1000}) as only:
                warned = [json.loads(event["data"]) for event in _events(only) if event.get("event") == "line"]
            assert all(line["level"] in ("WARNING", "ERROR", "CRITICAL") for line in warned)
            assert client.get(f"/api/jobs/{job['id']}/logs/stream", headers={"Authorization": "Bearer wrong"}).status_code == 401
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
    # uvicorn shuts down cleanly, then re-raises the SIGTERM it caught
    assert server.returncode in (0, -signal.SIGTERM) and "Application shutdown complete" in output, output[-3000:]
    assert "qa.json" not in output and "问题" not in output  # the server logs no dataset text


def test_slurm_executor_without_slurm_commands_says_so_before_serving(tmp_path):
    """On a machine without Slurm's commands (PATH holds none here), `--executor slurm` ends with the reason, not a
    traceback, and does not start serving."""
    env = dict(ENV, PATH=str(tmp_path / "empty-bin"))
    done = subprocess.run([sys.executable, "-m", "llmtuner.console.cli", "--data_dir", str(tmp_path / "console"),
                           "--executor", "slurm", "--port", str(_free_port())], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "--executor slurm needs the Slurm commands on PATH; sbatch, squeue, scancel not found" in done.stderr
    assert "Traceback" not in done.stderr and "Uvicorn running" not in done.stderr
    unclosed = subprocess.run([sys.executable, "-m", "llmtuner.console.cli", "--data_dir", str(tmp_path / "console"),
                               "--executor", "slurm", "--slurm_sbatch_args=--comment='tcm"], capture_output=True,
                              text=True, env=env, timeout=120)
    assert unclosed.returncode == 2 and "--slurm_sbatch_args" in unclosed.stderr and "close its quotes" in unclosed.stderr
    assert "Traceback" not in unclosed.stderr

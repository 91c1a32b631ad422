"""The console's Slurm executor against a real single-node Slurm cluster (slurmctld + slurmd from the OS packages,
started by `bash scripts/ci_slurm.sh`, which prints the SLURM_CONF to export; .ci/run does so). No Slurm double:
without a cluster these tests skip, and under CI=true they fail.

A train job on the embedded model is submitted with sbatch, runs on the node to COMPLETED with its loss curve and
adapter; a long one is stopped (scancel TERM, then KILL) and leaves no process; one the console did not stop
survives a console restart and is re-attached; a job Slurm refuses (no such partition) fails with Slurm's words.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import skip_or_fail
from console_support import alpaca_bytes, running_console, settings_for, sft_config, upload

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slurm() -> str:
    """The node's name, once Slurm answers (SLURM_CONF set, controller up, node idle or busy)."""
    if not os.environ.get("SLURM_CONF") or shutil.which("sinfo") is None:
        skip_or_fail("no Slurm cluster: `export SLURM_CONF=$(bash scripts/ci_slurm.sh)` starts a single-node one")
    done = subprocess.run(["sinfo", "-h", "-o", "%n %T"], capture_output=True, text=True, timeout=30)
    if done.returncode != 0 or not done.stdout.strip():
        skip_or_fail(f"Slurm does not answer (sinfo: {done.stderr.strip() or done.stdout.strip()})")
    return done.stdout.split()[0]


def slurm_state(job_id: int) -> str:
    done = subprocess.run(["squeue", "-h", "-j", str(job_id), "-o", "%T", "--states=all"], capture_output=True,
                          text=True, timeout=30)
    return done.stdout.strip() or "(forgotten)"


def job_processes(config_path: str) -> list[int]:
    """Processes running the job's command (its config path is on their command line)."""
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        if config_path in " ".join(process.info["cmdline"] or []):
            found.append(process.info["pid"])
    return found


def wait_log(job: dict, text: str, timeout: float = 120.0) -> str:
    log = Path(job["job_dir"]) / "job.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = log.read_text(errors="replace") if log.is_file() else ""
        if text in content:
            return content
        time.sleep(0.3)
    raise AssertionError(f"{text!r} not in {log} after {timeout} s:\n{content[-2000:]}")


def test_a_train_job_runs_on_slurm_to_completion(tmp_path, slurm):
    settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'console.db'}", executor="slurm",
                            slurm_sbatch_args="--comment=llmtuner-ci --time=30")
    with running_console(settings) as console:
        assert upload(console, "qa_small", alpaca_bytes(), "qa.json").status_code == 201
        # two GPUs: this console's machine has none, but a cluster may; Slurm is asked for them (and this node,
        # having none, could never run it), so only the CPU job is run here
        created = console.post("/api/jobs", "engineer", json={"kind": "train", "name": "slurm-sft", "config": sft_config("qa_small")})
        assert created.status_code == 201, created.text
        done = console.wait_for(created.json()["id"], ("COMPLETED", "FAILED"), timeout=300)
        assert done["status"] == "COMPLETED", done["error"]
        slurm_id = done["pid"]
        assert done["devices"] == ["slurm"] and done["exit_code"] == 0
        assert [event["reason"] for event in done["history"]][2] == f"Slurm job {slurm_id}"
        assert slurm_state(slurm_id) in ("COMPLETED", "(forgotten)")
        shown = subprocess.run(["scontrol", "-o", "show", "job", str(slurm_id)], capture_output=True, text=True, timeout=30).stdout
        assert "Comment=llmtuner-ci" in shown and "TimeLimit=00:30:00" in shown  # --slurm_sbatch_args reached sbatch
        log = (Path(done["job_dir"]) / "job.log").read_text()
        assert log.startswith(f"[llmtuner console] submitted to Slurm as job {slurm_id}")
        metrics = console.get(f"/api/jobs/{done['id']}/metrics").json()
        assert [point["step"] for point in metrics["train"]] == [1, 2, 3, 4]
        adapter = next(model for model in console.get("/api/models").json()["items"] if model["job_id"] == done["id"])
        assert adapter["kind"] == "adapter" and Path(adapter["path"], "adapter_config.json").is_file()
        assert (Path(done["job_dir"]) / "slurm_exit_status").read_text().strip() == "0"

        # GPUs are Slurm's to grant (--gres): a console without GPUs accepts the job, and this cluster, which has
        # no GPUs configured, refuses it with its own reason
        gpu = console.post("/api/jobs", "engineer", json={"kind": "train", "name": "gpu", "gpus": 2, "config": sft_config("qa_small")})
        assert gpu.status_code == 201, gpu.text
        refused = console.wait_for(gpu.json()["id"], ("FAILED",), timeout=60)
        assert "could not be started" in refused["error"] and "gres" in refused["error"], refused["error"]

        # a serve job listens on 127.0.0.1 of wherever it runs: the playground could not reach it on a node
        serve = console.post("/api/jobs", "engineer", json={"kind": "serve", "name": "srv",
                                                            "config": {"model_name_or_path": "embedded"}})
        assert serve.status_code == 422 and serve.json()["detail"][0]["loc"] == ["body", "kind"], serve.text
        assert "--executor local" in serve.json()["detail"][0]["msg"]


def test_stop_and_a_console_restart_on_slurm(tmp_path, slurm):
    settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'console.db'}", executor="slurm", stop_grace_s=10.0)
    long = sft_config("qa_small", max_steps=100000, save_steps=100000, overwrite_output_dir=True)
    with running_console(settings) as first:
        assert upload(first, "qa_small", alpaca_bytes(), "qa.json").status_code == 201
        stopped = first.post("/api/jobs", "engineer", json={"kind": "train", "name": "stopped", "config": long}).json()
        kept = first.post("/api/jobs", "engineer", json={"kind": "train", "name": "kept", "config": long}).json()
        stopped, kept = first.wait_for(stopped["id"], ("RUNNING",)), first.wait_for(kept["id"], ("RUNNING",))
        assert stopped["pid"] != kept["pid"]
        for job in (stopped, kept):
            wait_log(job, "'loss'", timeout=180)  # both train at once: Slurm runs them side by side
        config = str(Path(stopped["job_dir"]) / "config.yaml")
        assert job_processes(config)
        assert first.post(f"/api/jobs/{stopped['id']}/stop", "engineer").json()["stop_requested"] is True
        done = first.wait_for(stopped["id"], ("STOPPED", "FAILED", "COMPLETED"), timeout=60)
        assert done["status"] == "STOPPED" and done["history"][-1]["reason"] == "stopped on request"
        # signalled, the script ends with the command's status (143): Slurm calls that FAILED, or CANCELLED if killed
        assert slurm_state(stopped["pid"]) in ("FAILED", "CANCELLED", "(forgotten)")
        deadline = time.monotonic() + 20
        while job_processes(config) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert job_processes(config) == []
    # the console is gone, its other job was not stopped: it keeps training on the node
    assert slurm_state(kept["pid"]) == "RUNNING"
    local = settings_for(tmp_path, f"sqlite:///{tmp_path / 'console.db'}")
    from llmtuner.console.app import create_app
    from llmtuner.console.jobs.scheduler import ExecutorMismatch

    with pytest.raises(ExecutorMismatch, match=f"Jobs {kept['id']} run under the slurm executor.*--executor slurm"):
        create_app(local)
    with running_console(settings) as second:
        again = second.get(f"/api/jobs/{kept['id']}").json()
        assert again["status"] == "RUNNING" and again["pid"] == kept["pid"]
        steps = len(second.get(f"/api/jobs/{kept['id']}/metrics").json()["train"])
        deadline = time.monotonic() + 120
        while len(second.get(f"/api/jobs/{kept['id']}/metrics").json()["train"]) <= steps:
            assert time.monotonic() < deadline, "the re-attached job's loss curve did not grow"
            time.sleep(0.5)
        second.post(f"/api/jobs/{kept['id']}/stop", "engineer")
        assert second.wait_for(kept["id"], ("STOPPED",), timeout=60)["status"] == "STOPPED"
        assert job_processes(str(Path(kept["job_dir"]) / "config.yaml")) == []

        restarted = second.post(f"/api/jobs/{stopped['id']}/restart", "engineer").json()
        assert restarted["status"] in ("PENDING", "PREPARING", "RUNNING")
        resumed = second.wait_for(stopped["id"], ("RUNNING",))
        assert resumed["pid"] != stopped["pid"] and resumed["attempts"] == 2
        second.post(f"/api/jobs/{stopped['id']}/stop", "engineer")
        assert second.wait_for(stopped["id"], ("STOPPED",), timeout=60)["status"] == "STOPPED"


def test_a_job_slurm_refuses_fails_with_slurms_reason(tmp_path, slurm):
    settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'console.db'}", executor="slurm",
                            slurm_partition="no-such-partition")
    with running_console(settings) as console:
        assert upload(console, "qa_small", alpaca_bytes(), "qa.json").status_code == 201
        job = console.post("/api/jobs", "engineer", json={"kind": "train", "name": "x", "config": sft_config("qa_small")}).json()
        failed = console.wait_for(job["id"], ("FAILED",), timeout=60)
        assert "could not be started" in failed["error"] and "sbatch failed" in failed["error"]
        assert "partition" in failed["error"].lower()


def test_a_job_that_fails_on_the_node_keeps_its_exit_status(tmp_path, slurm):
    settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'console.db'}", executor="slurm", start_scheduler=False)
    with running_console(settings) as console:
        assert upload(console, "qa_small", alpaca_bytes(), "qa.json").status_code == 201
        created = console.post("/api/jobs", "engineer", json={"kind": "train", "name": "broken",
                                                              "config": sft_config("qa_small")}).json()
        for path in (settings.datasets_dir / "files").iterdir():  # accepted, then its data goes before it starts
            path.unlink()
        deadline = time.monotonic() + 300
        while (failed := console.get(f"/api/jobs/{created['id']}").json())["status"] not in ("FAILED", "COMPLETED"):
            assert time.monotonic() < deadline, failed
            console.state.scheduler.tick()  # no scheduler thread: this test submits and watches by hand
            time.sleep(0.5)
        assert failed["status"] == "FAILED" and failed["exit_code"] not in (None, 0)
        assert f"exited with status {failed['exit_code']}" in failed["error"] and "Last lines of the log" in failed["error"]
        assert (Path(failed["job_dir"]) / "slurm_exit_status").read_text().strip() == str(failed["exit_code"])

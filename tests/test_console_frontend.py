"""The web console's interface: its component tests (Vitest) and the end-to-end flow in a real Chromium (Playwright,
through playwright-core and the OS's browser) against a real `llmtuner console` with a created admin.

The browser flow: sign in; upload data/medical_sft_sample.json and see its preview; train the embedded model to
COMPLETED with a live loss chart; stop a second job; the dashboard; leave a third job running, stop the console
(SIGTERM) and start it again on the same folder; in a new browser find everything again (dataset and preview, the
jobs' states, the loss chart, history and log, the adapter among the models), the third job re-attached and still
training, then stop it. Screenshots are kept as the test's artifacts in the frontend's e2e/screenshots/ (ignored by
git; copied into docs/screenshots/ for the README when they change). Both need Node.js and the
packages of package-lock.json (scripts/build_console.sh installs them); the browser test needs Chromium
(`apt-get install chromium fonts-noto-cjk`; .ci/run installs it). Missing tools skip here and fail under CI=true.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, skip_or_fail
from run_helpers import child_env, free_port

FRONTEND = ROOT / "src" / "llmtuner" / "console" / "frontend"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PASSWORD = "e2e admin passphrase"
CONSOLE = [sys.executable, "-m", "llmtuner.console.cli"]


def needs_node_packages() -> None:
    if shutil.which("npm") is None:
        skip_or_fail("npm is not installed (Node.js 18+ builds and tests the web console)")
    if not (FRONTEND / "node_modules" / ".package-lock.json").is_file():
        built = subprocess.run(["bash", str(ROOT / "scripts" / "build_console.sh")], capture_output=True, text=True)
        if built.returncode != 0:
            skip_or_fail(f"scripts/build_console.sh failed: {built.stderr.strip()[-500:]}")


@pytest.mark.slow
def test_component_tests_pass():
    needs_node_packages()
    # plain text: with CI=true Vitest colours its report, which would split the words checked below
    env = {key: value for key, value in os.environ.items() if key != "FORCE_COLOR"} | {"NO_COLOR": "1"}
    result = subprocess.run(["npm", "test", "--silent"], cwd=FRONTEND, capture_output=True, text=True, timeout=600, env=env)
    report = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    assert result.returncode == 0, report[-4000:] + result.stderr[-2000:]
    summary = re.search(r"^\s*Tests\s+(.*)$", report, re.MULTILINE)  # "Tests  39 passed (39)", or "2 failed | 37 passed"
    assert summary and " passed" in summary.group(1) and "failed" not in summary.group(1), report[-4000:]


def _wait_for(url: str, server: subprocess.Popen, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, "the console exited before it answered"
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"the console did not answer at {url} within {timeout} s")


class ConsoleServer:
    """A real `llmtuner console` process on a data folder (started again on the same folder for the restart)."""

    def __init__(self, data_dir: Path, log_path: Path, env: dict[str, str]) -> None:
        self.data_dir, self.log_path, self.env = data_dir, log_path, env
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> None:
        port = free_port()
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen([*CONSOLE, "--data_dir", str(self.data_dir), "--port", str(port), "--stop_grace_s", "5"],
                                            stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        self.url = f"http://127.0.0.1:{port}"
        _wait_for(self.url, self.process)

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it; its running jobs go on in their own process groups."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        assert self.process.returncode in (0, -15), f"the console exited with {self.process.returncode}"


def _e2e(phase: str, server: ConsoleServer, screenshots: Path) -> None:
    e2e = subprocess.run(["npm", "run", "e2e", "--silent"], cwd=FRONTEND, capture_output=True, text=True, timeout=900,
                         env=dict(os.environ, CONSOLE_URL=server.url, CONSOLE_USER="admin", CONSOLE_PASSWORD=PASSWORD,
                                  CHROMIUM=CHROMIUM, E2E_SCREENSHOTS=str(screenshots), E2E_PHASE=phase))
    assert e2e.returncode == 0, f"phase {phase}:\n" + e2e.stdout[-4000:] + e2e.stderr[-2000:] + server.log_path.read_text()[-3000:]


def _job_processes(jobs_dir: Path) -> list:
    """Processes running in a job's folder (a job's cwd is jobs_dir/ID), zombies left out."""
    import psutil

    found = []
    for process in psutil.process_iter(["cwd", "status"]):
        cwd = process.info.get("cwd") or ""
        if cwd.startswith(str(jobs_dir) + os.sep) and process.info.get("status") != psutil.STATUS_ZOMBIE:
            found.append(process)
    return found


def _kill_leftover_jobs(jobs_dir: Path) -> list[int]:
    """Job processes still running in the test's folder (none when the flow passed): killed, their pids returned."""
    left = _job_processes(jobs_dir)
    for process in left:
        with contextlib.suppress(OSError):
            os.killpg(os.getpgid(process.pid), signal.SIGKILL)
    return [process.pid for process in left]


@pytest.mark.slow
def test_browser_flow_from_sign_in_to_a_completed_job_and_after_a_restart(tmp_path):
    needs_node_packages()
    if not Path(CHROMIUM).is_file():
        skip_or_fail(f"{CHROMIUM} is not installed (apt-get install chromium fonts-noto-cjk)")
    built = subprocess.run(["bash", str(ROOT / "scripts" / "build_console.sh")], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    data_dir, env = tmp_path / "console", child_env()
    env.pop("LLMTUNER_CONSOLE_DATABASE_URL", None)
    made = subprocess.run([*CONSOLE, "create-user", "--data_dir", str(data_dir), "--username", "admin", "--role", "admin",
                           "--password-stdin"], input=PASSWORD + "\n", capture_output=True, text=True, env=env, timeout=120)
    assert made.returncode == 0, made.stderr
    server, screenshots = ConsoleServer(data_dir, tmp_path / "console.log", env), FRONTEND / "e2e" / "screenshots"
    try:
        server.start()
        _e2e("main", server, screenshots)
        server.stop()  # a job is RUNNING now: the next console must re-attach it, not start it again
        state = json.loads((screenshots / "state.json").read_text())
        assert _job_process_alive(data_dir / "jobs", state["runningJob"]), "the job did not outlive the console"
        server.start()
        _e2e("after-restart", server, screenshots)
        shots = sorted(path.name for path in screenshots.glob("*.png"))
        for wanted in ("login", "dashboard", "after-restart", "reattached"):
            assert any(wanted in name for name in shots), (wanted, shots)
        assert PASSWORD not in server.log_path.read_text()  # nothing logs the password
    finally:
        server.stop()
        left = _kill_leftover_jobs(data_dir / "jobs")
    assert not left, f"job processes were left running: {left}"


def _job_process_alive(jobs_dir: Path, job_id: int) -> bool:
    return any(process.info["cwd"] == str(jobs_dir / str(job_id)) for process in _job_processes(jobs_dir))

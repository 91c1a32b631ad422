"""The web console's interface: its component tests (Vitest) and the end-to-end flow in a real Chromium (Playwright,
through playwright-core and the OS's browser) against a real `llmtuner console` with a created admin.

The browser flow: sign in; upload data/medical_sft_sample.json and see its preview; train the embedded model to
COMPLETED with a live loss chart; stop a second job; the dashboard. Screenshots are kept in the frontend's
e2e/screenshots/ (copied into docs/screenshots/ for the README when they change). Both need Node.js and the
packages of package-lock.json (scripts/build_console.sh installs them); the browser test needs Chromium
(`apt-get install chromium fonts-noto-cjk`; .ci/run installs it). Missing tools skip here and fail under CI=true.
"""

import os
import shutil
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
    result = subprocess.run(["npm", "test", "--silent"], cwd=FRONTEND, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout


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


@pytest.mark.slow
def test_browser_flow_from_sign_in_to_a_completed_job(tmp_path):
    needs_node_packages()
    if not Path(CHROMIUM).is_file():
        skip_or_fail(f"{CHROMIUM} is not installed (apt-get install chromium fonts-noto-cjk)")
    built = subprocess.run(["bash", str(ROOT / "scripts" / "build_console.sh")], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    data_dir, env = tmp_path / "console", child_env()
    env.pop("LLMTUNER_CONSOLE_DATABASE_URL", None)
    console = [sys.executable, "-m", "llmtuner.console.cli"]
    made = subprocess.run([*console, "create-user", "--data_dir", str(data_dir), "--username", "admin", "--role", "admin",
                           "--password-stdin"], input=PASSWORD + "\n", capture_output=True, text=True, env=env, timeout=120)
    assert made.returncode == 0, made.stderr
    port = free_port()
    log = (tmp_path / "console.log").open("w")
    server = subprocess.Popen([*console, "--data_dir", str(data_dir), "--port", str(port), "--stop_grace_s", "5"],
                              stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for(url, server)
        screenshots = tmp_path / "screenshots"
        e2e = subprocess.run(["npm", "run", "e2e", "--silent"], cwd=FRONTEND, capture_output=True, text=True, timeout=900,
                             env=dict(os.environ, CONSOLE_URL=url, CONSOLE_USER="admin", CONSOLE_PASSWORD=PASSWORD,
                                      CHROMIUM=CHROMIUM, E2E_SCREENSHOTS=str(screenshots)))
        assert e2e.returncode == 0, e2e.stdout[-4000:] + e2e.stderr[-2000:] + (tmp_path / "console.log").read_text()[-3000:]
        shots = sorted(path.name for path in screenshots.glob("*.png"))
        assert any("dashboard" in name for name in shots) and any("login" in name for name in shots), shots
        assert PASSWORD not in (tmp_path / "console.log").read_text()  # nothing logs the password
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()

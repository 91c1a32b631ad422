"""The `console` section of scripts/benchmark.py: does watching a job slow it down?

A real console (`python -m llmtuner.console.cli`, uvicorn, SQLite under a temporary data folder) runs the same
embedded-model SFT job twice: once unwatched, once while 50 clients read it (25 poll GET /api/dashboard every
second, 25 follow the job's log over SSE). The job's train steps/s come from its own trainer_log.jsonl (via GET
/api/jobs/{id}/metrics: first to last logged step, start-up not counted). Every request goes to 127.0.0.1.

The readers stand for browsers on other machines, so their client code (httpx) runs in a child process at nice 19:
the job is charged for the console's work, not for simulating fifty browsers on the same two cores. The server and
its jobs run at normal priority.

Two settings: the job's torch on every core (the console, the readers and the job then fight for the same cores, and
a preempted thread of torch's intra-op pool stalls the others), and the job on all cores but one (OMP_NUM_THREADS,
as on a GPU server, whose training leaves CPU cores free for the console), where the console's own work is measured
rather than the contention.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
Row = tuple[str, str, str]
PASSWORD = "benchmark passphrase"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env(job_threads: int = 0) -> dict[str, str]:
    """The console's environment, which its jobs inherit; `job_threads` > 0 limits their torch threads."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", WANDB_MODE="disabled", TOKENIZERS_PARALLELISM="false")
    if job_threads:
        env["OMP_NUM_THREADS"] = str(job_threads)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env.pop("LLMTUNER_CONSOLE_DATABASE_URL", None)
    return env


class Readers:
    """`dashboards` clients polling /api/dashboard each `period_s`, `streams` clients following the job's log."""

    def __init__(self, base: str, token: str, job_id: int, dashboards: int, streams: int, period_s: float = 1.0) -> None:
        self.base, self.token, self.job_id = base, token, job_id
        self.dashboards, self.streams, self.period_s = dashboards, streams, period_s
        self.requests = self.events = self.errors = 0
        self.error_kinds: dict[str, int] = {}
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def run(self) -> dict:
        """Read until the job has finished; what was read."""
        self._thread.start()
        self._thread.join()
        latencies = sorted(self.latencies) or [0.0]
        used = os.times()
        return {"cpu_s": used.user + used.system, "requests": self.requests, "events": self.events, "errors": self.errors,
                "error_kinds": self.error_kinds, "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))]}

    async def _dashboard(self, client) -> None:  # noqa: ANN001 - httpx.AsyncClient
        while not self._stop.is_set():
            start = time.perf_counter()
            try:
                response = await client.get("/api/dashboard")
                response.raise_for_status()
                self.requests += 1
                self.latencies.append(time.perf_counter() - start)
            except Exception as error:
                self._failed(error)
            await asyncio.sleep(max(0.0, self.period_s - (time.perf_counter() - start)))

    async def _stream(self, client) -> None:  # noqa: ANN001
        try:
            async with client.stream("GET", f"/api/jobs/{self.job_id}/logs/stream", params={"tail": 50}) as response:
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        self.events += 1
                    if self._stop.is_set():
                        return
        except Exception as error:
            if not self._stop.is_set():
                self._failed(error)

    def _failed(self, error: Exception) -> None:
        self.errors += 1
        status = getattr(getattr(error, "response", None), "status_code", None)
        name = f"{type(error).__name__}{f' {status}' if status else ''}"
        self.error_kinds[name] = self.error_kinds.get(name, 0) + 1

    async def _run(self) -> None:
        import httpx2 as httpx

        limits = httpx.Limits(max_connections=self.dashboards + self.streams + 5)
        async with httpx.AsyncClient(base_url=self.base, headers={"Authorization": f"Bearer {self.token}"},
                                     timeout=120, limits=limits) as client:
            tasks = [asyncio.create_task(self._dashboard(client)) for _ in range(self.dashboards)]
            tasks += [asyncio.create_task(self._stream(client)) for _ in range(self.streams)]
            while not self._stop.is_set():
                await asyncio.sleep(2.0)
                status = (await client.get(f"/api/jobs/{self.job_id}")).json()["status"]
                if status in ("COMPLETED", "FAILED", "STOPPED"):
                    self._stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def _run_job(client, config: dict, readers: tuple[int, int] | None, base: str, token: str) -> tuple[float, dict | None]:  # noqa: ANN001
    """One job to completion, unwatched or with `readers` = (dashboards, streams) in a child process at nice 19."""
    job = client.post("/api/jobs", json={"kind": "train", "name": "bench", "config": config})
    job.raise_for_status()
    job_id = job.json()["id"]
    load = None
    if readers:
        child = subprocess.run([sys.executable, __file__, "--readers", base, token, str(job_id), *map(str, readers)],
                               capture_output=True, text=True, env=_env(), preexec_fn=lambda: os.nice(19))
        if child.returncode:
            raise SystemExit(f"the readers failed: {child.stderr[-2000:]}")
        load = json.loads(child.stdout)
    while (status := client.get(f"/api/jobs/{job_id}").json()["status"]) not in ("COMPLETED", "FAILED", "STOPPED"):
        time.sleep(2.0)
    if status != "COMPLETED":
        raise SystemExit(f"benchmark job {job_id} {status}: {client.get(f'/api/jobs/{job_id}').json()['error']}")
    return client.get(f"/api/jobs/{job_id}/metrics").json()["steps_per_second"], load


def bench_console(args) -> list[Row]:  # noqa: ANN001 - argparse.Namespace
    cores = os.cpu_count() or 1
    rows: list[Row] = []
    for job_threads in dict.fromkeys([0, cores - 1] if cores > 1 else [0]):  # 0: torch's default, every core
        rows += _bench_setting(args.console_steps, args.console_rounds, job_threads, cores)
    return rows


def _bench_setting(steps: int, rounds: int, job_threads: int, cores: int) -> list[Row]:
    import tempfile

    import httpx2 as httpx  # installed with huggingface_hub; httpx's API

    config = {"model_name_or_path": "embedded", "stage": "sft", "finetuning_type": "lora", "template": "shuzhiqihuang",
              "dataset": "sft", "cutoff_len": 256, "per_device_train_batch_size": 8, "max_steps": steps,
              "logging_steps": 2, "save_strategy": "no", "report_to": "none", "plot_loss": False, "seed": 0,
              "gradient_checkpointing": False, "dataloader_num_workers": 0, "learning_rate": 1e-3}
    with tempfile.TemporaryDirectory() as folder:
        data = str(Path(folder) / "console")
        made = subprocess.run([sys.executable, "-m", "llmtuner.console.cli", "create-user", "--data_dir", data,
                               "--username", "bench", "--role", "engineer", "--password-stdin"], input=PASSWORD + "\n",
                              text=True, capture_output=True, env=_env(job_threads), cwd=ROOT)
        if made.returncode:
            raise SystemExit(made.stderr)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([sys.executable, "-m", "llmtuner.console.cli", "--data_dir", data, "--port", str(port),
                                   "--gpu_ids", ""], env=_env(job_threads), cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            with httpx.Client(base_url=base, timeout=60) as client:
                deadline = time.monotonic() + 120
                while True:
                    try:
                        if client.get("/api/health").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("the console did not start")
                    time.sleep(0.3)
                token = client.post("/api/auth/login", json={"username": "bench", "password": PASSWORD}).json()["access_token"]
                client.headers["Authorization"] = f"Bearer {token}"
                client.cookies.clear()
                sample = (ROOT / "data" / "medical_sft_sample.json").read_bytes()
                client.post("/api/datasets", files={"file": ("sft.json", sample)}, data={"name": "sft"}).raise_for_status()
                _run_job(client, {**config, "max_steps": 4}, None, base, token)  # warm the datasets cache
                import psutil

                console = psutil.Process(server.pid)
                runs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}  # (steps/s, server CPU share)
                load = None
                for index in range(rounds):
                    for watched_run in ((False, True) if index % 2 == 0 else (True, False)):  # ABBA: drift cancels
                        before, start = sum(console.cpu_times()[:2]), time.monotonic()
                        rate, seen = _run_job(client, config, (25, 25) if watched_run else None, base, token)
                        share = (sum(console.cpu_times()[:2]) - before) / (time.monotonic() - start)
                        runs[watched_run].append((rate, share))
                        load = seen or load
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
    import statistics

    quiet = [rate for rate, _ in runs[False]]
    busy = [rate for rate, _ in runs[True]]
    pairs = [watched_rate / quiet_rate for (watched_rate, _), (quiet_rate, _) in zip(runs[True], runs[False])]
    cpu = {watched_run: statistics.median(share for _, share in runs[watched_run]) for watched_run in runs}
    load = load or {}
    listed = lambda rates: ", ".join(f"{rate:.3f}" for rate in rates)  # noqa: E731
    return [
        (f"console: embedded SFT job, {steps} steps, batch 8, cutoff 256, {rounds} round(s) unwatched/watched (ABBA); "
         f"the job's torch on {f'{job_threads} of {cores} cores' if job_threads else f'every core ({cores})'}", "", ""),
        ("  unwatched (median; each run)", f"{statistics.median(quiet):.3f} train steps/s ({listed(quiet)}); console "
         f"process {cpu[False]:.1%} of one core", ""),
        ("  50 readers: 25 dashboards at 1/s, 25 SSE logs", f"{statistics.median(busy):.3f} train steps/s ({listed(busy)}); "
         f"console process {cpu[True]:.1%} of one core; last run: {load.get('requests', 0)} dashboard answers (p95 "
         f"{load.get('p95_ms', 0):.0f} ms), {load.get('events', 0)} log events, {load.get('errors', 0)} errors "
         f"{load.get('error_kinds') or ''}; the readers' own CPU {load.get('cpu_s', 0):.1f} s", ""),
        ("  watched / unwatched (median of the paired runs)", f"{statistics.median(pairs):.3f} (pairs: {listed(pairs)})",
         "within a few percent"),
    ]


if __name__ == "__main__":
    import argparse

    if sys.argv[1:2] == ["--readers"]:  # the child process of _run_job
        base, token, job_id, dashboards, streams = sys.argv[2:7]
        print(json.dumps(Readers(base, token, int(job_id), int(dashboards), int(streams)).run()))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--console_steps", type=int, default=40)
    parser.add_argument("--console_rounds", type=int, default=3)
    for row in bench_console(parser.parse_args()):
        print(" | ".join(row))

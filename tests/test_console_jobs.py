"""The console's parts below the API: the state table, the local executor (process groups, SIGKILL after the grace
period, re-used pids), log reading (levels, tail, follow), metrics, config key names, the rate limiter and
format detection of uploads."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest
from console_support import group_gone

from llmtuner.console.jobs import logs, states
from llmtuner.console.jobs.configs import error_key
from llmtuner.console.jobs.executor import LaunchSpec, LocalExecutor, ProcessRef, job_command
from llmtuner.console.jobs.metrics import TRAINER_LOG, read_points, steps_per_second

# --- states ------------------------------------------------------------------------------------------------------


def test_transition_table_covers_every_state_and_refuses_the_rest(tmp_path):
    from llmtuner.console.db import Database
    from llmtuner.console.models import Job

    assert set(states.TRANSITIONS) == set(states.STATES)
    assert all(targets <= set(states.STATES) for targets in states.TRANSITIONS.values())
    assert states.TRANSITIONS[states.COMPLETED] == frozenset()
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    db.migrate()
    with db.session() as session:
        job = Job(name="j", kind="train", status=states.PENDING, config={}, datasets=[])
        session.add(job)
        session.commit()
        with pytest.raises(states.InvalidTransition, match="cannot become RUNNING"):
            states.transition(session, job, states.RUNNING)
        with db.session() as other:  # another thread moved it on: the stale writer loses, and sees why
            states.transition(other, other.get(Job, job.id), states.PREPARING)
            other.commit()
        with pytest.raises(states.InvalidTransition, match="is PREPARING"):
            states.transition(session, job, states.PREPARING)
        assert job.status == states.PREPARING
        states.transition(session, job, states.STOPPED, "test")
        session.commit()
        assert [event.to_status for event in job.events] == ["PREPARING", "STOPPED"] and job.finished_at is not None
    db.dispose()


# --- executor ------------------------------------------------------------------------------------------------------

STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
print("ready", flush=True)
time.sleep(600)
"""


class ScriptExecutor(LocalExecutor):
    def __init__(self, script: str) -> None:
        super().__init__()
        self.script = script

    def command(self, spec: LaunchSpec) -> list[str]:
        return [sys.executable, "-c", self.script]


def _spec(tmp_path: Path) -> LaunchSpec:
    return LaunchSpec(1, "train", tmp_path / "config.yaml", tmp_path, tmp_path / "job.log")


def test_stop_kills_the_whole_group_after_the_grace_period(tmp_path):
    executor = ScriptExecutor(STUBBORN)
    ref = executor.start(_spec(tmp_path))
    deadline = time.monotonic() + 30
    while "ready" not in (tmp_path / "job.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert executor.poll(ref).running
    started = time.monotonic()
    executor.stop(ref, grace_s=1.0)
    assert time.monotonic() - started >= 1.0  # SIGTERM was ignored, so SIGKILL came after the grace period
    assert group_gone(ref.pid, timeout=5) and not executor.poll(ref).running


def test_only_a_train_job_on_several_gpus_is_started_one_rank_per_gpu(tmp_path):
    def argv(kind: str, gpus: int) -> list[str]:
        spec = LaunchSpec(1, kind, tmp_path / "config.yaml", tmp_path, tmp_path / "job.log", gpus=gpus)
        return job_command("python", spec)

    single = ["python", "-m", "llmtuner.cli", "train", str(tmp_path / "config.yaml")]
    assert argv("train", 0) == argv("train", 1) == single
    assert argv("train", 4) == ["python", "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=4",
                                *single[1:]]
    assert argv("eval", 4)[:3] == ["python", "-m", "llmtuner.cli"]  # device_map spreads the model instead
    assert argv("api", 2)[:3] == ["python", "-m", "llmtuner.cli"]


def test_exit_status_and_a_reused_pid(tmp_path):
    executor = ScriptExecutor("import sys; print('bye'); sys.exit(3)")
    ref = executor.start(_spec(tmp_path))
    while (result := executor.poll(ref)).running:
        time.sleep(0.05)
    assert result.exit_code == 3 and (tmp_path / "job.log").read_text().strip() == "bye"
    fresh = LocalExecutor()  # a console started later: not the parent, and the pid now names another process
    import os

    assert fresh.poll(ProcessRef(os.getpid(), started=1.0)).running is False
    assert fresh.poll(ProcessRef(0, started=0.0)).running is False  # never this console's own group


# --- logs ------------------------------------------------------------------------------------------------------------

LOG = (
    "[12:00:01 INFO llmtuner.train] starting\n"
    "/x/y.py:3: UserWarning: something odd\n"
    "  warnings.warn(\n"
    " 10%|#         | 1/10\r 50%|#####     | 5/10\r100%|##########| 10/10\n"
    "[12:00:02 WARNING llmtuner.data] 2 samples dropped\n"
    "Traceback (most recent call last):\n"
    '  File "x.py", line 1, in <module>\n'
    "ValueError: broken\n"
    "{'loss': 1.0}\n"
)


def test_log_levels_tail_filter_and_search(tmp_path):
    path = tmp_path / "job.log"
    path.write_text(LOG + "[12:00:03 INFO llmtuner.x] partial line without newline")
    lines, next_offset = logs.tail(path, 100)
    assert [line.level for line in lines] == ["INFO", "WARNING", "WARNING", "INFO", "WARNING", "ERROR", "ERROR", "ERROR", "INFO"]
    assert lines[3].text == "100%|##########| 10/10"  # a progress bar as a terminal shows it
    assert next_offset == len(LOG.encode())  # the unfinished line is left for the follow
    assert [line.text for line in logs.tail(path, 2, level="ERROR")[0]] == ['  File "x.py", line 1, in <module>', "ValueError: broken"]
    assert [line.text for line in logs.tail(path, 10, search="DROPPED")[0]] == ["[12:00:02 WARNING llmtuner.data] 2 samples dropped"]
    assert logs.tail(tmp_path / "none.log", 5) == ([], 0)


def test_follow_reads_lines_as_they_are_written(tmp_path):
    path = tmp_path / "job.log"
    path.write_text("[12:00:01 INFO a] one\n")
    done = {"finished": False}

    async def collect() -> list[str]:
        seen = []
        async def finished() -> bool:
            return done["finished"]

        async for line in logs.follow(path, 0, None, None, finished, 0.02):
            seen.append(line.text)
            if line.text.endswith("one"):
                with open(path, "a") as handle:
                    handle.write("[12:00:02 INFO a] tw")
                    handle.flush()
                    await asyncio.sleep(0.1)
                    handle.write("o\n[12:00:03 ERROR a] three")  # the last line ends without a newline
                done["finished"] = True
        return seen

    assert asyncio.run(collect()) == ["[12:00:01 INFO a] one", "[12:00:02 INFO a] two", "[12:00:03 ERROR a] three"]


# --- metrics, config errors, rate limit --------------------------------------------------------------------------


def test_trainer_log_name_and_points(tmp_path):
    import re

    import llmtuner

    callbacks = Path(llmtuner.__file__).parent / "train" / "callbacks.py"  # read, not imported: it imports transformers
    assert re.search(r'^LOG_NAME = "([^"]+)"', callbacks.read_text(encoding="utf-8"), re.MULTILINE).group(1) == TRAINER_LOG
    path = tmp_path / TRAINER_LOG
    path.write_text("\n".join(json.dumps({"step": s, "loss": 1.0 / s, "elapsed_s": 2.0 * s}) for s in (1, 2, 3)) + '\n{"step": 4, "lo')
    points = read_points(path)
    assert [p["step"] for p in points] == [1, 2, 3] and [p["step"] for p in read_points(path, since_step=2)] == [3]
    assert steps_per_second(points) == pytest.approx(0.5)


def test_error_key_names_the_config_key():
    config = {"learning_rte": 1, "dataset": "x"}
    assert error_key("`learning_rte` (in the given config) is not an argument. Did you mean `learning_rate`?", config) == "learning_rte"
    assert error_key("Invalid configuration:\n  - export_dir is missing: set the folder", {}) == "export_dir"
    assert error_key("something else entirely", {}) is None


def test_login_limiter_window():
    from llmtuner.console.ratelimit import LoginLimiter

    limiter = LoginLimiter(failures_per_user=2, attempts_per_address=3, window_s=0.3)
    for _ in range(2):
        assert limiter.retry_after("Ann", "1.2.3.4") is None
        limiter.failed("ann")
    assert limiter.retry_after("ann", "5.6.7.8") is not None  # per username, whatever the address
    assert limiter.retry_after("bob", "1.2.3.4") is None
    assert limiter.retry_after("carl", "1.2.3.4") is not None  # per address: 3 attempts
    time.sleep(0.35)
    assert limiter.retry_after("ann", "1.2.3.4") is None


# --- format detection ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("records", "expected"), [
    ([{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}], "sharegpt"),
    ([{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}], "sharegpt"),
    ([{"question": "q", "options": ["A. x", "B. y"], "answer": "A"}], "mcq"),
    ([{"text": "一段病历文本"}], "text"),
    ([{"prompt": "q", "chosen": "good", "rejected": "bad"}], "preference"),
    ([{"instruction": "q", "output": "a", "kto_tag": True}], "kto"),
])
def test_formats_are_told_from_columns(tmp_path, records, expected):
    from llmtuner.console.datasets.validate import analyse

    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    analysis = analyse(path, "jsonl", "d", "d.jsonl")
    assert analysis.format == expected and analysis.problems == [] and analysis.num_samples == 1


def test_parquet_and_problems_name_the_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from llmtuner.console.datasets.validate import analyse

    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"instruction": ["q1", "q2", None], "output": ["a1", "", "a3"]}), path)
    analysis = analyse(path, "parquet", "d", "d.parquet")
    assert analysis.format == "alpaca" and analysis.num_samples == 3
    assert analysis.problems == [("row 2", "no answer in `output`"), ("row 3", "no value in `instruction`")]
    wrong_turn = tmp_path / "t.json"
    wrong_turn.write_text(json.dumps([{"conversations": [{"from": "gpt", "value": "a"}]}]))
    (where, problem), = analyse(wrong_turn, "json", "t", "t.json").problems
    assert where == "line 1 (record 0)" and "turn 0" in problem and "expected" in problem

"""extras.distributed's exit of a finished rank: the output gets out, finalization is skipped, the status is 0.

The two-process ZeRO runs in test_deepspeed_cpu.py go through the same exit in `train_probe.py`."""

import os
import subprocess
import sys
import textwrap

from llmtuner.extras.distributed import is_launched_rank

CHILD = textwrap.dedent("""
    import atexit, logging, sys
    from llmtuner.extras.distributed import exit_finished_rank

    logger = logging.getLogger("probe")
    handler = logging.FileHandler(sys.argv[1])
    logger.addHandler(handler)
    logger.warning("saved the adapter")            # sits in the handler until flushed
    print("train metrics printed")                 # stdout is a pipe here: block-buffered, not yet written
    atexit.register(lambda: print("finalization ran"))
    exit_finished_rank()
    print("after the exit")
""")


def test_a_finished_rank_exits_zero_with_its_output_flushed_and_without_finalization(tmp_path):
    log = tmp_path / "run.log"
    result = subprocess.run([sys.executable, "-c", CHILD, str(log)], capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, WORLD_SIZE="2"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["train metrics printed"]  # no atexit handler, nothing after the exit
    assert log.read_text().strip() == "saved the adapter"


def test_only_ranks_launched_with_others_count_as_launched(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not is_launched_rank()
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not is_launched_rank()
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert is_launched_rank()


def test_a_single_process_returns_and_exits_as_usual(tmp_path):
    child = CHILD.replace('print("after the exit")', 'print("after the call")')
    env = {key: value for key, value in os.environ.items() if key != "WORLD_SIZE"}
    result = subprocess.run([sys.executable, "-c", child, str(tmp_path / "run.log")], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["train metrics printed", "after the call", "finalization ran"]

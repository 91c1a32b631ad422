"""extras/hub_kernels.py: importing bitsandbytes fetches nothing from the Hub, and leaves the Hub setting as it was.

The child runs with the socket guard (tests/doubles/socket_guard) and without HF_HUB_OFFLINE. It asserts the
import's network attempts only where the installed bitsandbytes would make one: a CPU with AVX512-BF16 and the
`kernels` package (transformers >= 5.25 requires it); this machine and CI have both.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT

GUARD = ROOT / "tests" / "doubles" / "socket_guard"

CHILD = textwrap.dedent("""
    import sys
    from huggingface_hub import constants
    from llmtuner.extras.hub_kernels import import_bitsandbytes_offline

    import_bitsandbytes_offline()
    print("bitsandbytes" in sys.modules, constants.HF_HUB_OFFLINE)
    import peft  # imports bitsandbytes itself when nothing did before
""")


def _run(tmp_path, code: str) -> tuple[subprocess.CompletedProcess, str]:
    log = tmp_path / "attempts.log"
    log.write_text("")
    env = {key: value for key, value in os.environ.items() if key not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(PYTHONPATH=os.pathsep.join([str(GUARD), str(ROOT / "src")]), SOCKET_GUARD_LOG=str(log),
               HF_HOME=str(tmp_path / "hf_home"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    return result, log.read_text()


def test_bitsandbytes_is_imported_with_the_hub_offline_and_the_setting_restored(tmp_path):
    result, attempts = _run(tmp_path, CHILD)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["True", "False"]  # imported; the process's Hub setting is back as it was
    assert attempts == ""
    assert "kernels" not in result.stderr  # no misleading "pip install kernels" warning


def _cpu_has_avx512_bf16() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            return "avx512_bf16" in handle.read()
    except OSError:
        return False


@pytest.mark.skipif(not (_cpu_has_avx512_bf16() and importlib.util.find_spec("kernels")),
                    reason="bitsandbytes only asks the Hub on CPUs with AVX512-BF16 when `kernels` is installed")
def test_without_the_guard_the_import_would_ask_the_hub(tmp_path):
    """The reason the guard exists, shown on this machine: a plain import of peft makes a lookup of the Hub."""
    result, attempts = _run(tmp_path, "import peft")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "huggingface.co" in attempts

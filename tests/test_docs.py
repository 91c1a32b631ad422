"""Documentation that is generated must match its source."""

import subprocess
import sys

from conftest import ROOT


def test_config_reference_is_current():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_config_reference.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

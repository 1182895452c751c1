"""Every ISA this CPU supports runs the core's tests: each in a fresh process, since the
kernel set is chosen once per process (PYRNN_ISA). An ISA the CPU lacks is skipped, saying so."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import pyrnn

HERE = Path(__file__).parent


def test_isa_is_reported():
    assert pyrnn.isa() in pyrnn.supported_isas()
    assert pyrnn.supported_isas()[0] == "scalar"
    if "PYRNN_ISA" in os.environ:
        assert pyrnn.isa() == os.environ["PYRNN_ISA"]


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
def test_core_under_each_isa(isa):
    if os.environ.get("PYRNN_ISA"):
        pytest.skip("already running under a forced ISA")
    if isa not in pyrnn.supported_isas():
        pytest.skip(f"this CPU does not support {isa}")
    env = {**os.environ, "PYRNN_ISA": isa}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:benchmark",
           str(HERE / "test_core.py"), str(HERE / "test_kernels.py"), str(HERE / "test_isa.py")]
    # cwd=tests/: the installed pyrnn must be imported, not the source tree's (no compiled core).
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=HERE)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "passed" in result.stdout and " failed" not in result.stdout


def test_unsupported_or_unknown_isa_fails_clearly():
    env = {**os.environ, "PYRNN_ISA": "sse9"}
    result = subprocess.run([sys.executable, "-c", "import pyrnn"], env=env, capture_output=True, text=True, cwd=HERE)
    assert result.returncode != 0 and "PYRNN_ISA must be one of" in result.stderr

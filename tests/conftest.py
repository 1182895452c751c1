"""Session-wide reporting (which instruction sets the kernels were tested on) and the `keras`
fixture of the Keras parity tests."""

import importlib.util
import os

import pytest

import pyrnn


@pytest.fixture(scope="module")
def keras():
    """Keras 3 on the torch backend; the test skips when Keras is not installed."""
    if importlib.util.find_spec("keras") is None:
        pytest.skip("keras not installed (pip install keras h5py; KERAS_BACKEND=torch)")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras as k
    except ImportError as e:  # e.g. its backend (torch) disabled, as under tests/sanitize.sh
        pytest.skip(f"keras is installed but cannot be imported: {e}")
    return k


def pytest_report_header(config):
    return f"pyrnn kernels: {pyrnn.isa()} in use; micro-kernel tests on every supported ISA: " + ", ".join(
        pyrnn.supported_isas())


def pytest_terminal_summary(terminalreporter):
    # tests/test_microkernels.py records each test's ISA (record_property): name those that ran.
    ran = {}
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", []):
        isa = dict(report.user_properties).get("isa")
        if isa and report.when == "call":
            ran.setdefault(isa, {"passed": 0, "failed": 0})[report.outcome] += 1
    if ran:
        line = ", ".join(f"{isa} ({n['passed']} passed, {n['failed']} failed)" for isa, n in ran.items())
        terminalreporter.write_line(f"micro-kernel tests ran on: {line}")

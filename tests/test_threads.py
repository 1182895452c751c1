"""The thread pool from Python: the default thread count fits the machine (affinity, cgroup
quota, PYRNN_NUM_THREADS), and results stay bitwise identical for any thread count and any
schedule, also while other processes compete for the cores (which makes the pool's threads
claim parts in a different order on every run, and makes it back off to the caller alone).

The pool's own stress test (many short jobs, 1-8 threads, resizes, fork, under TSan) is C++:
tests/pool/run.sh, run by CI.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pyrnn
from pyrnn import _core


def run_python(code, env=None, timeout=120):
    full = dict(os.environ)
    full.pop("PYRNN_NUM_THREADS", None)
    full.update(env or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=full, cwd=os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("line, cpus", [
    ("max 100000", 0), ("200000 100000", 2), ("150000 100000", 1), ("50000 100000", 1),
    ("400000 100000\n", 4), ("", 0), ("garbage", 0), ("100000 0", 0), ("-1 100000", 0), ("12x 100000", 0),
])
def test_cpus_from_a_cgroup_cpu_max_line(line, cpus):
    """cpu.max is "quota period" (or "max period"): whole CPUs, at least 1 when limited."""
    assert _core._cpus_from_cpu_max(line) == cpus


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs os.sched_setaffinity")
def test_default_thread_count_respects_the_cpu_affinity():
    cpu = sorted(os.sched_getaffinity(0))[0]
    r = run_python(f"""
        import os
        os.sched_setaffinity(0, {{{cpu}}})
        import pyrnn
        print(pyrnn.get_num_threads(), pyrnn.default_num_threads())
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "1"]


def test_default_thread_count_is_at_most_the_usable_cpus():
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    r = run_python("import pyrnn; print(pyrnn.get_num_threads())")
    assert r.returncode == 0, r.stderr
    assert 1 <= int(r.stdout) <= usable


def test_pyrnn_num_threads_sets_the_default():
    r = run_python("import pyrnn; print(pyrnn.get_num_threads())", env={"PYRNN_NUM_THREADS": "3"})
    assert r.returncode == 0 and r.stdout.split() == ["3"], r.stdout + r.stderr


def _compete(n):
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def _results(seed):
    """Outputs and gradients of a few layers whose steps are split over the pool (large and small
    batches, the row-window path, lengths), as one list of arrays."""
    rng = np.random.default_rng(seed)
    out = []
    for cls, kw, (T, B, I, H) in [
        (pyrnn.nn.LSTM, {}, (12, 64, 40, 96)),
        (pyrnn.nn.GRU, {"bidirectional": True}, (9, 300, 17, 33)),
        (pyrnn.nn.RNN, {"num_layers": 2}, (40, 48, 7, 24)),  # small steps: row windows
    ]:
        m = cls(I, H, seed=seed, **kw)
        x = rng.standard_normal((T, B, I)).astype(np.float32)
        lengths = rng.integers(0, T + 1, size=B)
        y, _ = m(x, lengths=lengths)
        gx, _ = m.backward(np.ones_like(y))
        out += [y, gx] + [m.grads[k] for k in sorted(m.grads)]
    # quantized layers: the products and the per-row passes (quantize, gate epilogue) on the pool
    for cls, kw, dtype, (T, B, I, H) in [
        (pyrnn.nn.LSTM, {}, "int8", (6, 64, 40, 96)),
        (pyrnn.nn.GRU, {"reset_after": False}, "bfloat16", (5, 300, 17, 33)),
        (pyrnn.nn.RNN, {"nonlinearity": "relu"}, "int8", (7, 200, 9, 100)),
    ]:
        q = cls(I, H, seed=seed, **kw).quantize(dtype)
        x = rng.standard_normal((T, B, I)).astype(np.float32)
        out.append(q(x, lengths=rng.integers(0, T + 1, size=B))[0])
    return out


def test_results_are_bitwise_identical_for_any_threads_and_schedule_under_contention():
    before = pyrnn.get_num_threads()
    procs = _compete(2)
    try:
        pyrnn.set_num_threads(1)
        want = _results(0)
        for n in (2, 3, 5, 8, 2):
            pyrnn.set_num_threads(n)
            got = _results(0)
            for a, b in zip(want, got):
                assert np.array_equal(a, b), f"{n} threads under contention gave different bits"
    finally:
        for p in procs:
            p.kill()
        pyrnn.set_num_threads(before)


def test_pool_statistics_count_jobs():
    before = _core._pool_stats()
    old = pyrnn.get_num_threads()
    try:
        pyrnn.set_num_threads(2)
        pyrnn.nn.LSTM(64, 256, seed=0).eval()(np.zeros((20, 64, 64), np.float32))
    finally:
        pyrnn.set_num_threads(old)
    after = _core._pool_stats()
    assert set(after) == {"parallel_jobs", "solo_jobs", "stalls"}
    ran = (after["parallel_jobs"] + after["solo_jobs"]) - (before["parallel_jobs"] + before["solo_jobs"])
    assert ran >= 20  # at least a job per step

"""pyrnn.no_grad(): training-mode modules and cells run the inference path and record nothing,
as torch's no_grad; the recorded cell step is the eval step plus copies of its inputs."""

import threading

import numpy as np
import pytest

import pyrnn


def _lstm():
    return pyrnn.nn.LSTM(5, 7, num_layers=2, seed=0)


def test_no_grad_module_call_equals_eval_and_records_nothing():
    m = _lstm()
    x = np.random.default_rng(0).standard_normal((6, 3, 5)).astype(np.float32)
    with pyrnn.no_grad():
        assert not pyrnn.is_grad_enabled()
        y, (h, c) = m(x)
    assert pyrnn.is_grad_enabled() and m.training
    with pytest.raises(ValueError, match="backward"):
        m.backward(np.ones_like(y))
    y_eval, _ = m.eval()(x)
    assert np.array_equal(y, y_eval)


def test_no_grad_call_keeps_an_earlier_recording():
    m = _lstm()
    rng = np.random.default_rng(1)
    x, other = (rng.standard_normal((6, 3, 5)).astype(np.float32) for _ in range(2))
    y, _ = m(x)
    gx_alone, _ = m.backward(np.ones_like(y))
    grads_alone = {k: v.copy() for k, v in m.grads.items()}
    m.zero_grad()
    y, _ = m(x)
    with pyrnn.no_grad():
        m(other)
    gx, _ = m.backward(np.ones_like(y))
    assert np.array_equal(gx, gx_alone)
    for k in grads_alone:
        assert np.array_equal(m.grads[k], grads_alone[k]), k


def test_no_grad_is_a_decorator_nests_and_is_per_thread():
    seen = {}

    @pyrnn.no_grad()
    def inside():
        with pyrnn.no_grad():
            pass
        seen["after inner"] = pyrnn.is_grad_enabled()
        t = threading.Thread(target=lambda: seen.__setitem__("other thread", pyrnn.is_grad_enabled()))
        t.start()
        t.join()
        return pyrnn.is_grad_enabled()

    assert inside() is False
    assert seen == {"after inner": False, "other thread": True}
    assert pyrnn.is_grad_enabled()


def test_no_grad_restores_on_exceptions():
    with pytest.raises(RuntimeError):
        with pyrnn.no_grad():
            raise RuntimeError("boom")
    assert pyrnn.is_grad_enabled()


@pytest.mark.parametrize("cls", [pyrnn.nn.RNNCell, pyrnn.nn.GRUCell, pyrnn.nn.LSTMCell])
def test_recorded_cell_step_equals_the_eval_step_and_no_grad_records_nothing(cls):
    cell = cls(6, 9, seed=0)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 6)).astype(np.float32)
    state = None
    out_train = cell(x, state)
    with pyrnn.no_grad():
        out_free = cell(x, state)
        cell(x, state)
    out_eval = cell.eval()(x, state)
    flat = lambda o: list(o) if isinstance(o, tuple) else [o]
    for a, b, c in zip(flat(out_train), flat(out_free), flat(out_eval)):
        assert np.array_equal(a, b) and np.array_equal(a, c)
    cell.train()
    cell(x)
    with pyrnn.no_grad():
        cell(x)
    cell(x)
    gh = np.ones((3, 9), np.float32)
    grad_c = (gh,) if cls is pyrnn.nn.LSTMCell else ()
    cell.backward(gh, *grad_c)
    cell.backward(gh, *grad_c)  # two recorded calls: two backwards
    with pytest.raises(ValueError, match="backward"):
        cell.backward(gh, *grad_c)


def test_recorded_cell_step_sees_inputs_as_they_were():
    """The tape copies x and h: changing the caller's arrays after the call changes nothing."""
    cell = pyrnn.nn.GRUCell(4, 5, seed=0, dtype=np.float64)
    rng = np.random.default_rng(3)
    x, h = rng.standard_normal((2, 4)), rng.standard_normal((2, 5))
    ref = pyrnn.nn.GRUCell(4, 5, seed=0, dtype=np.float64)
    ref(x.copy(), h.copy())
    want = ref.backward(np.ones((2, 5)))
    cell(x, h)
    x[:] = 0
    h[:] = 0
    got = cell.backward(np.ones((2, 5)))
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])

"""Optimizers against hand-written NumPy formulas (Keras 3's rules), clipping, schedules;
losses and metrics against their formulas and central differences."""

import numpy as np
import pytest

from pyrnn import losses, optimizers

G = [np.array([0.5, -1.0, 2.0, 0.0]), np.array([-0.3, 0.2, 1.5, -2.0]), np.array([1.0, 1.0, -1.0, 0.1])]
W0 = np.array([1.0, -2.0, 0.5, 3.0])


def _run(opt):
    w = W0.astype(np.float64).copy()
    for g in G:
        opt.apply_flat(w, g.copy())
    return w


def _adam(lr=0.001, b1=0.9, b2=0.999, eps=1e-7, wd=None, amsgrad=False):
    w, m, v, vh = W0.copy(), np.zeros(4), np.zeros(4), np.zeros(4)
    for t, g in enumerate(G, 1):
        if wd:
            w = w - w * wd * lr
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        vh = np.maximum(vh, v)
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        w = w - m * alpha / (np.sqrt(vh if amsgrad else v) + eps)
    return w


def _sgd(lr=0.01, momentum=0.0, nesterov=False):
    w, m = W0.copy(), np.zeros(4)
    for g in G:
        if momentum:
            m = momentum * m - lr * g
            w = w + (momentum * m - lr * g if nesterov else m)
        else:
            w = w - lr * g
    return w


def _rmsprop(lr=0.001, rho=0.9, momentum=0.0, eps=1e-7, centered=False):
    w, v, a, m = W0.copy(), np.zeros(4), np.zeros(4), np.zeros(4)
    for g in G:
        v = rho * v + (1 - rho) * g * g
        a = rho * a + (1 - rho) * g
        denom = v - a * a + eps if centered else v + eps
        inc = lr * g / np.sqrt(denom)
        if momentum:
            m = momentum * m + inc
            w = w - m
        else:
            w = w - inc
    return w


def _adagrad(lr=0.001, init=0.1, eps=1e-7):
    w, acc = W0.copy(), np.full(4, init)
    for g in G:
        acc = acc + g * g
        w = w - lr * g / np.sqrt(acc + eps)
    return w


CASES = [
    (lambda: optimizers.SGD(), _sgd()),
    (lambda: optimizers.SGD(0.1, momentum=0.9), _sgd(0.1, 0.9)),
    (lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True), _sgd(0.1, 0.9, True)),
    (lambda: optimizers.Adam(), _adam()),
    (lambda: optimizers.Adam(0.1, beta_1=0.8, amsgrad=True), _adam(0.1, b1=0.8, amsgrad=True)),
    (lambda: optimizers.AdamW(0.1), _adam(0.1, wd=0.004)),
    (lambda: optimizers.RMSprop(), _rmsprop()),
    (lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True), _rmsprop(0.01, momentum=0.5, centered=True)),
    (lambda: optimizers.Adagrad(0.1), _adagrad(0.1)),
]


@pytest.mark.parametrize("make,expected", CASES)
def test_update_rules(make, expected):
    np.testing.assert_allclose(_run(make()), expected, rtol=1e-12, atol=1e-14)


def test_defaults_match_keras():
    assert optimizers.get("adam").epsilon == 1e-7 and optimizers.get("adam").learning_rate == 0.001
    assert optimizers.get("sgd").learning_rate == 0.01
    assert optimizers.get("rmsprop").rho == 0.9
    assert optimizers.get("adagrad").initial_accumulator_value == 0.1
    assert optimizers.get("adamw").weight_decay == 0.004


def test_clipping():
    a, b = np.array([3.0, 4.0]), np.array([0.1, 0.0])  # norms 5 and 0.1
    w1, w2 = np.zeros(2), np.zeros(2)
    optimizers.SGD(1.0, clipnorm=1.0).apply_gradients([(a, w1), (b, w2)])
    np.testing.assert_allclose(w1, [-0.6, -0.8])
    np.testing.assert_allclose(w2, [-0.1, 0.0])
    w1, w2 = np.zeros(2), np.zeros(2)
    optimizers.SGD(1.0, global_clipnorm=1.0).apply_gradients([(a, w1), (b, w2)])
    norm = np.sqrt(25.01)
    np.testing.assert_allclose(np.concatenate([w1, w2]), -np.array([3, 4, 0.1, 0]) / norm)
    w1 = np.zeros(2)
    optimizers.SGD(1.0, clipvalue=0.5).apply_gradients([(a, w1)])
    np.testing.assert_allclose(w1, [-0.5, -0.5])
    with pytest.raises(ValueError):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)


def test_schedules():
    s = optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert s(10) == pytest.approx(0.05) and s(5) == pytest.approx(0.1 * 0.5 ** 0.5)
    st = optimizers.ExponentialDecay(0.1, 10, 0.5, staircase=True)
    assert st(15) == pytest.approx(0.05)
    opt = optimizers.SGD(learning_rate=s)
    w = np.zeros(1)
    for _ in range(10):
        opt.apply_flat(w, np.ones(1))
    assert w[0] == pytest.approx(-sum(s(i) for i in range(10)))
    assert optimizers.PiecewiseConstantDecay([5], [1.0, 0.5])(6) == 0.5
    assert optimizers.CosineDecay(1.0, 10)(10) == pytest.approx(0.0)
    assert optimizers.InverseTimeDecay(1.0, 1, 1.0)(1) == 0.5


def test_optimizer_state_roundtrip():
    opt = optimizers.Adam(0.1)
    w = W0.copy()
    opt.apply_flat(w, G[0].copy())
    clone = optimizers.Adam(0.1)
    clone.set_state(opt.get_state())
    w2 = w.copy()
    opt.apply_flat(w, G[1].copy())
    clone.apply_flat(w2, G[1].copy())
    np.testing.assert_array_equal(w, w2)


# ---------------------------------------------------------------------- losses
Y = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
P = np.array([[0.2, 0.7, 0.1], [0.5, 0.3, 0.2]])


def test_loss_values():
    assert losses.get("mse")(Y, P) == pytest.approx(np.mean((Y - P) ** 2))
    assert losses.get("mae")(Y, P) == pytest.approx(np.mean(np.abs(Y - P)))
    d = np.abs(Y - P)
    assert losses.get("huber")(Y, P) == pytest.approx(np.mean(np.where(d <= 1, 0.5 * d * d, d - 0.5)))
    assert losses.Huber(delta=0.1)(Y, P) == pytest.approx(np.mean(np.where(d <= 0.1, 0.5 * d * d, 0.1 * d - 0.005)))
    assert losses.get("categorical_crossentropy")(Y, P) == pytest.approx(-np.mean(np.log([0.7, 0.5])))
    assert losses.get("sparse_categorical_crossentropy")([1, 0], P) == pytest.approx(-np.mean(np.log([0.7, 0.5])))
    bce = -np.mean(Y * np.log(P) + (1 - Y) * np.log(1 - P))
    assert losses.get("binary_crossentropy")(Y, P) == pytest.approx(bce)
    z = np.log(P)
    assert losses.CategoricalCrossentropy(from_logits=True)(Y, z) == pytest.approx(-np.mean(np.log([0.7, 0.5])))
    logits = np.array([[2.0, -1.0, 0.5]])
    sig = 1 / (1 + np.exp(-logits))
    assert losses.BinaryCrossentropy(from_logits=True)(Y[:1], logits) == pytest.approx(
        -np.mean(Y[:1] * np.log(sig) + (1 - Y[:1]) * np.log(1 - sig)))
    # clipping as Keras: a zero probability costs -log(1e-7), not infinity
    assert losses.get("categorical_crossentropy")([[1.0, 0.0]], [[0.0, 1.0]]) == pytest.approx(-np.log(1e-7), rel=1e-6)
    for alias in ("MeanSquaredError", "mean_squared_error", "MSE", "mae", "bce", "cce", "huber_loss"):
        losses.get(alias)


@pytest.mark.parametrize("loss", [losses.MeanSquaredError(), losses.MeanAbsoluteError(), losses.Huber(0.3),
                                  losses.BinaryCrossentropy(), losses.BinaryCrossentropy(from_logits=True),
                                  losses.CategoricalCrossentropy(), losses.CategoricalCrossentropy(from_logits=True),
                                  losses.BinaryCrossentropy(label_smoothing=0.1)])
def test_loss_gradients(loss):
    p = P.copy() + 0.013
    _, g = loss.value_and_grad(Y, p)
    num = np.zeros_like(p)
    for i in np.ndindex(p.shape):
        q = p.copy()
        q[i] += 1e-6
        up = loss(Y, q)
        q[i] -= 2e-6
        num[i] = (up - loss(Y, q)) / 2e-6
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-8)


def test_metrics():
    m = losses.get_metric("accuracy", y_true=Y, y_pred=P)
    assert m(Y, P) == 1.0
    m = losses.get_metric("accuracy", y_true=np.array([[1], [2]]), y_pred=P)
    assert m([[1], [2]], P) == 0.5
    m = losses.get_metric("acc", y_true=np.array([[1.0], [0.0]]), y_pred=np.array([[0.7], [0.6]]))
    assert m([[1.0], [0.0]], [[0.7], [0.6]]) == 0.5
    mae = losses.get_metric("mae")
    mae.update_state(Y, P)
    mae.update_state(Y[:1], P[:1])
    per = np.abs(Y - P).mean(axis=1)
    assert mae.result() == pytest.approx((per.sum() + per[0]) / 3)
    rmse = losses.get_metric("rmse")
    rmse.update_state(Y, P)
    assert rmse.result() == pytest.approx(np.sqrt(np.mean((Y - P) ** 2)))


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_float32_rounds_like_numpy(amsgrad):
    # The fused core step rounds each operation to float32 in Keras's order: bit for bit the
    # same as the same formula in NumPy float32 (sizes past any vector width).
    rng = np.random.default_rng(3)
    f = np.float32
    w = rng.standard_normal(37).astype(f)
    opt = optimizers.Adam(0.01, beta_1=0.8, amsgrad=amsgrad)
    want, m, v, vh = w.copy(), np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    for step in range(1, 6):
        g = rng.standard_normal(37).astype(f)
        opt.apply_flat(w, g)
        alpha = f(0.01) * np.sqrt(f(1) - f(0.999) ** f(step)) / (f(1) - f(0.8) ** f(step))
        m += (g - m) * f(1 - 0.8)
        v += (np.square(g) - v) * f(1 - 0.999)
        vh = np.maximum(vh, v)
        want -= (m * alpha) / (np.sqrt(vh if amsgrad else v) + f(1e-7))
        np.testing.assert_array_equal(w, want)


def test_adam_core_step_rejects_bad_arrays():
    from pyrnn import _core
    w, g = np.zeros(4, np.float32), np.zeros(4, np.float32)
    m, v = np.zeros(4, np.float32), np.zeros(4, np.float32)
    args = (0.1, 0.1, 0.001, 1e-7)
    with pytest.raises(ValueError, match=r"g: expected shape \(4,\), got \(3,\)"):
        _core.adam_update(w, np.zeros(3, np.float32), m, v, None, *args)
    with pytest.raises(TypeError, match="m: expected dtype float32"):
        _core.adam_update(w, g, np.zeros(4), v, None, *args)
    readonly = np.zeros(4, np.float32)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="v: .*writ"):
        _core.adam_update(w, g, m, readonly, None, *args)
    with pytest.raises(ValueError, match="w: expected a 1-D array"):
        _core.adam_update(np.zeros((2, 2), np.float32), g, m, v, None, *args)

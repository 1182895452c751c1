"""Optimizers: the expectations of Keras 3's own tests (keras/src/optimizers/{sgd,adam,adamw,
rmsprop,adagrad,optimizer}_test.py, their numbers carried over): single steps, golden
trajectories, weight decay and its exclusions, clipping, EMA, loss scaling, gradient
accumulation, ``variables``, configs. Parity with Keras itself at the end (skips without it)."""

import warnings

import numpy as np
import pytest

from pyrnn import constraints, optimizers
from pyrnn.optimizers import Variable

CLASSES = {"sgd": optimizers.SGD, "adam": optimizers.Adam, "adamw": optimizers.AdamW,
           "rmsprop": optimizers.RMSprop, "adagrad": optimizers.Adagrad}


def close(a, b, tol=1e-4):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=tol, atol=tol)


@pytest.mark.parametrize("cls,expected", [
    (optimizers.SGD, [0.5, -1.0, -0.5, 3.0]),
    (optimizers.Adam, [0.5, 1.5, 2.5, 3.5]),
    (optimizers.AdamW, [0.4980, 1.4960, 2.494, 3.492]),
    (optimizers.RMSprop, [-0.5811, 0.4189, 1.4189, 2.4189]),
    (optimizers.Adagrad, [0.5233, 1.5007, 2.5005, 3.5061]),
])
def test_single_step(cls, expected):
    opt = cls(learning_rate=0.5)
    v = Variable([1.0, 2.0, 3.0, 4.0])
    opt.apply_gradients(zip([np.array([1.0, 6.0, 7.0, 2.0], np.float32)], [v]))
    close(v.value, expected)


def test_sgd_variables_single_step():
    opt = optimizers.SGD(learning_rate=0.5)
    assert len(opt.variables) == 2
    v = Variable([1.0, 2.0, 3.0, 4.0])
    opt.build([v])
    opt.apply_gradients(zip([np.array([1.0, 6.0, 7.0, 2.0])], [v]))
    close(v.value, [0.5, -1.0, -0.5, 3.0])
    assert len(opt.variables) == 2
    assert opt.variables[0].numpy() == 1 and opt.variables[1].numpy() == 0.5
    assert [x.name for x in opt.variables] == ["iteration", "learning_rate"]


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_weight_decay_and_exclusions(name):
    cls = CLASSES[name]
    g = np.zeros(())
    var1, var2, var3 = Variable(2.0), Variable(2.0, name="exclude"), Variable(2.0)
    cls(learning_rate=1.0, weight_decay=0.004).apply_gradients(zip([g], [var1]))
    opt2 = cls(learning_rate=1.0, weight_decay=0.004)
    opt2.exclude_from_weight_decay(var_names=["exclude"])
    opt2.apply_gradients(zip([g, g], [var1, var2]))
    opt3 = cls(learning_rate=1.0, weight_decay=0.004)
    opt3.exclude_from_weight_decay(var_list=[var3])
    opt3.apply_gradients(zip([g, g], [var1, var3]))
    np.testing.assert_almost_equal(var1.numpy(), 1.9760959, decimal=6)
    np.testing.assert_almost_equal(var2.numpy(), 2.0, decimal=6)
    np.testing.assert_almost_equal(var3.numpy(), 2.0, decimal=6)


def test_exclude_by_name_on_the_flat_vector():
    # the model's path: sizes, shapes and names given to build (what fit must pass)
    opt = optimizers.AdamW(learning_rate=1.0, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["bias"])
    opt.build([4, 2], np.float64, shapes=[(2, 2), (2,)], names=["dense/kernel", "dense/bias"])
    w = np.ones(6)
    opt.apply_flat(w, np.zeros(6))
    np.testing.assert_allclose(w, [0.5] * 4 + [1.0] * 2)
    assert [v.name for v in opt.variables][2:4] == ["dense_kernel_momentum", "dense_kernel_velocity"]
    with pytest.raises(ValueError, match="without variable names"):
        o = optimizers.SGD(weight_decay=0.1)
        o.build([3])
        o.exclude_from_weight_decay(var_names=["bias"])
    with pytest.raises(ValueError, match="built from sizes, not from the variables"):
        o = optimizers.SGD(weight_decay=0.1)
        o.exclude_from_weight_decay(var_list=[np.zeros(3)])
        o.build([3])


def test_in_fit():
    # what works through Sequential.fit today (it builds the optimizer from sizes only)
    from pyrnn.layers import Dense, Input
    from pyrnn.models import Sequential
    x = np.random.default_rng(0).standard_normal((32, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    model = Sequential([Input((3,)), Dense(1, seed=1)])
    model.compile(optimizer=optimizers.SGD(0.1, gradient_accumulation_steps=2), loss="mse")
    model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    assert model.optimizer.iterations == 6 and int(model.optimizer.variables[0].numpy()) == 12
    # options fit cannot honour yet are errors, not silently ignored
    opt = optimizers.AdamW(weight_decay=0.1)
    opt.exclude_from_weight_decay(var_names=["bias"])
    model.compile(optimizer=opt, loss="mse")
    with pytest.raises(ValueError, match="names"):
        model.fit(x, y, epochs=1, verbose=0)
    # loss_scale_factor: fit scales the gradients, the optimizer divides them back (Keras's step)
    start = model.get_weights()
    trained = []
    for factor in (None, 128.0):
        model.set_weights(start)
        model.compile(optimizer=optimizers.SGD(0.1, loss_scale_factor=factor), loss="mse")
        model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        trained.append(model.get_weights())
    for a, b, s in zip(*trained, start):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
        assert not np.allclose(a, s)


GOLDEN = {
    "sgd": (lambda: optimizers.SGD(nesterov=True), np.array([
        [0.9999] * 10,
        [0.9989, 0.9979, 0.9969, 0.9959, 0.9949, 0.9939, 0.9929, 0.9919, 0.9909, 0.9899],
        [0.9979, 0.9959, 0.9939, 0.9919, 0.9899, 0.9879, 0.9859, 0.9839, 0.9819, 0.9799],
        [0.9969, 0.9939, 0.9909, 0.9879, 0.9849, 0.9819, 0.9789, 0.9759, 0.9729, 0.9699],
        [0.9959, 0.9919, 0.9879, 0.9839, 0.9799, 0.9759, 0.9719, 0.9679, 0.9639, 0.9599]])),
    "adam": (lambda: optimizers.Adam(amsgrad=True),
             np.tile([[0.999], [0.9982], [0.9974], [0.9965], [0.9955]], (1, 10))),
    "adamw": (lambda: optimizers.AdamW(learning_rate=1.0, weight_decay=0.5, epsilon=2), np.array([
        [0.4998] * 10,
        [0.2486, 0.2475, 0.2463, 0.2451, 0.244, 0.2428, 0.2417, 0.2405, 0.2394, 0.2382],
        [0.1223, 0.1198, 0.1174, 0.1149, 0.1124, 0.11, 0.1075, 0.1051, 0.1027, 0.1003],
        [0.0586, 0.0549, 0.0512, 0.0475, 0.0439, 0.0402, 0.0366, 0.033, 0.0294, 0.0258],
        [0.0263, 0.0215, 0.0167, 0.012, 0.0073, 0.0026, -0.0021, -0.0067, -0.0113, -0.0159]])),
    "rmsprop": (lambda: optimizers.RMSprop(centered=True),
                np.tile([[0.9967], [0.9933], [0.9908], [0.9885], [0.9864]], (1, 10))),
    "adagrad": (lambda: optimizers.Adagrad(learning_rate=0.2, initial_accumulator_value=0.3, epsilon=1e-6), np.array([
        [0.9963] * 10,
        [0.9604, 0.9278, 0.9003, 0.8784, 0.8615, 0.8487, 0.8388, 0.8313, 0.8255, 0.8209],
        [0.9251, 0.8629, 0.8137, 0.7768, 0.7497, 0.7298, 0.7151, 0.704, 0.6956, 0.6891],
        [0.8903, 0.8012, 0.7342, 0.6862, 0.6521, 0.6277, 0.6099, 0.5967, 0.5867, 0.579],
        [0.856, 0.7422, 0.6604, 0.6037, 0.5644, 0.5367, 0.5168, 0.5021, 0.491, 0.4825]])),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_correctness_with_golden(name, dtype):
    make, golden = GOLDEN[name]
    opt = make()
    x = np.ones(10, dtype)
    grads = np.arange(0.1, 1.1, 0.1).astype(dtype)
    opt.apply_gradients(zip([np.full(10, 0.01, dtype)], [x]))
    for i in range(5):
        np.testing.assert_allclose(x, golden[i], rtol=5e-4, atol=5e-4)
        opt.apply_gradients(zip([grads], [x]))


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_clipping(name):
    cls = CLASSES[name]
    for kw, want in (({"clipnorm": 1}, [2 ** 0.5 / 2] * 2), ({"clipvalue": 1}, [1.0, 1.0])):
        opt = cls(**kw)
        opt.build([2])
        close(opt._clip(np.array([100.0, 100.0])), want, 1e-6)
    opt = optimizers.SGD(global_clipnorm=1)
    g = np.array([50.0, 100.0], np.float32)
    opt.build([2])
    close(opt._clip(g), g / np.linalg.norm(g), 1e-6)


def test_clip_args():
    assert optimizers.SGD(learning_rate=1.0, clipnorm=0.1).clipnorm == 0.1
    assert optimizers.SGD(learning_rate=1.0, clipvalue=0.1).clipvalue == 0.1
    assert optimizers.SGD(learning_rate=1.0, global_clipnorm=0.1).global_clipnorm == 0.1
    for kw in ({"clipnorm": 0.1, "clipvalue": 0.1}, {"clipnorm": 0.1, "global_clipnorm": 0.1}):
        with pytest.raises(ValueError, match="Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can"):
            optimizers.SGD(learning_rate=1.0, **kw)


def test_invalid_arguments_are_errors():
    for m in (-1.0, 2.0):
        with pytest.raises(ValueError, match=r"`momentum` must be a float between \[0, 1\]."):
            optimizers.SGD(momentum=m)
    with pytest.raises(ValueError, match="Argument `weight_decay` must be a float. Received: weight_decay=None"):
        optimizers.AdamW(learning_rate=1.0, weight_decay=None)
    with pytest.raises(ValueError, match=r"Argument\(s\) not recognized: \{'foo': 1\}"):
        optimizers.Adam(foo=1)
    with pytest.raises(ValueError, match="`ema_momentum` must be in the range"):
        optimizers.Adam(use_ema=True, ema_momentum=1.5)
    with pytest.raises(ValueError, match="`ema_overwrite_frequency` must be an integer >= 1"):
        optimizers.Adam(use_ema=True, ema_overwrite_frequency=0.5)
    with pytest.raises(ValueError, match="`gradient_accumulation_steps` must be an integer >= 2"):
        optimizers.SGD(gradient_accumulation_steps=1)
    with pytest.raises(ValueError, match="Argument `learning_rate` should be float"):
        optimizers.SGD(learning_rate="0.1")
    with pytest.raises(ValueError, match="`loss_scale_factor` must be a positive number"):
        optimizers.SGD(loss_scale_factor=0)
    with pytest.warns(UserWarning, match="`decay` is no longer supported"):
        optimizers.SGD(decay=0.1)


def test_iterations_counter():
    v = np.array([[1.0, 2.0], [3.0, 4.0]])
    opt = optimizers.Adam(learning_rate=1.0)
    assert opt.iterations == 0
    opt.apply_gradients([(np.ones((2, 2)), v)])
    assert opt.iterations == 1
    opt.apply_gradients([(np.ones((2, 2)), v)])
    assert opt.iterations == 2 and opt.variables[0].numpy() == 2


def test_empty_gradients():
    v = np.array([[3.0, 4.0], [5.0, 6.0]])
    with pytest.raises(ValueError, match="No gradients provided for any variable."):
        optimizers.SGD(learning_rate=1.0).apply_gradients([(None, v)])
    v2 = np.array([[3.0, 4.0], [5.0, 6.0]])
    opt = optimizers.SGD(learning_rate=1.0, momentum=0.5)
    with pytest.warns(Warning, match="Gradients do not exist"):
        opt.apply_gradients([(None, v), (np.ones((2, 2)), v2)])
    np.testing.assert_array_equal(v, [[3.0, 4.0], [5.0, 6.0]])
    np.testing.assert_array_equal(v2, [[2.0, 3.0], [4.0, 5.0]])
    # the variable without gradient keeps its state too
    np.testing.assert_array_equal(opt.variables[2].numpy(), 0)


def test_ema():
    v = np.array([[3.0, 4.0], [5.0, 6.0]])
    g = np.ones((2, 2))
    opt = optimizers.SGD(learning_rate=1.0, use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=3)
    opt.apply_gradients([(g, v)])
    close(v, [[2.0, 3.0], [4.0, 5.0]])
    average = next(x for x in opt.variables if x.name.endswith("_average"))
    close(average.value, [[2.0, 3.0], [4.0, 5.0]])  # initialised after the first step
    opt.apply_gradients([(g, v)])
    close(v, [[1.0, 2.0], [3.0, 4.0]])
    close(average.value, [[1.9, 2.9], [3.9, 4.9]])
    opt.apply_gradients([(g, v)])
    close(v, [[1.71, 2.71], [3.71, 4.71]])  # overwritten with the EMA
    close(average.value, [[1.71, 2.71], [3.71, 4.71]])


def test_ema_adam_and_finalize():
    opt = optimizers.Adam(learning_rate=1.0, use_ema=True, ema_momentum=0.9)
    var = np.array([1.0, 2.0], np.float32)
    g = np.array([0.1, 0.2], np.float32)
    opt.apply_gradients([(g, var)])
    v1 = var.copy()
    average = opt.variables[2]
    assert average.name == "variable_0_average"
    close(average.value, v1, 1e-6)
    opt.apply_gradients([(g, var)])
    v2 = var.copy()
    close(average.value, 0.9 * v1 + 0.1 * v2, 1e-6)
    opt.finalize_variable_values([var])
    close(var, 0.9 * v1 + 0.1 * v2, 1e-6)
    # swap (Keras's SwapEMAWeights) exchanges them in place, twice is the identity
    opt.apply_gradients([(g, var)])
    before, avg = var.copy(), average.numpy()
    opt.swap_ema_weights([var])
    close(var, avg, 0) and close(average.value, before, 0)
    opt.swap_ema_weights()
    close(var, before, 0)
    opt.finalize_ema_values()
    close(average.value, before, 0)
    with pytest.raises(ValueError, match="use_ema=False"):
        optimizers.Adam().swap_ema_weights([var])


def test_ema_overwrite_frequency():
    opt = optimizers.Adam(learning_rate=1.0, use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=2)
    plain = optimizers.Adam(learning_rate=1.0)
    var, var_plain = np.array([1.0, 2.0], np.float32), np.array([1.0, 2.0], np.float32)
    g = np.array([0.1, 0.2], np.float32)
    opt.apply_gradients([(g, var)])
    plain.apply_gradients([(g, var_plain)])
    v1 = var_plain.copy()
    close(var, v1, 1e-6)
    opt.apply_gradients([(g, var)])
    plain.apply_gradients([(g, var_plain)])
    close(var, 0.9 * v1 + 0.1 * var_plain, 1e-6)
    close(opt.variables[2].value, 0.9 * v1 + 0.1 * var_plain, 1e-6)


def test_ema_of_the_keras_fit_example():
    # Keras's test_ema_with_model_fit: Dense(2, ones, no bias), x = 1, y = 0, mse, SGD(0.1),
    # two steps: grad of mean(w²) is w; the EMA after two steps is 0.891 (the fit itself must call
    # finalize_variable_values at the end of training).
    opt = optimizers.SGD(learning_rate=0.1, use_ema=True, ema_momentum=0.9)
    w = np.ones((1, 2), np.float32)
    for _ in range(2):
        opt.apply_gradients([(w.copy(), w)])
    close(opt.variables[2].value, [[0.891, 0.891]], 1e-5)
    opt.finalize_variable_values([w])
    close(w, [[0.891, 0.891]], 1e-5)


def test_ema_on_the_flat_vector():
    opt = optimizers.SGD(learning_rate=0.1, use_ema=True, ema_momentum=0.9)
    w = np.ones(4)
    opt.apply_flat(w, w.copy())
    opt.apply_flat(w, w.copy())
    opt.finalize_variable_values()  # the flat vector it updated
    close(w, [0.891] * 4, 1e-12)


def test_constraints_are_applied():
    v = Variable(np.random.default_rng(0).random((2, 2)) - 1.0, constraint=constraints.NonNeg())
    optimizers.SGD(learning_rate=0.0001).apply_gradients([(np.zeros((2, 2)), v)])
    assert np.min(v.value) == 0.0
    # on the flat vector: per-variable constraints with their shapes
    opt = optimizers.SGD(learning_rate=0.0)
    opt.build([4, 2], np.float64, shapes=[(2, 2), (2,)], constraints=[constraints.MaxNorm(1.0), None])
    w = np.array([3.0, 0.0, 4.0, 0.0, -5.0, 7.0])
    opt.apply_flat(w, np.zeros(6))
    np.testing.assert_allclose(w, [0.6, 0.0, 0.8, 0.0, -5.0, 7.0], rtol=1e-6)


def test_get():
    assert isinstance(optimizers.get("sgd"), optimizers.SGD)
    assert isinstance(optimizers.get("adamw"), optimizers.AdamW)
    assert optimizers.get(None) is None
    with pytest.raises(ValueError):
        optimizers.get("typo")
    assert optimizers.get({"class_name": "adamw", "config": {"weight_decay": 0.05}}).weight_decay == 0.05


def test_static_loss_scaling():
    v = np.array([[1.0, 2.0], [3.0, 4.0]])
    opt = optimizers.SGD(learning_rate=1.0, loss_scale_factor=1024.0)
    opt.apply_gradients([(np.array([[1.0, 2.0], [3.0, 4.0]]) * 1024.0, v)])
    assert opt.scale_loss(1.0) == 1024.0
    np.testing.assert_allclose(v, 0.0)
    # the flat path needs a loop that scales the loss, and says so
    with pytest.raises(NotImplementedError, match="loss_scale_factor"):
        optimizers.SGD(loss_scale_factor=2.0).apply_flat(np.ones(2), np.ones(2))
    w = np.ones(2)
    optimizers.SGD(1.0, loss_scale_factor=2.0).apply_flat(w, np.full(2, 2.0), loss_scaled=True)
    np.testing.assert_allclose(w, 0.0)


def test_set_weights():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    opt1 = optimizers.Adam()
    opt1.apply_gradients(zip([np.array([[1.0, 2.0], [3.0, 4.0]])], [x]))
    opt2 = optimizers.Adam()
    with pytest.raises(ValueError, match="You are calling"):
        opt2.set_weights(opt1.variables)
    opt2.build([x])
    opt2.set_weights(opt1.variables)
    for a, b in zip(opt1.variables, opt2.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy())
    assert opt2.iterations == 1


def test_variables_names_and_order():
    # Keras 3's order: iteration, learning_rate, averages, accumulators, then the slots
    opt = optimizers.Adam(0.1, amsgrad=True, use_ema=True, gradient_accumulation_steps=2)
    k, b = Variable(np.ones((2, 3)), name="kernel"), Variable(np.ones(3), name="bias")
    opt.build([k, b])
    assert [(v.name, v.shape) for v in opt.variables] == [
        ("iteration", ()), ("learning_rate", ()), ("kernel_average", (2, 3)), ("bias_average", (3,)),
        ("kernel_gradient_accumulator", (2, 3)), ("bias_gradient_accumulator", (3,)),
        ("kernel_momentum", (2, 3)), ("kernel_velocity", (2, 3)), ("bias_momentum", (3,)), ("bias_velocity", (3,)),
        ("kernel_velocity_hat", (2, 3)), ("bias_velocity_hat", (3,))]
    opt = optimizers.SGD(momentum=0.9)
    opt.build([k, b])
    assert [v.name for v in opt.variables] == ["iteration", "learning_rate", "kernel_momentum", "bias_momentum"]
    opt = optimizers.RMSprop(momentum=0.5, centered=True)
    opt.build([b])
    assert [v.name for v in opt.variables] == ["iteration", "learning_rate", "bias_velocity", "bias_momentum",
                                               "bias_average_gradient"]
    opt = optimizers.SGD(learning_rate=optimizers.schedules.ExponentialDecay(0.1, 10, 0.5))
    opt.build([k])
    assert [v.name for v in opt.variables] == ["iteration"]
    # the variables are the live state
    opt = optimizers.SGD(0.1, momentum=0.9)
    w = np.zeros(3)
    opt.apply_gradients([(np.ones(3), w)])
    np.testing.assert_allclose(opt.variables[2].numpy(), -0.1)
    assert optimizers.Adam().name == "adam" and optimizers.AdamW().name == "adam_w"
    assert optimizers.RMSprop().name == "rm_sprop"


def test_setting_lr_to_callable_untracks_lr_var():
    adam = optimizers.Adam(learning_rate=0.001)
    assert len(adam.variables) == 2
    adam.learning_rate = optimizers.schedules.ExponentialDecay(adam.learning_rate, 4, 0.5)
    assert len(adam.variables) == 1
    with pytest.raises(TypeError, match="not settable"):
        adam.learning_rate = 0.1


def test_callable_learning_rate():
    v = np.array([[1.0, 2.0], [3.0, 4.0]])
    opt = optimizers.SGD(learning_rate=lambda: 0.1)
    assert opt.iterations == 0
    opt.apply_gradients([(np.ones((2, 2)), v)])
    close(v, [[0.9, 1.9], [2.9, 3.9]], 1e-12)
    assert opt.iterations == 1


def test_gradient_accumulation():
    v = np.array([[1.0, 2.0], [3.0, 4.0]])
    g = np.ones((2, 2))
    opt = optimizers.SGD(learning_rate=1.0, gradient_accumulation_steps=3)
    assert opt.gradient_accumulation_steps == 3
    acc = lambda: next(x for x in opt.variables if x.name.endswith("gradient_accumulator")).numpy()
    expected = [([[1, 2], [3, 4]], 1, 1, 0), ([[1, 2], [3, 4]], 2, 2, 0), ([[0, 1], [2, 3]], 0, 3, 1),
                ([[0, 1], [2, 3]], 1, 4, 1)]
    for value, accumulated, raw, steps in expected:
        opt.apply_gradients([(g, v)])
        np.testing.assert_allclose(v, value)
        np.testing.assert_allclose(acc(), accumulated)
        assert opt.variables[0].numpy() == raw and opt.iterations == steps


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_gradient_accumulation_with_weight_decay(name):
    opt1 = optimizers.get({"class_name": name, "config": {"weight_decay": 0.05}})
    opt3 = optimizers.get({"class_name": name, "config": {"weight_decay": 0.05, "gradient_accumulation_steps": 3}})
    v1, v3 = np.array([[0.9], [0.5]], np.float32), np.array([[0.9], [0.5]], np.float32)
    rng = np.random.default_rng(0)
    for _ in range(8):
        g3 = rng.random((3, 2, 1)).astype("float32")
        opt1.apply_gradients([(g3.mean(axis=0), v1)])
        for batch in range(3):
            opt3.apply_gradients([(g3[batch], v3)])
    np.testing.assert_allclose(v1, v3, rtol=1e-6, atol=1e-6)


CONFIGS = [
    optimizers.SGD(learning_rate=0.5, momentum=0.06, nesterov=True, weight_decay=0.004),
    optimizers.Adam(learning_rate=0.5, beta_1=0.5, beta_2=0.67, epsilon=1e-5, amsgrad=True),
    optimizers.AdamW(learning_rate=0.5, weight_decay=0.008, beta_1=0.5, beta_2=0.67, epsilon=1e-5, amsgrad=True),
    optimizers.RMSprop(learning_rate=0.5, rho=0.8, momentum=0.05, epsilon=1e-6, centered=True),
    optimizers.Adagrad(learning_rate=0.5, initial_accumulator_value=0.2, epsilon=1e-5),
    optimizers.Adam(use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=3, clipnorm=1.0,
                    gradient_accumulation_steps=4, loss_scale_factor=8.0),
    optimizers.SGD(learning_rate=optimizers.ExponentialDecay(0.1, 10, 0.5), global_clipnorm=2.0),
]


@pytest.mark.parametrize("opt", CONFIGS, ids=lambda o: type(o).__name__)
def test_config_roundtrip(opt):
    config = opt.get_config()
    for key in ("name", "learning_rate", "weight_decay", "clipnorm", "global_clipnorm", "clipvalue", "use_ema",
                "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor", "gradient_accumulation_steps"):
        assert key in config
    clone = type(opt).from_config(config)
    assert clone.get_config() == config
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert type(again) is type(opt) and again.get_config() == config


# ---------------------------------------------------------------------- parity with Keras 3
# (the `keras` fixture is in conftest.py: Keras 3 on the torch backend, or a skip)


PARITY = [
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("SGD", {"learning_rate": 0.1, "clipnorm": 0.5, "use_ema": True, "ema_momentum": 0.8,
             "ema_overwrite_frequency": 3}),
    ("Adam", {"learning_rate": 0.05, "amsgrad": True, "global_clipnorm": 1.0}),
    ("Adam", {"learning_rate": 0.05, "gradient_accumulation_steps": 2, "weight_decay": 0.1}),
    ("AdamW", {"learning_rate": 0.05, "clipvalue": 0.3}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"learning_rate": 0.1, "use_ema": True}),
    ("Adam", {"learning_rate": 0.05, "loss_scale_factor": 4.0}),
]


@pytest.mark.parametrize("name,kwargs", PARITY, ids=lambda v: str(v))
def test_keras_parity(keras, name, kwargs):
    rng = np.random.default_rng(2)
    shapes = [(3, 4), (4,)]
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ours_vars = [Variable(a.copy(), name=n) for a, n in zip(init, ("kernel", "bias"))]
    theirs_vars = [keras.Variable(a.copy(), name=n) for a, n in zip(init, ("kernel", "bias"))]
    ours, theirs = getattr(optimizers, name)(**kwargs), getattr(keras.optimizers, name)(**kwargs)
    ours.exclude_from_weight_decay(var_names=["bias"])
    theirs.exclude_from_weight_decay(var_names=["bias"])
    for _ in range(7):
        grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        ours.apply_gradients(zip(grads, ours_vars))
        theirs.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], theirs_vars))
    for a, b in zip(ours_vars, theirs_vars):
        np.testing.assert_allclose(a.value, keras.ops.convert_to_numpy(b.value), rtol=2e-5, atol=2e-6)
    assert [v.name for v in ours.variables] == [v.name for v in theirs.variables]
    for a, b in zip(ours.variables, theirs.variables):
        np.testing.assert_allclose(a.numpy(), keras.ops.convert_to_numpy(b.value), rtol=2e-5, atol=2e-6,
                                   err_msg=a.name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keras_config = theirs.get_config()
    config = ours.get_config()
    assert set(keras_config) == set(config)
    for key in keras_config:
        if key not in ("name", "learning_rate"):
            assert config[key] == pytest.approx(keras_config[key]), key

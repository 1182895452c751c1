"""Interop: ONNX export run by ONNX Runtime, PyTorch round trips, Keras models and weight files.

Each engine is the other side of the comparison: pyrnn's outputs must match what ONNX Runtime,
torch.nn or Keras compute on the same weights. Every part skips when its package is absent.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # Keras 3 here runs on torch (no tensorflow)

import numpy as np
import pytest

import pyrnn
from pyrnn import layers as L
from pyrnn.models import Sequential

TOL = 1e-5  # float32, different kernels and summation orders


def _max_diff(a, b):
    assert np.shape(a) == np.shape(b), (np.shape(a), np.shape(b))
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)))) if np.size(a) else 0.0


def _perturbed(weights, seed=5):
    """Weights moved off their initial values (nonzero biases, forget bias != 1) for a stronger test."""
    rng = np.random.default_rng(seed)
    return [(w + rng.normal(0, 0.2, w.shape)).astype(w.dtype) for w in weights]


# =============================================================================== ONNX


@pytest.fixture
def ort():
    """onnxruntime; the test skips (before exporting anything) when it or the onnx package is absent."""
    pytest.importorskip("onnx")
    return pytest.importorskip("onnxruntime")


def _ort_session(ort, path_or_proto):
    """An ONNX Runtime session on the CPU for an exported file or ``onnx.ModelProto``."""
    if isinstance(path_or_proto, (str, os.PathLike)):
        source = os.fspath(path_or_proto)
    else:
        source = path_or_proto.SerializeToString()
    return ort.InferenceSession(source, providers=["CPUExecutionProvider"])


MODULES = [
    (pyrnn.nn.LSTM, {}),
    (pyrnn.nn.LSTM, {"num_layers": 2, "bidirectional": True, "batch_first": True}),
    (pyrnn.nn.LSTM, {"bias": False, "bidirectional": True}),
    (pyrnn.nn.GRU, {"num_layers": 2}),
    (pyrnn.nn.GRU, {"bidirectional": True, "batch_first": True, "reset_after": False}),
    (pyrnn.nn.GRU, {"num_layers": 3, "bidirectional": True, "bias": False}),
    (pyrnn.nn.RNN, {"num_layers": 2, "bidirectional": True}),
    (pyrnn.nn.RNN, {"nonlinearity": "relu", "batch_first": True}),
    (pyrnn.nn.RNN, {"nonlinearity": "sigmoid", "num_layers": 2}),
    (pyrnn.nn.RNN, {"nonlinearity": "linear", "bidirectional": True}),
]
MODULE_IDS = [f"{cls.__name__}-" + "-".join(f"{k}={v}" for k, v in kw.items()) for cls, kw in MODULES]


def _module_outputs(module, x, **kwargs):
    out, state = module(x, **kwargs)
    return [out] + (list(state) if isinstance(state, tuple) else [state])


@pytest.mark.parametrize("cls,kwargs", MODULES, ids=MODULE_IDS)
def test_onnx_module_matches_pyrnn_at_other_sizes(cls, kwargs, tmp_path, ort):
    """Exported once; run at two batch/time sizes, with lengths and initial states as inputs."""
    import pyrnn.onnx
    module = cls(5, 7, seed=3, dropout=0.0, **kwargs).eval()
    path = tmp_path / "module.onnx"
    pyrnn.onnx.export(module, path, lengths=True, initial_state=True)
    session = _ort_session(ort, path)
    rng = np.random.default_rng(0)
    lstm = cls is pyrnn.nn.LSTM
    for batch, steps in ((4, 9), (1, 2)):
        shape = (batch, steps, 5) if module.batch_first else (steps, batch, 5)
        x = rng.standard_normal(shape).astype(np.float32)
        lengths = rng.integers(0, steps + 1, batch)
        state_shape = (module.num_layers * module.num_directions, batch, 7)
        h0 = rng.standard_normal(state_shape).astype(np.float32)
        c0 = rng.standard_normal(state_shape).astype(np.float32)
        feed = {"input": x, "lengths": lengths, "h_0": h0}
        if lstm:
            feed["c_0"] = c0
        got = session.run(None, feed)
        expected = _module_outputs(module, x, hx=(h0, c0) if lstm else h0, lengths=lengths)
        for name, a, b in zip(("output", "h_n", "c_n"), got, expected):
            assert _max_diff(a, b) < TOL, (name, batch, steps)


def test_onnx_module_default_inputs_only_input(ort):
    """Without lengths/initial_state the graph has one input; it gives pyrnn's full-length result."""
    import pyrnn.onnx
    module = pyrnn.nn.GRU(3, 4, num_layers=2, seed=0).eval()
    proto = pyrnn.onnx.to_onnx(module)
    assert [i.name for i in proto.graph.input] == ["input"]
    assert [o.name for o in proto.graph.output] == ["output", "h_n"]
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("GRU") == 2
    assert all(a.i == 1 for n in proto.graph.node if n.op_type == "GRU" for a in n.attribute
               if a.name == "linear_before_reset")
    x = np.random.default_rng(1).standard_normal((11, 6, 3)).astype(np.float32)
    got = _ort_session(ort, proto).run(None, {"input": x})
    for a, b in zip(got, _module_outputs(module, x)):
        assert _max_diff(a, b) < TOL


def _random_ids(rng, batch, steps):
    """Token ids with padding (0) at the end, at the start, in the middle and a fully padded row."""
    ids = rng.integers(1, 20, (batch, steps))
    ids[0, steps // 2:] = 0
    ids[1, :2] = 0
    ids[2, 1] = 0
    ids[3] = 0
    return ids


def _masked_features(rng, batch, steps):
    x = rng.standard_normal((batch, steps, 3)).astype(np.float32)
    x[0, steps // 2:] = 0
    x[1, :2] = 0
    x[2, 1] = 0
    x[3] = 0
    return x


SEQUENTIALS = {
    "simple_rnn": (lambda: [L.Input((None, 3)), L.SimpleRNN(4), L.Dense(2)], "features"),
    "simple_rnn_relu_seq": (lambda: [L.Input((None, 3)), L.SimpleRNN(4, activation="relu", return_sequences=True),
                                     L.Dense(2)], "features"),
    "gru_stack_backwards": (lambda: [L.Input((None, 3)), L.GRU(4, return_sequences=True),
                                     L.GRU(3, go_backwards=True), L.Dense(2, activation="softmax")], "features"),
    "gru_reset_before_td": (lambda: [L.Input((None, 3)), L.GRU(4, reset_after=False, return_sequences=True,
                                                                go_backwards=True),
                                     L.TimeDistributed(L.Dense(2, activation="tanh"))], "features"),
    "lstm_dropout_dense3d": (lambda: [L.Input((None, 3)), L.LSTM(4, return_sequences=True), L.Dropout(0.3),
                                      L.Dense(2, activation="sigmoid")], "features"),
    "bidirectional_concat": (lambda: [L.Input((None, 3)), L.Bidirectional(L.LSTM(4, return_sequences=True)),
                                      L.Bidirectional(L.GRU(3)), L.Dense(2)], "features"),
    "bidirectional_sum_mul_ave": (lambda: [L.Input((None, 3)),
                                           L.Bidirectional(L.GRU(4, return_sequences=True), merge_mode="sum"),
                                           L.Bidirectional(L.SimpleRNN(4, return_sequences=True), merge_mode="mul"),
                                           L.Bidirectional(L.LSTM(3), merge_mode="ave"), L.Dense(2)], "features"),
    "embedding_mask": (lambda: [L.Input((None,)), L.Embedding(20, 4, mask_zero=True),
                                L.LSTM(5, return_sequences=True), L.GRU(3), L.Dense(2)], "ids"),
    "embedding_mask_bidirectional": (lambda: [L.Input((None,)), L.Embedding(20, 4, mask_zero=True),
                                              L.Bidirectional(L.LSTM(5, return_sequences=True)),
                                              L.Bidirectional(L.GRU(3, go_backwards=True), merge_mode="sum"),
                                              L.Dense(2)], "ids"),
    "embedding_mask_bidirectional_seq": (lambda: [L.Input((None,)), L.Embedding(20, 4, mask_zero=True),
                                                  L.Bidirectional(L.GRU(3, return_sequences=True)),
                                                  L.Dense(2)], "ids"),
    "embedding_mask_backwards_seq": (lambda: [L.Input((None,)), L.Embedding(20, 4, mask_zero=True),
                                              L.SimpleRNN(5, return_sequences=True, go_backwards=True),
                                              L.TimeDistributed(L.Dense(2))], "ids"),
    "embedding_no_mask": (lambda: [L.Input((None,)), L.Embedding(20, 4), L.GRU(3), L.Dense(2)], "ids"),
    "masking": (lambda: [L.Input((None, 3)), L.Masking(0.0), L.GRU(5, return_sequences=True),
                         L.TimeDistributed(L.Dense(2)), L.LSTM(3)], "masked"),
    # Keras's other GRU/LSTM activations: alphas/betas of Affine and HardSigmoid in ONNX's order
    "gated_activations": (lambda: [L.Input((None, 3)),
                                   L.LSTM(4, activation="linear", recurrent_activation="hard_sigmoid",
                                          return_sequences=True),
                                   L.Bidirectional(L.GRU(3, activation="relu", recurrent_activation="linear",
                                                         return_sequences=True)),
                                   L.GRU(3, activation="hard_sigmoid", recurrent_activation="tanh",
                                         reset_after=False), L.Dense(2)], "features"),
    "masked_activations": (lambda: [L.Input((None, 3)), L.Masking(0.0),
                                    L.LSTM(3, activation="sigmoid", recurrent_activation="linear")], "masked"),
    "dense_only": (lambda: [L.Input((3,)), L.Dense(5, activation="relu"), L.Dense(4, activation="selu"),
                            L.Dense(4, activation="elu"), L.Dense(3, activation="swish"),
                            L.Dense(2, activation="hard_sigmoid")], "flat"),
}


def _sequential_input(kind, rng, batch, steps):
    if kind == "ids":
        return _random_ids(rng, batch, steps)
    if kind == "masked":
        return _masked_features(rng, batch, steps)
    if kind == "flat":
        return rng.standard_normal((batch, 3)).astype(np.float32)
    return rng.standard_normal((batch, steps, 3)).astype(np.float32)


@pytest.mark.parametrize("name", sorted(SEQUENTIALS))
def test_onnx_sequential_matches_pyrnn(name, tmp_path, ort):
    make_layers, kind = SEQUENTIALS[name]
    model = Sequential(make_layers(), seed=1)
    model.set_weights(_perturbed(model.get_weights()))
    path = tmp_path / "model.onnx"
    model.export(path, format="onnx")
    session = _ort_session(ort, path)
    rng = np.random.default_rng(2)
    for batch, steps in ((6, 8), (4, 3)):
        x = _sequential_input(kind, rng, batch, steps)
        got = session.run(None, {"input": x})[0]
        assert _max_diff(got, model.predict(x, verbose=0)) < TOL, (batch, steps)


@pytest.mark.parametrize("kind", ["features", "ids"])
def test_onnx_sequential_declared_length_stays_dynamic(kind, ort):
    """An Input with a fixed length (as Keras models often have) still exports a dynamic time axis:
    pyrnn runs other lengths, so must ONNX Runtime."""
    import pyrnn.onnx
    first = [L.Input((7,)), L.Embedding(20, 4, mask_zero=True)] if kind == "ids" else [L.Input((7, 3))]
    model = Sequential(first + [L.GRU(4, return_sequences=True), L.Dense(2)], seed=1)
    proto = pyrnn.onnx.to_onnx(model)
    dims = lambda value: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
    assert dims(proto.graph.input[0]) == (["batch", "time"] if kind == "ids" else ["batch", "time", 3])
    assert dims(proto.graph.output[0]) == ["batch", "time", 2]
    session = _ort_session(ort, proto)
    rng = np.random.default_rng(4)
    for batch, steps in ((4, 5), (5, 9)):
        x = _sequential_input("ids" if kind == "ids" else "features", rng, batch, steps)
        assert _max_diff(session.run(None, {"input": x})[0], model.predict(x, verbose=0)) < TOL, (batch, steps)


def test_onnx_errors(tmp_path):
    pytest.importorskip("onnx")
    import pyrnn.onnx
    with pytest.raises(NotImplementedError, match="proj_size"):
        pyrnn.onnx.to_onnx(pyrnn.nn.LSTM(3, 4, proj_size=2))
    with pytest.raises(TypeError, match="pyrnn.nn RNN/GRU/LSTM or a pyrnn.models.Sequential"):
        pyrnn.onnx.to_onnx(pyrnn.nn.LSTMCell(3, 4))
    with pytest.raises(TypeError, match="got builtins.dict"):
        pyrnn.onnx.export({}, tmp_path / "x.onnx")
    with pytest.raises(TypeError, match="path must be a str or os.PathLike, got int"):
        pyrnn.onnx.export(pyrnn.nn.GRU(2, 3), 5)

    class Scale(L.Layer):  # a layer of the user's: it has no ONNX mapping
        pass

    with pytest.raises(NotImplementedError, match=r"'scale' \(Scale\) is not supported"):
        pyrnn.onnx.to_onnx(Sequential([L.Input((4, 3)), L.GRU(2), Scale()]))
    with pytest.raises(NotImplementedError, match=r"\(TimeDistributed\(Dropout\)\)"):
        pyrnn.onnx.to_onnx(Sequential([L.Input((4, 3)), L.TimeDistributed(L.Dropout(0.1))]))
    with pytest.raises(NotImplementedError, match="stateful"):
        pyrnn.onnx.to_onnx(Sequential([L.Input((4, 3)), L.GRU(2, stateful=True)]))
    with pytest.raises(ValueError, match="not built"):
        pyrnn.onnx.to_onnx(Sequential([L.GRU(2)]))
    with pytest.raises(ValueError, match="format must be 'onnx'"):
        Sequential([L.Input((4, 3)), L.GRU(2)]).export(tmp_path / "m", format="tf_saved_model")
    with pytest.raises(ValueError, match="apply to pyrnn.nn modules"):
        pyrnn.onnx.to_onnx(Sequential([L.Input((4, 3)), L.GRU(2)]), lengths=True)
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize("package", ["onnx", "torch"])
def test_missing_optional_package_says_how_to_install(package, monkeypatch, tmp_path):
    """Without the optional package, each path raises ModuleNotFoundError naming it and the pip extra."""
    monkeypatch.setitem(__import__("sys").modules, package, None)
    calls = {"onnx": lambda: pyrnn.onnx.to_onnx(pyrnn.nn.GRU(2, 3)),
             "torch": lambda: pyrnn.nn.GRU(2, 3).to_torch()}
    extra = {"onnx": "onnx", "torch": "torch"}[package]
    with pytest.raises(ModuleNotFoundError, match=rf"pip install {package} \(or pyrnn\[{extra}\]\)"):
        calls[package]()


# =============================================================================== PyTorch

TORCH_MODULES = [
    ("LSTM", {"num_layers": 2, "bidirectional": True, "batch_first": True}),
    ("LSTM", {"proj_size": 3, "bias": False}),
    ("GRU", {"num_layers": 2, "dropout": 0.25}),
    ("GRU", {"bidirectional": True, "batch_first": True}),
    ("RNN", {"nonlinearity": "relu", "num_layers": 2, "bidirectional": True}),
    ("RNN", {"bias": False}),
]


@pytest.mark.parametrize("name,kwargs", TORCH_MODULES, ids=[f"{n}-{kw}" for n, kw in TORCH_MODULES])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_round_trip(name, kwargs, dtype):
    """torch -> pyrnn -> torch: the same options and weights, so the same outputs in every engine."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    original = getattr(torch.nn, name)(5, 6, dtype=getattr(torch, dtype), **kwargs).eval()
    ours = getattr(pyrnn.nn, name).from_torch(original)
    assert ours.dtype == np.dtype(dtype) and not ours.training
    back = ours.to_torch()
    assert type(back) is type(original) and not back.training
    assert {k: tuple(v.shape) for k, v in back.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in original.state_dict().items()}
    x = np.random.default_rng(1).standard_normal((3, 4, 5)).astype(dtype)
    tol = TOL if dtype == "float32" else 1e-12
    with torch.no_grad():
        expected = original(torch.from_numpy(x))
        again = back(torch.from_numpy(x))
    got = ours(x)
    flatten = lambda r: [r[0]] + (list(r[1]) if isinstance(r[1], tuple) else [r[1]])
    for a, b, c in zip(flatten(got), flatten(expected), flatten(again)):
        assert _max_diff(a, b.numpy()) < tol
        assert _max_diff(c.numpy(), b.numpy()) == 0.0  # the same weights, bit for bit
    for key in ("num_layers", "bidirectional", "batch_first", "dropout", "proj_size", "bias"):
        assert getattr(back, key) == getattr(original, key), key


@pytest.mark.parametrize("name,kwargs", [("RNNCell", {"nonlinearity": "relu"}), ("RNNCell", {"bias": False}),
                                         ("GRUCell", {}), ("LSTMCell", {})])
def test_torch_cell_round_trip(name, kwargs):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    original = getattr(torch.nn, name)(5, 6, **kwargs)
    ours = getattr(pyrnn.nn, name).from_torch(original).eval()
    back = ours.to_torch()
    x = np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32)
    h = np.random.default_rng(2).standard_normal((3, 6)).astype(np.float32)
    state = (h, h * 0.5) if name == "LSTMCell" else h
    as_torch = (lambda s: tuple(map(torch.from_numpy, s)) if isinstance(s, tuple) else torch.from_numpy(s))
    with torch.no_grad():
        expected = original(torch.from_numpy(x), as_torch(state))
        again = back(torch.from_numpy(x), as_torch(state))
    got = ours(x, state)
    pairs = zip(got, expected, again) if name == "LSTMCell" else [(got, expected, again)]
    for a, b, c in pairs:
        assert _max_diff(a, b.numpy()) < TOL
        assert _max_diff(c.numpy(), b.numpy()) == 0.0


def test_pyrnn_to_torch_trains_there():
    """pyrnn -> torch keeps the weights as torch parameters (a model can continue training in torch)."""
    torch = pytest.importorskip("torch")
    ours = pyrnn.nn.GRU(3, 4, num_layers=2, seed=0)
    theirs = ours.to_torch()
    assert theirs.training and all(p.requires_grad for p in theirs.parameters())
    for name, p in theirs.named_parameters():
        assert np.array_equal(p.detach().numpy(), ours.state_dict()[name])
    out, _ = theirs(torch.ones(2, 1, 3))
    out.sum().backward()
    assert theirs.weight_hh_l0.grad is not None


def test_torch_subclass_round_trip():
    """A user's subclass of a pyrnn.nn class converts as its base class does."""
    torch = pytest.importorskip("torch")

    class MyLSTM(pyrnn.nn.LSTM):
        pass

    original = torch.nn.LSTM(3, 4, batch_first=True).eval()
    ours = MyLSTM.from_torch(original)
    assert type(ours) is MyLSTM
    back = ours.to_torch()
    assert type(back) is torch.nn.LSTM and back.batch_first
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    with torch.no_grad():
        expected = original(torch.from_numpy(x))[0].numpy()
    assert _max_diff(ours(x)[0], expected) < TOL


def test_torch_errors():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="expects a torch.nn.LSTM, got torch.nn.modules.rnn.GRU"):
        pyrnn.nn.LSTM.from_torch(torch.nn.GRU(2, 3))
    with pytest.raises(TypeError, match="expects a torch.nn.GRUCell"):
        pyrnn.nn.GRUCell.from_torch(pyrnn.nn.GRUCell(2, 3))
    with pytest.raises(TypeError, match="float32 or all float64"):
        pyrnn.nn.RNN.from_torch(torch.nn.RNN(2, 3, dtype=torch.float16))
    with pytest.raises(TypeError, match="not on RNNBase"):
        pyrnn.nn.RNNBase.from_torch(torch.nn.LSTM(2, 3))
    with pytest.raises(TypeError, match="RNNBase has no torch.nn counterpart"):
        pyrnn.nn.RNNBase("LSTM", 2, 3).to_torch()
    with pytest.raises(ValueError, match="reset_after=False"):
        pyrnn.nn.GRU(2, 3, reset_after=False).to_torch()
    with pytest.raises(ValueError, match="nonlinearity='sigmoid'"):
        pyrnn.nn.RNNCell(2, 3, nonlinearity="sigmoid").to_torch()


# =============================================================================== Keras


def _keras():
    keras = pytest.importorskip("keras")
    return keras


KERAS_MODELS = {
    "simple_rnn": (lambda K: [K.SimpleRNN(5, activation="relu"), K.Dense(2)], "features"),
    "gru_stack": (lambda K: [K.GRU(5, return_sequences=True), K.GRU(4, go_backwards=True),
                             K.Dense(2, activation="softmax")], "features"),
    "gru_reset_before": (lambda K: [K.GRU(5, reset_after=False, return_sequences=True),
                                    K.TimeDistributed(K.Dense(2))], "features"),
    "lstm_dropout": (lambda K: [K.LSTM(5, return_sequences=True, dropout=0.1), K.Dropout(0.2),
                                K.Dense(3, activation="tanh")], "features"),
    "bidirectional": (lambda K: [K.Bidirectional(K.LSTM(4, return_sequences=True), merge_mode="ave"),
                                 K.Bidirectional(K.GRU(3)), K.Dense(2)], "features"),
    "embedding_mask": (lambda K: [K.Embedding(20, 4, mask_zero=True),
                                  K.Bidirectional(K.LSTM(5, return_sequences=True), merge_mode="sum"),
                                  K.GRU(3), K.Dense(2)], "ids"),
    "masking": (lambda K: [K.Masking(0.0), K.SimpleRNN(5, return_sequences=True), K.LSTM(3), K.Dense(2)],
                "masked"),
}


def _keras_model(name):
    keras = _keras()
    make_layers, kind = KERAS_MODELS[name]
    keras.utils.set_random_seed(1)
    shape, dtype = ((7,), "int32") if kind == "ids" else ((7, 3), "float32")
    kmodel = keras.Sequential([keras.Input(shape, dtype=dtype)] + make_layers(keras.layers))
    kmodel.set_weights(_perturbed(kmodel.get_weights()))
    x = _sequential_input(kind, np.random.default_rng(3), 6, 7)
    return kmodel, x


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("name", sorted(KERAS_MODELS))
def test_from_keras_predicts_as_keras(name):
    kmodel, x = _keras_model(name)
    model = pyrnn.models.from_keras(kmodel)
    assert [type(l).__name__ for l in model.layers] == [type(l).__name__ for l in kmodel.layers]
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), kmodel.get_weights()))
    expected = np.asarray(kmodel.predict(x, verbose=0))
    assert _max_diff(model.predict(x, verbose=0), expected) < TOL


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_keras_weights_file_loads_and_fine_tunes(tmp_path):
    """A Keras .weights.h5 file into a pyrnn model of the same layers: same predictions, then training."""
    kmodel, x = _keras_model("embedding_mask")
    path = tmp_path / "trained.weights.h5"
    kmodel.save_weights(path)
    model = Sequential([L.Input((7,)), L.Embedding(20, 4, mask_zero=True),
                        L.Bidirectional(L.LSTM(5, return_sequences=True), merge_mode="sum"), L.GRU(3), L.Dense(2)])
    model.load_weights(path)
    assert _max_diff(model.predict(x, verbose=0), np.asarray(kmodel.predict(x, verbose=0))) < TOL
    model.compile(optimizer="adam", loss="mse")
    y = np.zeros((len(x), 2), np.float32)
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=5, batch_size=6, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_keras_errors(tmp_path):
    keras = _keras()
    K = keras.layers
    with pytest.raises(TypeError, match="expects a keras.Sequential or functional keras.Model"):
        pyrnn.models.from_keras(Sequential([L.Input((3, 2)), L.GRU(2)]))
    with pytest.raises(ValueError, match="'Conv1D'.*not supported"):
        pyrnn.models.from_keras(keras.Sequential([keras.Input((4, 3)), K.Conv1D(2, 2)]))
    with pytest.raises(ValueError, match="not built"):
        pyrnn.models.from_keras(keras.Sequential([K.GRU(2)]))

    kmodel = keras.Sequential([keras.Input((4, 3)), K.LSTM(5), K.Dense(2)])
    path = tmp_path / "k.weights.h5"
    kmodel.save_weights(path)
    other = Sequential([L.Input((4, 3)), L.GRU(5), L.Dense(2)])
    before = other.get_weights()
    with pytest.raises(ValueError,
                       match=r"k.weights.h5': layer 'gru\w*' \(GRU, Keras group 'layers/gru'\).*another architecture"):
        other.load_weights(path)
    wider = Sequential([L.Input((4, 3)), L.LSTM(6), L.Dense(2)])
    with pytest.raises(ValueError, match=r"expects weights of shapes"):
        wider.load_weights(path)
    shorter = Sequential([L.Input((4, 3)), L.LSTM(5)])
    with pytest.raises(ValueError, match="layers the model does not have: \\['dense'\\]"):
        shorter.load_weights(path)
    assert all(np.array_equal(a, b) for a, b in zip(other.get_weights(), before))  # nothing was loaded
    with pytest.raises(FileNotFoundError, match="missing.weights.h5"):
        other.load_weights(tmp_path / "missing.weights.h5")

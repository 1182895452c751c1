"""Keras 3's own layer tests, ported: the expected numbers and behaviours of
keras/src/layers/rnn/{simple_rnn,gru,lstm,bidirectional,time_distributed,rnn,stacked_rnn_cells,
dropout_rnn_cell}_test.py and keras/src/layers/core/{dense,embedding,masking}_test.py for what
pyrnn supports (written here from their facts; each test names the Keras test it follows). The
numbers are Keras's: constant initializers (kernel 0.01, recurrent 0.02, bias 0.03) on
np.arange inputs. Runs without Keras.

Not ported: custom cells (OneStateRNNCell, TwoStatesRNNCell, RNNCellWithDropout: pyrnn's RNN runs
only its built-in cells), sparse/ragged inputs, LoRA, quantization, cuDNN dispatch, Conv2D."""

import numpy as np
import pytest

from pyrnn import initializers
from pyrnn import layers as P
from pyrnn.models import Model, Sequential, load_model


def _const(cls, units, kernel=0.01, recurrent=0.02, bias=0.03, **kw):
    return cls(units, kernel_initializer=initializers.Constant(kernel),
               recurrent_initializer=initializers.Constant(recurrent), bias_initializer=initializers.Constant(bias),
               **kw)


def _rows(*values, width):
    return np.array([[v] * width for v in values], np.float32)


SEQ_234 = np.arange(24).reshape((2, 3, 4)).astype("float32")
SEQ_243 = np.arange(24).reshape((2, 4, 3)).astype("float32")
SEQ_364 = np.arange(72).reshape((3, 6, 4)).astype("float32")
MASK = np.array([[True, True, False, True], [True, False, False, True]])


# ---------------------------------------------------------------------- simple_rnn_test.py
def test_simple_rnn_basics_weights_and_losses():
    # SimpleRNNTest.test_basics: 3 trainable weights; 3 losses with bias/kernel/recurrent regularizers
    layer = P.SimpleRNN(3, return_sequences=True, bias_regularizer="l1", kernel_regularizer="l2",
                        recurrent_regularizer="l2")
    out = layer(np.random.default_rng(0).random((3, 2, 4)).astype(np.float32))
    assert out.shape == (3, 2, 3) and len(layer.trainable_weights) == 3 and len(layer.losses) == 3
    assert layer.non_trainable_weights == []
    dropped = P.SimpleRNN(3, dropout=0.5, recurrent_dropout=0.5, seed=0)
    assert dropped(np.ones((3, 2, 4), np.float32), training=True).shape == (3, 3)
    assert dropped.supports_masking


@pytest.mark.parametrize("unroll", [False, True])
def test_simple_rnn_correctness(unroll):
    # SimpleRNNTest.test_correctness (unroll changes nothing)
    np.testing.assert_allclose(_const(P.SimpleRNN, 4, unroll=unroll)(SEQ_234),
                               _rows(0.405432, 0.73605347, width=4), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_const(P.SimpleRNN, 4, unroll=unroll, go_backwards=True)(SEQ_234),
                               _rows(0.11144729, 0.5528889, width=4), rtol=1e-5, atol=1e-6)


def test_simple_rnn_pass_initial_state():
    # SimpleRNNTest.test_pass_initial_state
    h0 = np.arange(8).reshape((2, 4)).astype("float32")
    np.testing.assert_allclose(_const(P.SimpleRNN, 4)(SEQ_243, initial_state=h0),
                               _rows(0.33621645, 0.6262637, width=4), rtol=1e-5)
    np.testing.assert_allclose(_const(P.SimpleRNN, 4, go_backwards=True)(SEQ_243, initial_state=h0),
                               _rows(0.07344437, 0.43043602, width=4), rtol=1e-5)


@pytest.mark.parametrize("cls,rows", [(P.SimpleRNN, (0.40559256, 0.7361247)), (P.GRU, (0.29542392, 0.5885018)),
                                      (P.LSTM, (0.3124785, 0.6863672))])
def test_statefulness(cls, rows):
    # SimpleRNNTest.test_statefulness, GRUTest.test_statefulness, LSTMTest.test_statefulness
    layer = _const(cls, 4, stateful=True)
    for _ in range(2):
        layer(SEQ_234)
        np.testing.assert_allclose(layer(SEQ_234), _rows(*rows, width=4), rtol=1e-5, atol=1e-5)
        layer.reset_state()


# SimpleRNNTest.test_masking, GRUTest.test_masking: (units, last outputs unrolled, last outputs with
# go_backwards); the two sequences of a 2-unit layer
MASKED = [(P.SimpleRNN, 4, (0.32951632, 0.61799484), (0.07376196, 0.43645123),
           (0.0599281, 0.15122814, 0.15122814, 0.32394567), (0.3969304, 0.3969304, 0.3969304, 0.608085)),
          (P.GRU, 2, (0.19393763, 0.30818558), (0.11669192, 0.28380975),
           (0.03606692, 0.09497581, 0.09497581, 0.19393763), (0.16051409, 0.16051409, 0.16051409, 0.30818558))]


@pytest.mark.parametrize("cls,units,last,back,seq0,seq1", MASKED)
def test_masking(cls, units, last, back, seq0, seq1):
    # SimpleRNNTest.test_masking, GRUTest.test_masking: a masked step keeps the state and repeats
    # the output (zero_output_for_mask: zeros there)
    np.testing.assert_allclose(_const(cls, units, unroll=True)(SEQ_243, mask=MASK), _rows(*last, width=units),
                               rtol=1e-5)
    np.testing.assert_allclose(_const(cls, units, go_backwards=True)(SEQ_243, mask=MASK), _rows(*back, width=units),
                               rtol=1e-5)
    for zero in (False, True):
        out = _const(cls, 2, return_sequences=True, zero_output_for_mask=zero)(SEQ_243, mask=MASK)
        for b, seq in enumerate((seq0, seq1)):
            want = _rows(*seq, width=2) * (MASK[b][:, None] if zero else 1)
            np.testing.assert_allclose(out[b], want, rtol=1e-5)


# ---------------------------------------------------------------------- gru_test.py
def test_gru_basics():
    # GRUTest.test_basics
    for kw in ({"dropout": 0.5}, {"dropout": 0.5, "recurrent_dropout": 0.5}):
        layer = P.GRU(3, seed=0, **kw)
        assert layer(np.ones((3, 2, 4), np.float32), training=True).shape == (3, 3)
        assert len(layer.trainable_weights) == 3
    layer = P.GRU(3, return_sequences=True, bias_regularizer="l1", kernel_regularizer="l2",
                  recurrent_regularizer="l2")
    assert layer(np.ones((3, 2, 4), np.float32)).shape == (3, 2, 3) and len(layer.losses) == 3


# GRUTest.test_correctness and LSTMTest.test_correctness on (3, 6, 4) inputs, 3 units: options -> rows
# (LSTM's unit_forget_bias=True puts 1 in the forget gate's bias)
CORRECTNESS = [
    (P.GRU, {}, (0.5217289, 0.6371659, 0.39384964)),
    (P.GRU, {"go_backwards": True}, (0.24406259, 0.611516, 0.3928808)),
    (P.GRU, {"unroll": True}, (0.5217289, 0.6371659, 0.39384964)),
    (P.GRU, {"reset_after": False}, (0.51447755, 0.6426879, 0.40208298)),
    (P.GRU, {"use_bias": False}, (0.49988455, 0.64701194, 0.4103359)),
    (P.LSTM, {}, (0.6288687, 0.86899155, 0.9460773)),
    (P.LSTM, {"go_backwards": True}, (0.35622165, 0.74789524, 0.8872726)),
    (P.LSTM, {"unroll": True}, (0.6288687, 0.86899155, 0.9460773)),
    (P.LSTM, {"unit_forget_bias": False}, (0.57019705, 0.8661914, 0.9459622)),
    (P.LSTM, {"use_bias": False}, (0.54986924, 0.86226785, 0.9443936)),
]


@pytest.mark.parametrize("implementation", [1, 2])
@pytest.mark.parametrize("cls,options,rows", CORRECTNESS)
def test_gru_lstm_correctness(implementation, cls, options, rows):
    # GRUTest.test_correctness, LSTMTest.test_correctness
    out = _const(cls, 3, implementation=implementation, **options)(SEQ_364)
    np.testing.assert_allclose(out, _rows(*rows, width=3), rtol=1e-5, atol=1e-5)


def test_gru_pass_initial_and_return_state():
    # GRUTest.test_pass_initial_state, GRUTest.test_pass_return_state
    h0 = np.arange(4).reshape((2, 2)).astype("float32")
    want = np.array([[0.23774096, 0.33508456], [0.83659905, 1.0227708]])
    want_back = np.array([[0.13486053, 0.23261218], [0.78257304, 0.9691353]])
    np.testing.assert_allclose(_const(P.GRU, 2)(SEQ_243, initial_state=h0), want, rtol=1e-5)
    np.testing.assert_allclose(_const(P.GRU, 2, go_backwards=True)(SEQ_243, initial_state=h0), want_back, rtol=1e-5)
    for kw, expected in (({}, want), ({"go_backwards": True}, want_back)):
        out, state = _const(P.GRU, 2, return_state=True, **kw)(SEQ_243, initial_state=h0)
        np.testing.assert_allclose(out, expected, rtol=1e-5)
        np.testing.assert_allclose(out, state)


def test_gru_legacy_implementation_argument():
    # GRUTest.test_legacy_implementation_argument: a config with implementation=0 still loads
    config = _const(P.GRU, 3).get_config()
    config["implementation"] = 0
    np.testing.assert_allclose(P.GRU.from_config(config)(SEQ_364), _rows(0.5217289, 0.6371659, 0.39384964, width=3),
                               rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------- lstm_test.py
def test_lstm_pass_initial_state():
    # LSTMTest.test_pass_initial_state
    init = [np.arange(4).reshape((2, 2)).astype("float32")] * 2
    np.testing.assert_allclose(_const(P.LSTM, 2)(SEQ_243, initial_state=init),
                               [[0.20574439, 0.3558822], [0.64930826, 0.66276]], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_const(P.LSTM, 2, go_backwards=True)(SEQ_243, initial_state=init),
                               [[0.13281618, 0.2790356], [0.5839337, 0.5992567]], rtol=1e-5, atol=1e-5)


def test_lstm_masking():
    # LSTMTest.test_masking
    mask = np.array([[True, True, True, False], [True, True, False, False]])
    np.testing.assert_allclose(_const(P.LSTM, 2, unroll=True)(SEQ_243, mask=mask),
                               _rows(0.11755939, 0.28556206, width=2), rtol=1e-5, atol=1e-5)
    out = _const(P.LSTM, 2, return_sequences=True)(SEQ_243, mask=mask)
    np.testing.assert_allclose(out[0], _rows(0.0158891, 0.05552048, 0.11755939, 0.11755939, width=2), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(out[1], _rows(0.14185596, 0.28556206, 0.28556206, 0.28556206, width=2), rtol=1e-5,
                               atol=1e-5)
    out = _const(P.LSTM, 2, return_sequences=True, zero_output_for_mask=True)(SEQ_243, mask=mask)
    np.testing.assert_allclose(out[0], _rows(0.0158891, 0.05552048, 0.11755939, 0.0, width=2), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[1], _rows(0.14185596, 0.28556206, 0.0, 0.0, width=2), rtol=1e-5, atol=1e-5)
    backwards_mask = np.array([[False, True, True, True], [False, False, True, True]])
    np.testing.assert_allclose(_const(P.LSTM, 2, go_backwards=True)(SEQ_243, mask=backwards_mask),
                               _rows(0.15341201, 0.3844719, width=2), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------- bidirectional_test.py
def test_bidirectional_basics():
    # SimpleRNNTest.test_basics (bidirectional_test.py): 6 weights; a given backward_layer with sum
    layer = P.Bidirectional(P.SimpleRNN(4))
    assert layer(np.ones((3, 2, 4), np.float32)).shape == (3, 8) and len(layer.trainable_weights) == 6
    layer = P.Bidirectional(P.SimpleRNN(4), backward_layer=P.SimpleRNN(4, go_backwards=True), merge_mode="sum")
    assert layer(np.ones((3, 2, 4), np.float32)).shape == (3, 4) and len(layer.trainable_weights) == 6
    assert layer.supports_masking


def test_bidirectional_correctness():
    # SimpleRNNTest.test_correctness (bidirectional_test.py)
    fw = _const(P.SimpleRNN, 2)
    np.testing.assert_allclose(P.Bidirectional(fw)(SEQ_234), [[0.39687276, 0.39687276, 0.10004295, 0.10004295],
                                                             [0.7237238, 0.7237238, 0.53391594, 0.53391594]],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(P.Bidirectional(fw, merge_mode="ave")(SEQ_234),
                               _rows(0.24845785, 0.6288199, width=2), rtol=1e-5, atol=1e-5)
    out1, out2 = P.Bidirectional(fw, merge_mode=None)(SEQ_234)
    np.testing.assert_allclose(out1, _rows(0.39687276, 0.7237238, width=2), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out2, _rows(0.10004295, 0.53391594, width=2), rtol=1e-5, atol=1e-5)
    bw = _const(P.SimpleRNN, 2, kernel=0.03, bias=0.01, go_backwards=True)
    np.testing.assert_allclose(P.Bidirectional(fw, backward_layer=bw, merge_mode="mul")(SEQ_234),
                               _rows(0.08374989, 0.6740834, width=2), rtol=1e-5, atol=1e-5)
    out = P.Bidirectional(_const(P.GRU, 2, return_sequences=True), merge_mode="sum")(SEQ_234)
    np.testing.assert_allclose(out[0], _rows(0.20937867, 0.34462988, 0.40290534, width=2), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[1], _rows(0.59829646, 0.6734641, 0.6479671, width=2), rtol=1e-5, atol=1e-5)


def test_bidirectional_statefulness():
    # SimpleRNNTest.test_statefulness (bidirectional_test.py)
    layer = P.Bidirectional(_const(P.LSTM, 2, stateful=True))
    want = [[0.26234663, 0.26234663, 0.16959146, 0.16959146], [0.6137073, 0.6137073, 0.5381646, 0.5381646]]
    for _ in range(2):
        layer(SEQ_243)
        np.testing.assert_allclose(layer(SEQ_243), want, rtol=1e-5, atol=1e-5)
        layer.reset_state()


def test_bidirectional_pass_initial_state():
    # SimpleRNNTest.test_pass_initial_state (bidirectional_test.py): 4 states, forward's then backward's
    base = np.arange(4).reshape((2, 2)).astype("float32")
    out = P.Bidirectional(_const(P.LSTM, 2))(SEQ_243, initial_state=[base * k for k in (1, 2, 3, 4)])
    np.testing.assert_allclose(out, [[0.20794602, 0.4577124, 0.14046375, 0.48191673],
                                     [0.6682636, 0.6711909, 0.60943645, 0.60950446]], rtol=1e-5, atol=1e-5)


def test_bidirectional_masking():
    # SimpleRNNTest.test_masking (bidirectional_test.py)
    out = P.Bidirectional(_const(P.GRU, 2))(SEQ_243, mask=MASK)
    np.testing.assert_allclose(out, [[0.19393763, 0.19393763, 0.11669192, 0.11669192],
                                     [0.30818558, 0.30818558, 0.28380975, 0.28380975]], rtol=1e-5, atol=1e-5)


def test_bidirectional_return_state():
    # SimpleRNNTest.test_return_state (bidirectional_test.py)
    output, h1, c1, h2, c2 = P.Bidirectional(_const(P.LSTM, 2, return_state=True))(SEQ_243)
    np.testing.assert_allclose(output, [[0.1990008, 0.1990008, 0.12659755, 0.12659755],
                                        [0.52335435, 0.52335435, 0.44717982, 0.44717982]], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h1, _rows(0.1990008, 0.52335435, width=2), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c1, _rows(0.35567185, 1.0492687, width=2), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h2, _rows(0.12659755, 0.44717982, width=2), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c2, _rows(0.2501858, 0.941473, width=2), rtol=1e-5, atol=1e-5)


def test_bidirectional_output_shape():
    # SimpleRNNTest.test_output_shape (bidirectional_test.py)
    x = np.array([[[101, 202], [303, 404]]], np.float32)
    for merge_mode in ["ave", "concat", "mul", "sum", None]:
        layer = P.Bidirectional(P.LSTM(2, return_state=True), merge_mode=merge_mode)
        output, shapes = layer(x), layer.compute_output_shape(x.shape)
        assert len(output) == len(shapes)
        for out, shape in zip(output, shapes):
            assert out.shape == tuple(shape)
    for merge_mode in ["concat", "ave", "mul", "sum"]:
        layer = P.Bidirectional(P.LSTM(2), merge_mode=merge_mode)
        assert layer(x).shape == layer.compute_output_shape(x.shape)
    layer = P.Bidirectional(P.LSTM(2), merge_mode=None)
    for out, shape in zip(layer(x), layer.compute_output_shape(x.shape)):
        assert out.shape == tuple(shape)


# ---------------------------------------------------------------------- time_distributed_test.py
def test_time_distributed_basics_and_correctness():
    # TimeDistributedTest.test_basics, TimeDistributedTest.test_correctness
    seq = np.arange(24).reshape((3, 2, 4)).astype("float32")
    layer = P.TimeDistributed(P.Dense(1, kernel_initializer=initializers.Constant(0.01), use_bias=False))
    np.testing.assert_allclose(layer(seq), [[[0.06], [0.22]], [[0.38], [0.54]], [[0.7], [0.86]]], rtol=1e-5)
    assert len(layer.trainable_weights) == 1 and layer.supports_masking


class _MaskedDense(P.Layer):
    """Keras's MaskedDense of TimeDistributedTest.test_masking: zeroes the rows its mask drops."""

    supports_masking = True

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.layer = P.Dense(units, kernel_initializer=initializers.Constant(0.01), use_bias=False)

    def _sublayers(self):
        return [self.layer]

    def build(self, input_shape):
        self.layer.build(input_shape)

    def call(self, inputs, training=False, mask=None):
        unmasked = self.layer.call(inputs)
        return unmasked if mask is None else (unmasked.T * mask.astype(inputs.dtype)).T


def test_time_distributed_masking():
    # TimeDistributedTest.test_masking
    seq = np.arange(24).reshape((3, 2, 4)).astype("float32")
    mask = np.array([[False, True], [True, False], [True, True]])
    np.testing.assert_allclose(P.TimeDistributed(_MaskedDense(1))(seq, mask=mask),
                               [[[0], [0.22]], [[0.38], [0]], [[0.7], [0.86]]], rtol=1e-5, atol=1e-7)


def test_time_distributed_with_mask_zero():
    # TimeDistributedTest.test_with_mask_zero: Embedding(mask_zero) then TimeDistributed(Dense) trains
    model = Sequential([P.Input((20,)), P.Embedding(10, 5, mask_zero=True),
                        P.TimeDistributed(P.Dense(5, activation="softmax"))])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    history = model.fit(rng.uniform(1, 10, (22, 20)), rng.integers(1, 2, (22, 20)), epochs=1, batch_size=16,
                        verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("mask_shape,ok", [((4, 5), True), ((4, 6), False), ((5, 5), False), ((4, 5, 1), True),
                                           ((4, 5, 2), True), ((4, 6, 2), False), ((5, 6), False)])
def test_time_distributed_mask_validation(mask_shape, ok):
    # TimeDistributedTest.test_mask_validation_with_{mismatched_timesteps,mismatched_batch_size,correct_shape,
    # 3d_mask,both_batch_and_timesteps_mismatched}
    td = P.TimeDistributed(P.Dense(5, activation="softmax"))
    inputs = np.zeros((4, 5, 3), np.float32)
    if ok:
        assert td(inputs, mask=np.ones(mask_shape, bool)).shape == (4, 5, 5)
    else:
        with pytest.raises(ValueError, match=r"The `mask` passed to the `TimeDistributed` layer has a shape"):
            td(inputs, mask=np.ones(mask_shape, bool))


def test_time_distributed_mask_validation_with_none_mask():
    # TimeDistributedTest.test_mask_validation_with_none_mask
    assert P.TimeDistributed(P.Dense(5))(np.zeros((4, 5, 3), np.float32), mask=None).shape == (4, 5, 5)


# ---------------------------------------------------------------------- rnn_test.py, stacked_rnn_cells_test.py
def test_rnn_stateful_batch_size_mismatch_raises():
    # RNNTest.test_stateful_batch_size_mismatch_raises (with a built-in cell)
    for batch_size, message in ((4, r"expects shape \(4, 5, 3\), got an array of shape \(1, 5, 3\)"),
                                (None, "same batch size")):
        inputs = P.Input((5, 3), batch_size=batch_size)
        model = Model(inputs, P.RNN(P.LSTMCell(2), stateful=True)(inputs))
        model(np.random.default_rng(0).random((4, 5, 3)).astype(np.float32))
        with pytest.raises(ValueError, match=message):
            model(np.random.default_rng(1).random((1, 5, 3)).astype(np.float32))


def test_rnn_serialization():
    # RNNTest.test_serialization (with built-in cells): config round trip
    for cell in (P.LSTMCell(2), P.GRUCell(3)):
        layer = P.RNN(cell, return_sequences=False)
        again = P.RNN.from_config(layer.get_config())
        assert again.get_config() == layer.get_config()


def test_stacked_lstm_cell_mask():
    # StackedRNNCellsTest.test_stacked_lstm_cell_mask
    cells = [P.LSTMCell(units=1, kernel_initializer="ones", recurrent_initializer="ones") for _ in range(2)]
    mask = np.array([[True, True, True], [True, True, False]])
    np.testing.assert_allclose(P.RNN(cells)(np.ones((2, 3, 4), np.float32), mask=mask), [[0.7793], [0.5998]],
                               atol=1e-4)


def test_return_state_stacked_lstm_cell_shapes():
    # StackedRNNCellsTest.test_return_state_stacked_lstm_cell. pyrnn lists the cells' states flat
    # ([output, h1, c1, h2, c2]) where Keras nests them per cell ([output, [h1, c1], [h2, c2]]).
    layer = P.RNN([P.LSTMCell(10), P.LSTMCell(10)], return_state=True)
    out = layer(np.zeros((2, 3, 5), np.float32))
    assert [o.shape for o in out] == [(2, 10)] * 5


def test_dropout_rnn_cell_basics():
    # DropoutRNNCellTest.test_basics (with the built-in cell's dropout): RNN(cell) in training
    layer = P.RNN(P.SimpleRNNCell(5, dropout=0.5, recurrent_dropout=0.5, seed=1337))
    x = np.random.default_rng(0).random((3, 2, 4)).astype(np.float32)
    assert layer(x, training=True).shape == (3, 5) and len(layer.trainable_weights) == 3
    assert not np.allclose(layer(x, training=True), layer(x))  # dropout only in training
    np.testing.assert_array_equal(layer(x), layer(x))


# ---------------------------------------------------------------------- dense_test.py
def test_dense_basics():
    # DenseTest.test_dense_basics: weights and losses counts, 3-D input
    layer = P.Dense(4, activation="relu", kernel_initializer="random_uniform", bias_initializer="ones",
                    use_bias=False)
    assert layer(np.ones((2, 3), np.float32)).shape == (2, 4) and len(layer.trainable_weights) == 1
    assert layer.losses == []
    layer = P.Dense(5, activation="sigmoid", kernel_regularizer="l2", bias_regularizer="l2")
    assert layer(np.ones((2, 3, 4), np.float32)).shape == (2, 3, 5)
    assert len(layer.trainable_weights) == 2 and len(layer.losses) == 2


@pytest.mark.parametrize("units,error", [(0, ValueError), (-3, ValueError), (2.5, TypeError), (None, TypeError),
                                         ("64", TypeError)])
def test_dense_invalid_units_raises(units, error):
    # DenseTest.test_dense_invalid_units_raises (pyrnn's policy: TypeError for a non-integer)
    with pytest.raises(error, match="units must be"):
        P.Dense(units)


def test_dense_correctness():
    # DenseTest.test_dense_correctness, test_dense_no_activation, test_dense_with_activation
    layer = P.Dense(units=2, activation="relu")
    layer.build((1, 2))
    layer.set_weights([np.array([[1.0, -2.0], [3.0, -4.0]]), np.array([5.0, -6.0])])
    np.testing.assert_allclose(layer(np.array([[-1.0, 2.0]])), [[10.0, 0.0]])
    for activation, want in ((None, [[5.0, -6.0]]), ("relu", [[5.0, 0.0]])):
        layer = P.Dense(units=2, use_bias=False, activation=activation)
        layer.build((1, 2))
        layer.set_weights([np.array([[1.0, -2.0], [3.0, -4.0]])])
        assert len(layer.get_weights()) == 1 and layer.bias is None
        np.testing.assert_allclose(layer(np.array([[-1.0, 2.0]])), want)
    np.testing.assert_array_equal(layer.kernel, [[1.0, -2.0], [3.0, -4.0]])


def test_dense_errors():
    # DenseTest.test_dense_errors: a second call on another feature size
    layer = P.Dense(units=2, activation="relu")
    layer(P.Input(batch_shape=(1, 2)))
    with pytest.raises(ValueError, match="incompatible with the layer"):
        layer(P.Input(batch_shape=(1, 3)))


def test_dense_constraints():
    # DenseTest.test_dense_constraints
    for arg in ("kernel_constraint", "bias_constraint"):
        layer = P.Dense(units=2, **{arg: "non_neg"})
        layer.build((None, 2))
        assert layer.get_config()[arg]["class_name"] == "NonNeg"


# ---------------------------------------------------------------------- embedding_test.py
def test_embedding_basics():
    # EmbeddingTest.test_embedding_basics
    layer = P.Embedding(4, 3)
    assert layer(np.array([1, 3], np.int32)).shape == (2, 3) and len(layer.trainable_weights) == 1
    assert layer.losses == [] and layer.compute_mask(np.array([1, 0])) is None
    layer = P.Embedding(5, 4, mask_zero=True)
    assert layer(np.array([[1, 2, 0], [0, 4, 3]], np.int64)).shape == (2, 3, 4)


def test_embedding_correctness_and_masking():
    # EmbeddingTest.test_correctness, test_masking, test_compute_mask_no_masking
    layer = P.Embedding(input_dim=3, output_dim=2)
    layer.build()
    layer.embeddings[...] = np.array([[0.0, 0.0], [2.0, 2.0], [3.0, 3.0]])  # Keras assigns the variable
    np.testing.assert_allclose(layer(np.array([2, 1, 0])), [[3.0, 3.0], [2.0, 2.0], [0.0, 0.0]])
    layer = P.Embedding(input_dim=3, output_dim=2, mask_zero=True)
    layer.build()
    np.testing.assert_array_equal(layer.compute_mask(np.array([2, 1, 0])), [True, True, False])
    assert P.Embedding(input_dim=3, output_dim=2).compute_mask(np.array([2, 1, 0])) is None


def test_embedding_constraints():
    # EmbeddingTest.test_embedding_constraints
    layer = P.Embedding(3, 2, embeddings_constraint="non_neg")
    layer.build((None, 2))
    assert layer.get_config()["embeddings_constraint"]["class_name"] == "NonNeg"


@pytest.mark.parametrize("bad", [3.7, 4.0, "3", None, True, False, -1, 0])
def test_embedding_invalid_dims(bad):
    # EmbeddingTest.test_invalid_input_dim, test_invalid_output_dim (pyrnn: TypeError for a non-integer)
    error = ValueError if isinstance(bad, int) and not isinstance(bad, bool) else TypeError
    with pytest.raises(error, match="input_dim must be"):
        P.Embedding(input_dim=bad, output_dim=8)
    with pytest.raises(error, match="output_dim must be"):
        P.Embedding(input_dim=10, output_dim=bad)
    with pytest.raises(error, match="output_dim must be"):
        P.Embedding.from_config({"input_dim": 10, "output_dim": bad})


def test_embedding_weights_constructor_arg():
    # EmbeddingTest.test_weights_constructor_arg
    np.testing.assert_array_equal(P.Embedding(3, 4, weights=np.ones((3, 4))).get_weights()[0], np.ones((3, 4)))
    np.testing.assert_array_equal(P.Embedding(3, 4, weights=[np.ones((3, 4))]).get_weights()[0], np.ones((3, 4)))


# ---------------------------------------------------------------------- masking_test.py
def test_masking_basics():
    # MaskingTest.test_masking_basics
    layer = P.Masking(mask_value=0.0)
    assert layer(np.ones((2, 3, 2), np.float32)).shape == (2, 3, 2)
    assert layer.get_weights() == [] and layer.losses == [] and layer.supports_masking


class _ExpectsMask(P.Layer):
    """MaskingTest.test_masking_correctness's TestLayer: call(inputs, mask) sees Masking's mask."""

    supports_masking = True
    seen = None

    def call(self, inputs, mask=None):
        type(self).seen = mask
        return inputs


def test_masking_correctness():
    # MaskingTest.test_masking_correctness
    x = np.array([[[0.0, 0.0], [1.0, 2.0], [0.0, 0.0]], [[2.0, 2.0], [0.0, 0.0], [2.0, 1.0]]])
    expected_mask = [[False, True, False], [True, False, True]]
    np.testing.assert_array_equal(P.Masking(mask_value=0.0).compute_mask(x), expected_mask)
    Sequential([P.Masking(mask_value=0.0), _ExpectsMask()])(x)
    np.testing.assert_array_equal(_ExpectsMask.seen, expected_mask)


def test_masking_with_tensor(tmp_path):
    # MaskingTest.test_masking_with_tensor: Masking + LSTM saves, loads and runs
    model = Sequential([P.Masking(mask_value=0.0), P.LSTM(1)])
    x = np.array([[[1.0, 2.0], [0.0, 0.0], [0.0, 0.0]], [[2.0, 2.0], [2.0, 1.0], [0.0, 0.0]]])
    out = model(x)
    model.save(tmp_path / "model.keras")
    np.testing.assert_allclose(load_model(tmp_path / "model.keras")(x), out, rtol=1e-6)

"""The LSTM / GRU / SimpleRNN parts of keras.io's guide "Working with RNNs"
(guides/working_with_rnns in keras-team/keras-io), each step written against ``import pyrnn as
keras`` with the guide's calls: Sequential built without an input shape, return_sequences and
return_state, an encoder-decoder wired by initial_state, stateful layers and reset_states, a
layer's ``states`` reused as another's initial state, Bidirectional stacks, and the
LSTM-versus-RNN(LSTMCell) model pair trading weights (with MNIST replaced by offline digits of
the same shape). The guide's TensorFlow-only lines (tf.device, tf.argmax) become NumPy; its last
part, a custom cell written in TensorFlow ops, is outside pyrnn (no autodiff over user code)."""

import numpy as np
import pytest

import pyrnn as keras
from pyrnn import layers

RNG = np.random.default_rng(3)


def test_sequential_without_input_shape_builds_on_first_data():
    model = keras.Sequential()
    model.add(layers.Embedding(input_dim=1000, output_dim=64))
    model.add(layers.LSTM(128))
    model.add(layers.Dense(10))
    assert not model.built
    out = model.predict(RNG.integers(0, 1000, (4, 7)), verbose=0)
    assert out.shape == (4, 10)
    assert model.count_params() == 1000 * 64 + 4 * 128 * (64 + 128 + 1) + 128 * 10 + 10  # Keras's counts


def test_outputs_and_states_shapes():
    model = keras.Sequential([layers.Embedding(1000, 64), layers.GRU(256, return_sequences=True),
                              layers.SimpleRNN(128), layers.Dense(10)])
    assert model.predict(RNG.integers(0, 1000, (3, 5)), verbose=0).shape == (3, 10)
    assert model.layers[1].compute_output_shape((None, 5, 64)) == (None, 5, 256)


def test_encoder_state_initialises_the_decoder():
    encoder_input = layers.Input(shape=(None,))
    encoded = layers.Embedding(input_dim=1000, output_dim=64)(encoder_input)
    output, state_h, state_c = layers.LSTM(64, return_state=True, name="encoder")(encoded)
    decoder_input = layers.Input(shape=(None,))
    decoded = layers.Embedding(input_dim=2000, output_dim=64)(decoder_input)
    decoder_output = layers.LSTM(64, name="decoder")(decoded, initial_state=[state_h, state_c])
    model = keras.Model([encoder_input, decoder_input], layers.Dense(10)(decoder_output))
    enc, dec = RNG.integers(0, 1000, (2, 6)), RNG.integers(0, 2000, (2, 4))
    assert model.predict([enc, dec], verbose=0).shape == (2, 10)
    # the decoder really starts from the encoder's state: other encoder inputs, other outputs
    assert not np.allclose(model.predict([enc, dec], verbose=0), model.predict([enc[::-1], dec], verbose=0))


def test_cross_batch_statefulness_and_state_reuse():
    paragraphs = [RNG.random((20, 10, 50)).astype(np.float32) for _ in range(3)]
    lstm_layer = layers.LSTM(64, stateful=True)
    first = [np.asarray(lstm_layer(p)) for p in paragraphs]
    lstm_layer.reset_states()
    assert np.allclose(np.asarray(lstm_layer(paragraphs[0])), first[0])  # zero state again
    whole = layers.LSTM(64)
    whole.build((None, 30, 50))
    whole.set_weights(lstm_layer.get_weights())
    np.testing.assert_allclose(np.asarray(whole(np.concatenate(paragraphs[:3], axis=1))), first[2], rtol=1e-5, atol=1e-6)

    lstm_layer.reset_states()
    lstm_layer(paragraphs[0])
    lstm_layer(paragraphs[1])
    existing_state = lstm_layer.states
    new_lstm_layer = layers.LSTM(64)
    new_lstm_layer.build((None, 10, 50))
    new_lstm_layer.set_weights(lstm_layer.get_weights())
    np.testing.assert_allclose(np.asarray(new_lstm_layer(paragraphs[2], initial_state=existing_state)), first[2],
                               rtol=1e-5, atol=1e-6)


def test_bidirectional_stack():
    model = keras.Sequential()
    model.add(layers.Bidirectional(layers.LSTM(64, return_sequences=True), input_shape=(5, 10)))
    model.add(layers.Bidirectional(layers.LSTM(32)))
    model.add(layers.Dense(10))
    assert model.predict(RNG.random((3, 5, 10)), verbose=0).shape == (3, 10)
    assert model.layers[0].compute_output_shape((None, 5, 10)) == (None, 5, 128)


def _build_model(fused):
    units, input_dim = 64, 28
    lstm_layer = layers.LSTM(units, input_shape=(None, input_dim)) if fused else \
        layers.RNN(layers.LSTMCell(units), input_shape=(None, input_dim))
    return keras.models.Sequential([lstm_layer, layers.BatchNormalization(), layers.Dense(10)])


@pytest.mark.filterwarnings("ignore")
def test_lstm_and_rnn_of_lstmcell_train_and_trade_weights():
    # offline digit-like images (28 x 28, rows as time steps): the class is which row band is bright
    keras.utils.set_random_seed(0)
    y = RNG.integers(0, 10, 2688)
    x = RNG.random((2688, 28, 28)) * 0.2
    for i, label in enumerate(y):
        x[i, label * 2:label * 2 + 6] += 0.8
    (x_train, y_train), (x_test, y_test) = (x[:2560], y[:2560]), (x[2560:], y[2560:])
    model = _build_model(fused=True)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="sgd",
                  metrics=["accuracy"])
    history = model.fit(x_train, y_train, validation_data=(x_test, y_test), batch_size=64, epochs=8, verbose=0)
    assert history.history["val_accuracy"][-1] > 0.5  # chance is 0.1
    other = _build_model(fused=False)
    other.set_weights(model.get_weights())
    other.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="sgd",
                  metrics=["accuracy"])
    np.testing.assert_allclose(other.predict(x_test, verbose=0), model.predict(x_test, verbose=0), rtol=1e-4, atol=1e-5)
    other.fit(x_train, y_train, validation_data=(x_test, y_test), batch_size=64, epochs=1, verbose=0)
    cpu_model = _build_model(fused=True)
    cpu_model.set_weights(model.get_weights())
    result = np.argmax(cpu_model.predict_on_batch(np.expand_dims(x_test[0], 0)), axis=1)
    assert result.shape == (1,) and result[0] == np.argmax(model.predict(x_test[:1], verbose=0))

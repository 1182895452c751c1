"""``from_keras``: a Keras 3 ``Sequential`` model as a pyrnn ``Sequential`` (layers, then weights)."""

from __future__ import annotations

from ..layers import InputLayer
from ._keras import layer_from_keras_config
from .sequential import Sequential


def from_keras(keras_model):
    """A pyrnn ``Sequential`` with the layers and weights of a built Keras 3 ``Sequential`` model.

    Supported layers: SimpleRNN, GRU, LSTM, Bidirectional, Dense, Embedding, Masking, Dropout,
    TimeDistributed. Example::

        >>> model = pyrnn.models.from_keras(kmodel)
        >>> np.allclose(model.predict(x), kmodel.predict(x), atol=1e-5)
        True
    """
    kind = type(keras_model)
    if not (kind.__module__.split(".")[0] == "keras" and kind.__name__ == "Sequential"):
        raise TypeError(f"from_keras expects a keras.Sequential model, got {kind.__module__}.{kind.__name__}")
    try:
        input_shape = tuple(keras_model.input_shape)
    except (AttributeError, ValueError) as e:
        raise ValueError("from_keras: the Keras model is not built; start it with keras.Input(shape) "
                         f"or call it once ({e})") from e
    layers = [InputLayer(shape=input_shape[1:])]
    layers += [layer_from_keras_config(type(layer).__name__, layer.get_config()) for layer in keras_model.layers]
    model = Sequential(layers, name=keras_model.name)
    model.set_weights(keras_model.get_weights())
    return model

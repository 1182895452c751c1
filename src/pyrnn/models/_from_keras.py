"""``from_keras``: a live Keras 3 model (Sequential or functional) as a pyrnn model. It takes the
road ``load_model`` takes for a ``.keras`` file: the model's config through
``_keras.model_from_config``, then the weights, here by layer name from the Keras layers."""

from __future__ import annotations

from ._keras import model_from_config
from .functional import Model
from .sequential import Sequential


def from_keras(keras_model):
    """A pyrnn ``Sequential`` or ``Model`` with the layers and weights of a built Keras 3
    ``Sequential`` or functional model.

    Supported layers: those of ``pyrnn.layers`` (SimpleRNN, GRU, LSTM, Bidirectional, RNN with
    cells, Dense, Embedding, Masking, Dropout, TimeDistributed, the merges, ...). Example::

        >>> model = pyrnn.models.from_keras(kmodel)
        >>> np.allclose(model.predict(x), kmodel.predict(x), atol=1e-5)
        True
    """
    kind = type(keras_model)
    name = "Functional" if kind.__name__ in ("Functional", "Model") else kind.__name__
    if not (kind.__module__.split(".")[0] == "keras" and name in ("Sequential", "Functional")):
        raise TypeError(f"from_keras expects a keras.Sequential or functional keras.Model, got "
                        f"{kind.__module__}.{kind.__name__}")
    if name == "Sequential":
        try:
            tuple(keras_model.input_shape)
        except (AttributeError, ValueError) as e:
            raise ValueError("from_keras: the Keras model is not built; start it with keras.Input(shape) "
                             f"or call it once ({e})") from e
    config = {"class_name": name, "config": keras_model.get_config()}
    model = model_from_config(config, {"Sequential": Sequential, "Functional": Model}, "from_keras")
    layers = model.layers
    loaded = []
    for layer in layers:
        weights = keras_model.get_layer(name=layer.name).get_weights()
        expected = [w.shape for w in layer.get_weights()]
        if [w.shape for w in weights] != expected:
            raise ValueError(f"from_keras: layer {layer.name!r} expects weights of shapes {expected}, the Keras "
                             f"layer has {[w.shape for w in weights]}")
        loaded.append((layer, weights))
    for layer, weights in loaded:
        layer.set_weights(weights)
    return model

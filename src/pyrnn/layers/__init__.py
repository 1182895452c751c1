"""Keras-style layers (see DESIGN.md, "API contract — Keras-style models").

Example::

    >>> from pyrnn.models import Sequential
    >>> from pyrnn.layers import SimpleRNN, Dense
    >>> model = Sequential([SimpleRNN(50, input_shape=(10, 1)), Dense(1)])
"""

from .base import Layer
from .core import Dense, Dropout, Embedding, Input, InputLayer, Masking, TimeDistributed
from .recurrent import GRU, LSTM, Bidirectional, SimpleRNN

_CLASSES = {cls.__name__: cls for cls in (Layer, Dense, Dropout, Embedding, InputLayer, Masking, TimeDistributed,
                                          SimpleRNN, GRU, LSTM, Bidirectional)}


def serialize(layer):
    """{"class_name", "config"}: enough to rebuild the layer (without its weights)."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config):
    cls = _CLASSES.get(config["class_name"])
    if cls is None:
        raise ValueError(f"Unknown layer class {config['class_name']!r}")
    return cls.from_config(dict(config["config"]))


__all__ = ["Layer", "Input", "InputLayer", "Dense", "Dropout", "Embedding", "Masking", "TimeDistributed",
           "SimpleRNN", "GRU", "LSTM", "Bidirectional", "serialize", "deserialize"]

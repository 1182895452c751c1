"""Keras-style layers.

Example::

    >>> from pyrnn.models import Sequential
    >>> from pyrnn.layers import SimpleRNN, Dense
    >>> model = Sequential([SimpleRNN(50, input_shape=(10, 1)), Dense(1)])
"""

from .base import Layer, deserialize, layer_classes, serialize
from .core import Dense, Dropout, Embedding, Input, InputLayer, Masking, TimeDistributed
from .recurrent import GRU, LSTM, Bidirectional, SimpleRNN

__all__ = ["Layer", "Input", "InputLayer", "Dense", "Dropout", "Embedding", "Masking", "TimeDistributed",
           "SimpleRNN", "GRU", "LSTM", "Bidirectional", "serialize", "deserialize", "layer_classes"]

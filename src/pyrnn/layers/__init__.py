"""Keras-style layers.

Example::

    >>> from pyrnn.models import Sequential
    >>> from pyrnn.layers import SimpleRNN, Dense
    >>> model = Sequential([SimpleRNN(50, input_shape=(10, 1)), Dense(1)])
"""

from .base import Layer, deserialize, layer_classes, serialize
from .core import Dense, Dropout, Embedding, Input, InputLayer, Masking, TimeDistributed
from .merging import Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add, concatenate
from .normalization import AdditiveAttention, Attention, BatchNormalization, LayerNormalization
from .recurrent import GRU, LSTM, Bidirectional, SimpleRNN
from .reshaping import (
    Activation,
    Flatten,
    GlobalAveragePooling1D,
    GlobalAvgPool1D,
    GlobalMaxPool1D,
    GlobalMaxPooling1D,
    Permute,
    RepeatVector,
    Reshape,
)
from .rnn import RNN, GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells

__all__ = ["Layer", "Input", "InputLayer", "Dense", "Dropout", "Embedding", "Masking", "TimeDistributed",
           "SimpleRNN", "GRU", "LSTM", "Bidirectional", "serialize", "deserialize", "layer_classes",
           "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot", "add", "concatenate",
           "RepeatVector", "Flatten", "Reshape", "Permute", "Activation", "GlobalAveragePooling1D",
           "GlobalMaxPooling1D", "GlobalAvgPool1D", "GlobalMaxPool1D", "LayerNormalization", "BatchNormalization",
           "Attention", "AdditiveAttention", "RNN", "SimpleRNNCell", "GRUCell", "LSTMCell", "StackedRNNCells"]

"""PyTorch-style recurrent modules on NumPy arrays (see ARCHITECTURE.md).

Sequence layers: ``RNN``, ``GRU``, ``LSTM`` (modules.py); single-step cells for streaming:
``RNNCell``, ``GRUCell``, ``LSTMCell`` (cells.py).
"""

from .cells import GRUCell, LSTMCell, RNNCell, RNNCellBase
from .modules import GRU, LSTM, RNN, Module, RNNBase

__all__ = ["RNN", "GRU", "LSTM", "RNNCell", "GRUCell", "LSTMCell", "RNNBase", "RNNCellBase", "Module"]

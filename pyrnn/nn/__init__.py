"""PyTorch-style recurrent modules on NumPy arrays (see DESIGN.md, "PyTorch-style modules")."""

from .modules import GRU, LSTM, RNN, RNNBase

__all__ = ["RNN", "GRU", "LSTM", "RNNBase"]

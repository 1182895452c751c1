"""Keras-style models: ``Sequential``, ``load_model`` and ``from_keras``."""

from ._from_keras import from_keras
from .sequential import Sequential, load_model

Model = Sequential

__all__ = ["Sequential", "Model", "load_model", "from_keras"]

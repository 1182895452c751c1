"""Keras-style models: ``Sequential``, the functional ``Model``, ``load_model`` and ``from_keras``."""

from ._from_keras import from_keras
from .functional import Model, load_model
from .sequential import Sequential

Functional = Model

__all__ = ["Sequential", "Model", "Functional", "load_model", "from_keras"]

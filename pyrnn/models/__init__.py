"""Keras-style models: ``Sequential`` and ``load_model`` (see DESIGN.md)."""

from .sequential import Sequential, load_model

Model = Sequential

__all__ = ["Sequential", "Model", "load_model"]

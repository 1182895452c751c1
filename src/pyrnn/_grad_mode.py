"""Gradient recording on or off, per thread, as torch's ``no_grad``.

A module or cell in training mode records what ``backward`` needs. Inside ``pyrnn.no_grad()``
it runs the inference path instead and records nothing (dropout still applies in training
mode, as in torch). Also a decorator::

    >>> import numpy as np, pyrnn
    >>> cell = pyrnn.nn.GRUCell(4, 8, seed=0)          # training mode, the default
    >>> with pyrnn.no_grad():
    ...     h = cell(np.zeros((1, 4), np.float32))      # not recorded: nothing to backward
    >>> pyrnn.is_grad_enabled()
    True
"""

from __future__ import annotations

import contextlib
import threading

_state = threading.local()


def is_grad_enabled() -> bool:
    """Whether training-mode calls on this thread record for ``backward`` (outside ``no_grad``)."""
    return getattr(_state, "enabled", True)


class no_grad(contextlib.ContextDecorator):
    """Context manager (and decorator): training-mode modules and cells called inside it run
    the inference path and record nothing for ``backward``. Nests; per thread."""

    def __enter__(self) -> no_grad:
        self._previous = is_grad_enabled()
        _state.enabled = False
        return self

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self._previous

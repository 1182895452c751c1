"""The metrics a model was compiled with: made once from the first batch, updated per batch."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .. import losses as losses_module


class Metrics:
    """The metrics named in ``compile(metrics=...)``. Keras picks some variants from the shapes of
    the targets and outputs ("accuracy": binary, sparse or categorical), so the Metric objects are
    made at the first ``update``. Example::

        >>> m = Metrics(["mae"], loss)
        >>> m.update(y, y_pred); m.results()
        {'mae': ...}
    """

    def __init__(self, identifiers: Optional[List[Any]], loss: Any, weighted: bool = False):
        self.identifiers = list(identifiers or [])
        self.loss = loss
        self.weighted = weighted  # compile(weighted_metrics=...): updated with the sample weights
        self._metrics: Optional[list] = None

    def __bool__(self) -> bool:
        return bool(self.identifiers)

    def fresh(self) -> Metrics:
        """The same metrics with no state (evaluate's)."""
        return Metrics(self.identifiers, self.loss, self.weighted)

    def update(self, y: Any, y_pred: Any, sample_weight: Any = None) -> None:
        if not self.identifiers:
            return
        if self._metrics is None:
            self._metrics = [losses_module.get_metric(m, self.loss, y, y_pred) for m in self.identifiers]
        sw = sample_weight if self.weighted else None
        for m in self._metrics:
            if sw is None:
                m.update_state(y, y_pred)
            else:
                m.update_state(y, y_pred, sample_weight=sw)

    def reset(self) -> None:
        for m in self._metrics or []:
            m.reset_state()

    def results(self) -> Dict[str, Any]:
        """Name -> current value, in compile order (empty before the first update)."""
        return {m.name: m.result() for m in self._metrics or []}

    def serializable(self) -> List[str]:
        """The identifiers ``save`` can write (names; function and object metrics are left out)."""
        return [m for m in self.identifiers if isinstance(m, str)]

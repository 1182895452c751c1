"""pyrnn's kernels as a drop-in for torch.nn's recurrent layers, with autograd.

``import pyrnn.torch as rt``: ``rt.RNN``, ``rt.GRU``, ``rt.LSTM``, ``rt.RNNCell``, ``rt.GRUCell``
and ``rt.LSTMCell`` are subclasses of the torch.nn classes of the same names (same constructor,
parameters, initialisation and state_dict); on CPU float32/float64 tensors their forward runs
pyrnn's kernels, with backward through the core's BPTT. Anything else (other devices or
dtypes, torch.func transforms) runs torch's own implementation, with a warning once.
``rt.convert(model)`` switches an existing model over, keeping its Parameter objects.
"""

import importlib.abc
import importlib.util
import sys

from .._optional import require as _require

_require("torch", "pyrnn.torch", "torch")

from ._modules import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell, convert  # noqa: E402


class _AllowRnnWhenDynamoLoads(importlib.abc.MetaPathFinder):
    """torch.compile refuses any torch.nn.RNN/GRU/LSTM instance (rt's are such instances) unless
    ``torch._dynamo.config.allow_rnn``; with it, rt modules compile to pyrnn's custom operators
    with fullgraph=True (and Dynamo traces plain torch.nn recurrent modules instead of breaking
    the graph there; set it back to False to undo). Importing Dynamo costs 1-3 s, so the flag is
    set when torch.compile (or anything else) first imports ``torch._dynamo.config``, not here."""

    NAME = "torch._dynamo.config"

    def find_spec(self, name, path, target=None):
        if name != self.NAME:
            return None
        sys.meta_path.remove(self)  # once; the finders after us locate the real module
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            module.allow_rnn = True

        spec.loader.exec_module = exec_module
        return spec


def _let_dynamo_trace_rnn_modules():
    loaded = sys.modules.get(_AllowRnnWhenDynamoLoads.NAME)
    if loaded is not None:
        loaded.allow_rnn = True
    elif not any(isinstance(f, _AllowRnnWhenDynamoLoads) for f in sys.meta_path):
        sys.meta_path.insert(0, _AllowRnnWhenDynamoLoads())


_let_dynamo_trace_rnn_modules()

__all__ = ["RNN", "GRU", "LSTM", "RNNCell", "GRUCell", "LSTMCell", "convert"]

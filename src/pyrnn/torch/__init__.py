"""pyrnn's kernels as a drop-in for torch.nn's recurrent layers, with autograd.

``import pyrnn.torch as rt``: ``rt.RNN``, ``rt.GRU``, ``rt.LSTM``, ``rt.RNNCell``, ``rt.GRUCell``
and ``rt.LSTMCell`` are subclasses of the torch.nn classes of the same names (same constructor,
parameters, initialisation and state_dict); on CPU float32/float64 tensors their forward runs
pyrnn's kernels, with backward through the core's BPTT. Anything else (other devices or
dtypes, torch.func transforms) runs torch's own implementation, with a warning once.
``rt.convert(model)`` switches an existing model over, keeping its Parameter objects.
"""

from .._optional import require as _require

_require("torch", "pyrnn.torch", "torch")

from ._modules import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell, convert  # noqa: E402


def _let_dynamo_trace_rnn_modules():
    """torch.compile refuses any torch.nn.RNN/GRU/LSTM instance (rt's are such instances) unless
    ``torch._dynamo.config.allow_rnn``: set it, so that rt modules compile to pyrnn's custom
    operators with fullgraph=True. (It also lets Dynamo trace plain torch.nn recurrent modules
    instead of breaking the graph there; set it back to False to undo.)"""
    try:
        import torch._dynamo.config as dynamo_config
    except ImportError:  # a torch without Dynamo
        return
    dynamo_config.allow_rnn = True


_let_dynamo_trace_rnn_modules()

__all__ = ["RNN", "GRU", "LSTM", "RNNCell", "GRUCell", "LSTMCell", "convert"]

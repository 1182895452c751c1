"""pyrnn: fast CPU recurrent neural networks (RNN, GRU, LSTM) for NumPy.

Two faces over one C++ core with hand-written SIMD kernels:
``pyrnn.nn`` (PyTorch-style modules) and, on top of it, a Keras-style model API.
``pyrnn.reference`` is the pure NumPy oracle the core is tested against.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

# Keras's namespace for recurrent work: ``import pyrnn as keras``
from . import (  # onnx: export (imports the onnx package only when used)
    _core,
    activations,
    callbacks,
    constraints,
    initializers,
    layers,
    losses,
    metrics,
    models,
    nn,
    onnx,
    optimizers,
    preprocessing,
    reference,
    regularizers,
    utils,
)
from ._grad_mode import is_grad_enabled, no_grad
from .layers import Input
from .models import Model, Sequential

try:
    __version__ = _version("pyrnn")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"


def isa() -> str:
    """The instruction set the kernels run with: 'avx512', 'avx2' or 'scalar'.

    Chosen once at import from what the CPU supports; ``PYRNN_ISA=scalar|avx2|avx512``
    forces one (an unsupported choice fails at import with a clear message).
    """
    return _core.isa()


def supported_isas() -> list:
    """Every instruction set this CPU can run, narrowest first."""
    return list(_core.supported_isas())


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in the kernels (default: :func:`default_num_threads`).

    Results are bitwise identical for any number of threads. Waits for computations running in
    other threads to finish.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"num_threads must be an int, got {type(n).__name__}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads the kernels use."""
    return _core.get_num_threads()


def default_num_threads() -> int:
    """The thread count pyrnn starts with: ``PYRNN_NUM_THREADS`` if set, else the CPUs this
    process may run on (``os.sched_getaffinity``) capped by its cgroup CPU quota (``cpu.max``,
    whole CPUs), as a container user expects."""
    return _core.default_num_threads()


__all__ = ["nn", "onnx", "reference", "activations", "callbacks", "constraints", "initializers", "layers", "losses",
           "metrics", "models", "optimizers", "preprocessing", "regularizers", "utils", "Input", "Model", "Sequential",
           "no_grad", "is_grad_enabled", "isa", "supported_isas", "set_num_threads", "get_num_threads",
           "default_num_threads", "__version__"]

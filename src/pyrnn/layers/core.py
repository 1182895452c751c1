"""Core layers: ``Input``, ``Dense``, ``Dropout``, ``Embedding``, ``Masking``, ``TimeDistributed``."""

from __future__ import annotations

import numpy as np

from .. import _graph, activations, initializers, quantized
from .. import _recurrent as spine
from .._export import DenseExport, EmbeddingExport, IdentityExport, MaskingExport, not_exportable
from .base import Layer, _check_unsupported, deserialize, dropout_mask, register, serialize


@register
class InputLayer(Layer):
    """Declares an input: its shape (without the batch dimension), batch size and dtype (float,
    or integer for token ids). ``Input(...)`` makes one and returns its KerasTensor.

    Example::

        >>> model = Sequential([Input((10, 1)), SimpleRNN(50), Dense(1)])
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, input_shape=None, sparse=None,
                 batch_shape=None, **kwargs):
        if batch_shape is not None:
            batch_size, shape = batch_shape[0], tuple(batch_shape[1:])
        shape = shape if shape is not None else input_shape
        if shape is None:
            raise ValueError("Input: shape is required, e.g. Input((timesteps, features))")
        _check_unsupported(self, sparse=sparse)
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        super().__init__(name=name, input_shape=shape, **kwargs)
        self.dtype = np.dtype(dtype or "float32")
        if self.dtype.kind not in "fiub":
            raise TypeError(f"{self.name}: dtype must be a float or integer type, got {self.dtype}")
        self.shape = shape
        self.batch_size = batch_size
        self.built = True
        self.input_shape = (batch_size,) + shape
        node = _graph.Node(self, [])
        self._inbound_nodes.append(node)
        self.tensor = node.add_outputs((batch_size,) + shape, self.dtype)

    def _convert(self, inputs):
        return np.asarray(inputs, dtype=self.dtype)

    def get_config(self):
        config = super().get_config()
        config.pop("input_shape", None)
        config["shape"] = list(self.shape)
        config["dtype"] = self.dtype.name
        if self.batch_size is not None:
            config["batch_size"] = self.batch_size
        return config


def Input(shape=None, batch_size=None, dtype=None, name=None, **kwargs) -> _graph.KerasTensor:
    """``Input(shape)``: the KerasTensor a functional model starts from (also the first entry of a
    ``Sequential`` model). Integer dtypes are for token ids (an ``Embedding`` next)."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, **kwargs).tensor


@register
class Dense(Layer):
    """``activation(inputs @ kernel + bias)``; on 3-D input (batch, time, features) it applies
    to every time step.

    Example::

        >>> d = Dense(4, activation="relu")
        >>> d(np.ones((2, 3), np.float32)).shape
        (2, 4)
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self._init_penalties(locals())
        self.units = spine.check_size("units", units, owner="Dense")
        self.activation = activations.get(activation)
        self._linear = self.activation.name == "linear"
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._cache = None

    _call_state_attrs = ("_cache",)
    _penalty_args = {"kernel": ("kernel_regularizer", "kernel_constraint"),
                     "bias": ("bias_regularizer", "bias_constraint")}

    def build(self, input_shape):
        self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer)

    # Keras's attributes: the live arrays (None before build, or without a bias)
    @property
    def kernel(self):
        return self._params.get("kernel")

    @property
    def bias(self):
        return self._params.get("bias")

    def call(self, inputs, training=False, mask=None):
        # The core's GEMM, on pyrnn's threads: NumPy's BLAS would start a second pool whose
        # threads spin on the cores the recurrent layers use (2x slower training here).
        inputs = np.asarray(inputs, dtype=self.dtype)  # Keras casts inputs to the layer's dtype
        q = quantized.for_inference(self, training)
        x2 = inputs.reshape(-1, inputs.shape[-1])
        z = spine.matmul(x2, self._params["kernel"]) if q is None else q(x2)
        z = z.reshape(inputs.shape[:-1] + (self.units,))
        if self.use_bias:
            z += self._params["bias"]
        y = z if self._linear else self.activation.forward(z)
        self._cache = (inputs, z, y) if training else None
        return y

    def backward(self, grad):
        x, z, y = self._cache
        self._cache = None
        if not self._linear:
            grad = self.activation.backward(grad, z, y)
        g2 = np.ascontiguousarray(grad.reshape(-1, grad.shape[-1]), dtype=self.dtype)
        spine.matmul(x.reshape(-1, x.shape[-1]).T, g2, out=self._grads["kernel"], accumulate=True)
        if self.use_bias:
            self._grads["bias"] += g2.sum(axis=0)
        return spine.matmul(g2, self._params["kernel"].T).reshape(grad.shape[:-1] + (self._params["kernel"].shape[0],))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def _quantized_copy(self, mode):
        return quantized.QuantizedLinear(self._params["kernel"].T, mode)

    def export_description(self):
        return DenseExport(self.name, self._params["kernel"], self._params.get("bias"), self.activation.name,
                           None if self._quantized is None else self._quantized.dtype)

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation.name,
                "use_bias": self.use_bias, "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}


@register
class Dropout(Layer):
    """Zeroes a fraction ``rate`` of the inputs during training and scales the rest by 1/(1-rate).

    Example::

        >>> Dropout(0.5, seed=0)(np.ones((2, 4), np.float32), training=True).shape
        (2, 4)
    """

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = spine.check_dropout("rate", rate, "Dropout")
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self._mask = None

    _call_state_attrs = ("_mask",)

    def call(self, inputs, training=False, mask=None):
        if not training or self.rate == 0:
            self._mask = None
            return inputs
        shape = inputs.shape if self.noise_shape is None else tuple(
            s if n is None else n for s, n in zip(inputs.shape, self.noise_shape))
        self._mask = dropout_mask(self.rng, shape, self.rate, self.dtype)
        return inputs * self._mask

    def backward(self, grad):
        return grad if self._mask is None else grad * self._mask

    def export_description(self):
        return IdentityExport(self.name)

    def get_config(self):
        config = {**super().get_config(), "rate": self.rate}
        if self.noise_shape is not None:
            config["noise_shape"] = list(self.noise_shape)
        return config


@register
class Embedding(Layer):
    """Maps integer ids (batch, time) to vectors (batch, time, output_dim); with ``mask_zero``
    id 0 is padding and the mask it makes reaches the recurrent layers.

    Example::

        >>> e = Embedding(100, 8, mask_zero=True)
        >>> e(np.array([[5, 7, 0]])).shape
        (1, 3, 8)
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, input_length=None, weights=None, **kwargs):
        super().__init__(**kwargs)
        self._init_penalties(locals())
        self.input_dim = spine.check_size("input_dim", input_dim, owner="Embedding")
        self.output_dim = spine.check_size("output_dim", output_dim, owner="Embedding")
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.mask_zero = bool(mask_zero)
        self._ids = None
        if weights is not None:  # Keras: the layer is built with these embeddings
            self.build()
            self.set_weights(weights if isinstance(weights, (list, tuple)) else [weights])

    _call_state_attrs = ("_ids",)
    _penalty_args = {"embeddings": ("embeddings_regularizer", "embeddings_constraint")}

    def _convert(self, inputs):
        ids = np.asarray(inputs)
        if ids.dtype.kind == "f":
            ids = ids.astype(np.int64)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"{self.name}: expected integer ids, got dtype {ids.dtype}")
        return ids

    def build(self, input_shape=None):  # the shape does not matter: Keras builds it with none
        self.add_weight("embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer)

    @property
    def embeddings(self):
        """Keras's attribute: the live (input_dim, output_dim) array (None before build)."""
        return self._params.get("embeddings")

    def call(self, inputs, training=False, mask=None):
        if inputs.size and (inputs.min() < 0 or inputs.max() >= self.input_dim):
            raise ValueError(f"{self.name}: ids must be in [0, {self.input_dim}), got "
                             f"min {inputs.min()} and max {inputs.max()}")
        q = quantized.for_inference(self, training)
        self._ids = inputs if training else None
        return self._params["embeddings"][inputs] if q is None else q(inputs)

    def _quantized_copy(self, mode):
        return quantized.QuantizedEmbedding(self._params["embeddings"], mode)

    def backward(self, grad):
        g = self._grads["embeddings"]
        np.add.at(g, self._ids.reshape(-1), grad.reshape(-1, self.output_dim))
        self._ids = None
        return None  # integer ids have no gradient

    def compute_mask(self, inputs, mask=None):
        return (np.asarray(inputs) != 0) if self.mask_zero else None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def export_description(self):
        table = self._params["embeddings"]
        if self._quantized is not None:  # the values the quantized layer looks up
            table = self._quantized(np.arange(self.input_dim))
        return EmbeddingExport(self.name, table, self.mask_zero)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "mask_zero": self.mask_zero,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer)}


@register
class Masking(Layer):
    """Masks time steps whose features all equal ``mask_value`` (they are skipped downstream)
    and zeroes them in the output, as Keras does.

    Example::

        >>> x = np.array([[[1.0], [2.0], [0.0]]])
        >>> Masking(0.0).compute_mask(x).tolist()
        [[True, True, False]]
    """

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)
        self._keep = None

    _call_state_attrs = ("_keep",)

    def compute_mask(self, inputs, mask=None):
        return np.any(inputs != self.mask_value, axis=-1)

    def call(self, inputs, training=False, mask=None):
        keep = self.compute_mask(inputs)[..., None].astype(self.dtype)
        self._keep = keep if training else None
        return inputs * keep

    def backward(self, grad):
        return grad * self._keep

    def export_description(self):
        return MaskingExport(self.name, self.mask_value)

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}


@register
class TimeDistributed(Layer):
    """Applies ``layer`` to every time step of (batch, time, ...) input.

    Example::

        >>> td = TimeDistributed(Dense(2))
        >>> td(np.ones((4, 5, 3), np.float32)).shape
        (4, 5, 2)
    """

    supports_masking = True

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise TypeError(f"TimeDistributed wraps a Layer, got {type(layer).__name__}")
        self.layer = layer
        self._shape = None

    _call_state_attrs = ("_shape",)

    def _sublayers(self):
        return [self.layer]

    def build(self, input_shape):
        self.layer._maybe_build((None,) + tuple(input_shape[2:]))

    def call(self, inputs, training=False, mask=None):
        b, t = inputs.shape[:2]
        self._shape = (b, t) + inputs.shape[2:]
        kwargs = {}
        if mask is not None:  # Keras: the wrapped layer gets each step's slice of a (batch, time, ...) mask
            mask = np.asarray(mask)
            if mask.shape[:2] != (b, t):
                raise ValueError(f"{self.name}: The `mask` passed to the `TimeDistributed` layer has a shape "
                                 f"{mask.shape}; expected a mask of shape ({b}, {t}, ...) for inputs of shape "
                                 f"{inputs.shape}")
            kwargs["mask"] = mask.reshape((b * t,) + mask.shape[2:])
        # Keras runs the wrapped layer's call itself, not its __call__: no activity regularization there
        inner, calling = self.layer, self.layer._calling
        inner._calling, inner._activity_cache = True, None
        try:
            y = inner.call(inputs.reshape((b * t,) + inputs.shape[2:]), training=training, **kwargs)
        finally:
            inner._calling = calling
        return y.reshape((b, t) + y.shape[1:])

    def backward(self, grad):
        b, t = grad.shape[:2]
        g = self.layer.backward(grad.reshape((b * t,) + grad.shape[2:]))
        return None if g is None else g.reshape(self._shape)

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((input_shape[0],) + tuple(input_shape[2:]))
        return (input_shape[0], input_shape[1]) + tuple(inner[1:])

    def export_description(self):
        """The wrapped layer's description, for layers that act on the last axis (Dense)."""
        try:
            inner = self.layer.export_description()
        except NotImplementedError:
            inner = None
        if not isinstance(inner, DenseExport):
            raise not_exportable(self.name, f"{type(self).__name__}({type(self.layer).__name__})")
        return inner

    # the wrapped layer's weights are this layer's
    def parameter_bindings(self):
        return self.layer.parameter_bindings() if self.trainable else []

    def get_weights(self):
        return self.layer.get_weights()

    def set_weights(self, weights):
        self.layer.set_weights(weights)

    def get_config(self):
        return {**super().get_config(), "layer": serialize(self.layer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(deserialize(config.pop("layer")), **config)

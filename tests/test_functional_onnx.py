"""ONNX export of functional models, run in ONNX Runtime against ``predict``: a two-input seq2seq
with initial_state and return_state, token ids with masks and merges, an explicit mask input,
several outputs by name, other lengths and batch sizes; and the clear errors for what
does not export. Skips without onnx/onnxruntime."""

import numpy as np
import pytest

import pyrnn
from pyrnn import layers as L

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

RNG = np.random.default_rng(8)


def _run(model, feeds, tmp_path):
    path = tmp_path / "model.onnx"
    model.export(path, format="onnx")
    session = ort.InferenceSession(str(path))
    assert [i.name for i in session.get_inputs()] == model._input_names
    return session, session.run(None, dict(zip(model._input_names, feeds)))


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "SimpleRNN"])
def test_seq2seq_with_initial_and_returned_states(cell, tmp_path):
    kind = getattr(L, cell)
    enc_in, dec_in = pyrnn.Input((None, 3), name="enc"), pyrnn.Input((None, 2), name="dec")
    enc = kind(5, return_state=True, seed=0, name="encoder")(enc_in)
    dec, *states = kind(5, return_sequences=True, return_state=True, seed=1, name="decoder")(dec_in,
                                                                                            initial_state=enc[1:])
    out = L.Dense(4, activation="softmax", seed=2, name="probs")(dec)
    model = pyrnn.Model([enc_in, dec_in], [out] + states)
    feeds = [RNG.random((3, 6, 3), np.float32), RNG.random((3, 4, 2), np.float32)]
    session, got = _run(model, feeds, tmp_path)
    assert [o.name for o in session.get_outputs()] == model._output_names
    for a, b in zip(got, model.predict(feeds, verbose=0)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    other = [RNG.random((2, 9, 3), np.float32), RNG.random((2, 1, 2), np.float32)]  # other lengths, batch
    for a, b in zip(session.run(None, dict(zip(model._input_names, other))), model.predict(other, verbose=0)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_masked_ids_merges_and_any_length(tmp_path):
    ids = pyrnn.Input((6,), dtype="int32", name="ids")
    emb = L.Embedding(9, 4, mask_zero=True, seed=0, name="emb")(ids)
    fwd = L.GRU(3, return_sequences=True, seed=1, name="fwd")(emb)
    bwd = L.LSTM(3, return_sequences=True, go_backwards=True, seed=2, name="bwd")(emb)
    merged = [L.Add()([fwd, bwd]), L.Subtract()([fwd, bwd]), L.Multiply()([fwd, bwd]), L.Average()([fwd, bwd]),
              L.Maximum()([fwd, bwd]), L.Minimum()([fwd, bwd])]
    joined = L.Concatenate(name="cat")(merged)
    last = L.SimpleRNN(4, seed=3, name="summary")(L.Dense(5, activation="tanh", seed=4)(joined))
    model = pyrnn.Model(ids, L.Dense(2, seed=5, name="out")(last))
    tokens = np.array([[1, 2, 3, 0, 0, 0], [0, 0, 4, 5, 6, 7], [3, 0, 2, 0, 1, 0], [0, 0, 0, 0, 0, 0]],
                      np.int64)  # right and left padding, holes, nothing kept
    _, (got,) = _run(model, [tokens], tmp_path)
    np.testing.assert_allclose(got, model.predict(tokens, verbose=0), rtol=1e-5, atol=1e-6)


def test_explicit_mask_input_with_initial_state(tmp_path):
    x, m, h0 = pyrnn.Input((None, 3), name="x"), pyrnn.Input((None,), dtype="bool", name="m"), \
        pyrnn.Input((4,), name="h0")
    seq = L.GRU(4, return_sequences=True, seed=0)(x, mask=m, initial_state=[h0])
    model = pyrnn.Model([x, m, h0], L.Dense(1, seed=1)(L.GRU(2, seed=2)(seq)))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], bool)
    feeds = [RNG.random((3, 5, 3), np.float32), mask, RNG.random((3, 4), np.float32)]
    _, (got,) = _run(model, feeds, tmp_path)
    np.testing.assert_allclose(got, model.predict(feeds, verbose=0), rtol=1e-5, atol=1e-6)


def test_unsupported_layers_are_clear_errors(tmp_path):
    x = pyrnn.Input((4, 3), name="x")
    with pytest.raises(NotImplementedError, match=r"ONNX export: layer 'flat' \(Flatten\) is not supported; "
                                                  "supported: .*Concatenate"):
        pyrnn.Model(x, L.Dense(1)(L.Flatten(name="flat")(x))).export(tmp_path / "a.onnx")
    inner = pyrnn.Model(x, L.GRU(2)(x), name="inner")
    y = pyrnn.Input((4, 3))
    with pytest.raises(NotImplementedError, match="layer 'inner' is a nested model"):
        pyrnn.Model(y, inner(y)).export(tmp_path / "b.onnx")
    a = pyrnn.Input((4, 3), name="a")
    masked = L.Masking(name="masking")(a)
    with pytest.raises(NotImplementedError, match=r"a masked Concatenate\(axis=1\)"):
        pyrnn.Model(a, L.Concatenate(axis=1, name="c1")([masked, masked])).export(tmp_path / "c.onnx")
    with pytest.raises(ValueError, match="export: format must be 'onnx'"):
        inner.export(tmp_path / "d.onnx", format="tf_saved_model")

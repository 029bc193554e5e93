"""Models from the wild (DESIGN.md): per-layer widths, bidirectional layers, LSTM projections,
ReLU RNNs and an embedding in front.

Every feature is checked twice: against PyTorch through committed fixtures (wild_*.npz, made by
tests/fixtures/make_torch_fixtures.py from nn.LSTM/GRU/RNN, nn.Embedding and nn.Linear, 1e-10
in float64), and by central differences (float64, rel err < 1e-6) over every parameter entry.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.engine import ModelError, prepare, trace
from app.engine.params import init_params, param_shapes, spec_from_dict, spec_to_dict
from app.engine.training.train import TrainConfig, Trainer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
WILD = sorted(p.stem for p in FIXTURES.glob("wild_*.npz"))
GATES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n"), "rnn": ()}
RTOL64, ATOL64 = 1e-10, 1e-12


def load_wild(name: str):
    with np.load(FIXTURES / f"{name}.npz", allow_pickle=False) as z:
        fx = {k: z[k] for k in z.files}
    model = json.loads(str(fx["meta_model"]))
    model["weights"] = {k[len("param.") :]: v for k, v in fx.items() if k.startswith("param.")}
    loss = json.loads(str(fx["meta_loss"]))
    inputs = fx["tokens"] if "tokens" in fx else fx["x"]
    return model, inputs, loss, fx


def wild_pairs(tr, fx, cell):
    out = [("loss", np.asarray(tr.loss), fx["loss"]), ("grad_x", tr.grad_inputs, fx["grad_x"])]
    if "outputs" in fx:
        out.append(("outputs", tr.outputs, fx["outputs"]))
    for j, layer in enumerate(tr.layers):
        for g in GATES[cell]:
            out.append((f"e{j}_gate_{g}", layer.gates[g], fx[f"e{j}_gate_{g}"]))
        out.append((f"e{j}_h", layer.h, fx[f"e{j}_h"]))
        out.append((f"e{j}_grad_h", layer.grad_h, fx[f"e{j}_grad_h"]))
        norm = np.linalg.norm(fx[f"e{j}_grad_h"], axis=1)
        out.append((f"e{j}_grad_h_norm", layer.grad_h_norm, norm))
        with np.errstate(divide="ignore"):  # the top reverse entry: 0 before position T-1
            out.append((f"e{j}_grad_h_log10_norm", layer.grad_h_log10_norm, np.log10(norm)))
        out.append((f"e{j}_grad_h0", tr.grad_h0[j], fx[f"e{j}_grad_h0"]))
        if cell == "lstm":
            out.append((f"e{j}_c", layer.c, fx[f"e{j}_c"]))
            out.append((f"e{j}_grad_c", layer.grad_c, fx[f"e{j}_grad_c"]))
            norm = np.linalg.norm(fx[f"e{j}_grad_c"], axis=1)
            out.append((f"e{j}_grad_c_norm", layer.grad_c_norm, norm))
            out.append((f"e{j}_grad_c0", tr.grad_c0[j], fx[f"e{j}_grad_c0"]))
    for key, ref in fx.items():
        if key.startswith("grad."):
            out.append((key, tr.param_grads.get(key[len("grad.") :]), ref))
    return out


def mismatch(label, got, ref, rtol, atol):
    if got is None:
        return f"{label}: engine gave None"
    got = np.asarray(got, dtype=np.float64)
    if got.shape != ref.shape:
        return f"{label}: shape {got.shape}, torch {ref.shape}"
    with np.errstate(invalid="ignore"):  # -inf - -inf: a log10 norm of an exact 0
        err = np.abs(got - ref)
    bad = ~((err <= atol + rtol * np.abs(ref)) | (got == ref))
    if not bad.any():
        return None
    idx = np.unravel_index(
        np.argmax(np.where(bad, np.nan_to_num(err, nan=np.inf), -1.0)), ref.shape
    )
    return f"{label}: {int(bad.sum())}/{ref.size} off; at {idx}: {got[idx]!r} vs {ref[idx]!r}"


@pytest.mark.parametrize("case", WILD)
def test_wild_model_agrees_with_torch_in_float64(case):
    model, inputs, loss, fx = load_wild(case)
    tr = trace(model, inputs, loss=loss, dtype="float64")
    spec = spec_from_dict(model)
    assert [(lt.layer, lt.direction) for lt in tr.layers] == [(k, d) for k, d, _ in spec.entries]
    problems = [
        m
        for label, got, ref in wild_pairs(tr, fx, model["cell"])
        if (m := mismatch(label, got, ref, RTOL64, ATOL64)) is not None
    ]
    assert not problems, f"{case} disagrees with torch:\n" + "\n".join(problems)


@pytest.mark.parametrize("case", WILD)
def test_wild_model_in_float32_is_close_to_torch_float64(case):
    model, inputs, loss, fx = load_wild(case)
    tr = trace(model, inputs, loss=loss, dtype="float32")
    assert abs(tr.loss - float(fx["loss"])) <= 1e-5 * abs(float(fx["loss"])) + 1e-6
    for j, layer in enumerate(tr.layers):
        ref = fx[f"e{j}_h"]
        assert mismatch(f"e{j}_h", layer.h, ref, 1e-5, 1e-6 * np.abs(ref).max()) is None


def test_wild_fixtures_cover_every_feature():
    assert set(WILD) >= {
        "wild_lstm_bidirectional", "wild_lstm_proj", "wild_rnn_relu", "wild_gru_bidirectional",
        "wild_mixed_widths", "wild_word_language_model",
    }  # fmt: skip
    assert sum((FIXTURES / f"{c}.npz").stat().st_size for c in WILD) < 200_000
    # the fixtures exercise what they claim: ReLU units at 0, a token read twice, two widths
    _, _, _, relu = load_wild("wild_rnn_relu")
    assert 0.1 < np.mean(relu["e0_h"] == 0.0) < 0.9
    model, tokens, _, _ = load_wild("wild_word_language_model")
    assert len(set(tokens.tolist())) < len(tokens) < model["embedding"]["num_embeddings"]
    assert load_wild("wild_mixed_widths")[0]["hidden_size"] == [6, 4]


def test_reverse_direction_rows_are_input_positions():
    """Row t of a reverse entry is its state after reading x_{T-1} ... x_t: running the same
    cell forwards over the reversed input gives the rows in reverse order."""
    model, x, _, _ = load_wild("wild_lstm_bidirectional")
    w = model["weights"]
    one = {"cell": "lstm", "input_size": x.shape[1], "hidden_size": 4,
           "weights": {n: w[f"{n}_l0_reverse"] for n in
                       ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}}  # fmt: skip
    single = {n.replace("_reverse", ""): v for n, v in one["weights"].items()}
    forwards = trace({**one, "weights": {f"{n}_l0": v for n, v in single.items()}}, x[::-1])
    both = trace(model, x)
    np.testing.assert_array_equal(both.layers[1].h, forwards.layers[0].h[::-1])
    np.testing.assert_array_equal(both.layers[1].gates["f"], forwards.layers[0].gates["f"][::-1])


def test_bidirectional_sum_last_is_the_sum_of_both_directions_at_the_last_position():
    model, x, _, _ = load_wild("wild_lstm_bidirectional")
    tr = trace(model, x)
    top_fwd, top_rev = tr.layers[2], tr.layers[3]
    assert tr.loss == pytest.approx(top_fwd.h[-1].sum() + top_rev.h[-1].sum(), rel=1e-15)
    # dL/dh of both top directions at the last position is 1 (the reverse one has read x_{T-1})
    np.testing.assert_array_equal(top_fwd.grad_h[-1], 1.0)
    assert top_rev.grad_h[-1] == pytest.approx(1.0)


def test_embedding_gradient_is_the_rows_gradients_summed_by_token():
    model, tokens, loss, _ = load_wild("wild_word_language_model")
    tr = trace(model, tokens, loss=loss)
    E = model["weights"]["embedding.weight"]
    expected = np.zeros_like(E)
    for t, v in enumerate(tokens):
        expected[v] += tr.grad_inputs[t]
    np.testing.assert_allclose(tr.param_grads["embedding.weight"], expected, rtol=1e-14)
    unused = sorted(set(range(E.shape[0])) - set(tokens.tolist()))
    assert not tr.param_grads["embedding.weight"][unused].any()
    np.testing.assert_array_equal(tr.tokens, tokens)
    np.testing.assert_array_equal(tr.inputs, E[tokens])


# ---- central differences ---------------------------------------------------------------------

EPS, TOL = 1e-6, 1e-6
T, D = 5, 3


def _rel(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-12)


def _perturbed(model, seed=3):
    params = init_params(spec_from_dict(model))
    rng = np.random.default_rng(seed)
    return {**model, "weights": {n: w + 0.3 * rng.standard_normal(w.shape) for n, w in
                                 params.items()}}  # fmt: skip


def _check_param_grads(model, inputs, loss=None, clamp=None):
    tr = trace(model, inputs, loss=loss, clamp=clamp)
    weights = model["weights"]
    assert set(tr.param_grads) == set(weights)
    for name, w in weights.items():
        numeric = np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            values = []
            for sign in (1, -1):
                w2 = w.copy()
                w2[idx] += sign * EPS
                m2 = {**model, "weights": {**weights, name: w2}}
                values.append(trace(m2, inputs, loss=loss, clamp=clamp).loss)
            numeric[idx] = (values[0] - values[1]) / (2 * EPS)
        assert _rel(tr.param_grads[name], numeric) < TOL, name
    return tr


def _check_input_grads(model, x, loss=None):
    tr = trace(model, x, loss=loss)
    numeric = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        values = []
        for sign in (1, -1):
            x2 = x.copy()
            x2[idx] += sign * EPS
            values.append(trace(model, x2, loss=loss).loss)
        numeric[idx] = (values[0] - values[1]) / (2 * EPS)
    assert _rel(tr.grad_inputs, numeric) < TOL


X = np.random.default_rng(0).standard_normal((T, D))
MSE_ALL = {"kind": "mse", "at": "all", "target": np.random.default_rng(1).standard_normal((T, 2))}

GRADCHECK_MODELS = {
    "lstm_bidirectional_2layers": ({"cell": "lstm", "hidden_size": 3, "num_layers": 2,
                                    "bidirectional": True}, None),
    "gru_bidirectional_mixed_widths_readout": ({"cell": "gru", "hidden_size": [3, 2],
                                                "bidirectional": True, "output_size": 2},
                                               MSE_ALL),
    "rnn_relu_bidirectional": ({"cell": "rnn", "hidden_size": 3, "num_layers": 2,
                                "nonlinearity": "relu", "bidirectional": True}, None),
    "lstm_proj_mixed_widths": ({"cell": "lstm", "hidden_size": [4, 3], "proj_size": 2}, None),
    "lstm_proj_bidirectional_readout": ({"cell": "lstm", "hidden_size": 3, "proj_size": 2,
                                         "bidirectional": True, "output_size": 2}, MSE_ALL),
    "rnn_relu": ({"cell": "rnn", "hidden_size": 4, "nonlinearity": "relu"}, None),
    "lstm_peephole_bidirectional": ({"cell": "lstm", "hidden_size": 2, "variant": "peephole",
                                     "bidirectional": True}, None),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(GRADCHECK_MODELS))
def test_central_differences_agree_with_bptt(name):
    base, loss = GRADCHECK_MODELS[name]
    model = _perturbed({**base, "input_size": D})
    _check_param_grads(model, X, loss)
    _check_input_grads(model, X, loss)


def test_central_differences_agree_for_an_embedding_language_model():
    model = _perturbed({"cell": "lstm", "hidden_size": 3, "num_layers": 2, "output_size": 6,
                        "embedding": {"num_embeddings": 6, "embedding_dim": 2}})  # fmt: skip
    tokens = np.array([1, 4, 4, 0, 2])
    loss = {"kind": "cross_entropy", "at": "all", "target": [4, 4, 0, 2, 5]}
    tr = _check_param_grads(model, tokens, loss)
    # dL/d(row read at t): the same model without its embedding, fed the rows
    E = model["weights"]["embedding.weight"]
    plain = {k: v for k, v in model.items() if k != "embedding"}
    plain["weights"] = {k: v for k, v in model["weights"].items() if k != "embedding.weight"}
    plain["input_size"] = 2
    _check_input_grads(plain, E[tokens], loss)
    np.testing.assert_array_equal(trace(plain, E[tokens], loss=loss).grad_inputs, tr.grad_inputs)


@pytest.mark.parametrize(("cell", "held", "other"), [("lstm", "f", "i"), ("gru", "z", "r")])
def test_central_differences_with_clamps_in_a_bidirectional_layer(cell, held, other):
    model = _perturbed({"cell": cell, "input_size": D, "hidden_size": 3,
                        "bidirectional": True})  # fmt: skip
    clamp = [{"t": [1, 3], "gate": held, "value": 1.0}, {"t": 2, "gate": other, "value": 0.0,
                                                         "units": [0]}]  # fmt: skip
    tr = _check_param_grads(model, X, clamp=clamp)
    for layer in tr.layers:  # held at input positions 1 and 3 in both directions
        np.testing.assert_array_equal(layer.gates[held][[1, 3]], 1.0)
        assert layer.gates[other][2, 0] == 0.0 and (layer.gates[held][[0, 2, 4]] != 1.0).all()


# ---- shapes, names and refusals --------------------------------------------------------------


def test_parameter_names_and_shapes_follow_pytorch():
    spec = spec_from_dict({"cell": "lstm", "input_size": 3, "hidden_size": [5, 4],
                           "bidirectional": True, "proj_size": 2, "output_size": 7,
                           "embedding": {"num_embeddings": 9, "embedding_dim": 3}})  # fmt: skip
    shapes = param_shapes(spec)
    assert list(shapes)[:6] == ["embedding.weight", "weight_ih_l0", "weight_hh_l0",
                                "bias_ih_l0", "bias_hh_l0", "weight_hr_l0"]  # fmt: skip
    assert shapes["embedding.weight"] == (9, 3)
    assert shapes["weight_ih_l0_reverse"] == (20, 3)
    assert shapes["weight_hh_l0_reverse"] == (20, 2)
    assert shapes["weight_hr_l0_reverse"] == (2, 5)
    assert shapes["weight_ih_l1"] == (16, 4)  # [h_fwd | h_rev] of layer 0, 2 + 2
    assert shapes["readout.weight"] == (7, 4)


def test_plain_models_keep_their_dict_and_initialisation():
    model = {"cell": "gru", "input_size": 2, "hidden_size": 4, "num_layers": 2}
    spec = spec_from_dict(model)
    assert spec.plain and set(spec_to_dict(spec)) == {
        "cell", "input_size", "hidden_size", "num_layers", "variant", "output_size",
    }  # fmt: skip
    # one width per layer, all equal: the same parameters as the int
    same = init_params(spec_from_dict({**model, "hidden_size": [4, 4]}))
    for name, w in init_params(spec).items():
        np.testing.assert_array_equal(same[name], w)


def test_relu_and_tanh_rnns_differ():
    model = _perturbed({"cell": "rnn", "input_size": D, "hidden_size": 4})
    tanh = trace(model, X)
    relu = trace({**model, "nonlinearity": "relu"}, X)
    assert (relu.layers[0].h >= 0).all() and (tanh.layers[0].h < 0).any()


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"hidden_size": [4, 3], "num_layers": 3}, "lists 2 widths but num_layers is 3"),
        ({"hidden_size": [4, 0]}, "hidden_size[1] must be a positive integer"),
        ({"cell": "lstm", "nonlinearity": "relu"}, "applies to the RNN only"),
        ({"cell": "rnn", "nonlinearity": "sigmoid"}, "nonlinearity must be one of"),
        ({"hidden_size": 4, "proj_size": 4}, "proj_size must be below every hidden size"),
        ({"cell": "gru", "hidden_size": 4, "proj_size": 2}, "standard LSTM only"),
        (
            {"embedding": {"num_embeddings": 5, "embedding_dim": 2}, "input_size": 3},
            "embedding_dim = 2",
        ),
        ({"embedding": {"num_embeddings": 0, "embedding_dim": 2}}, "num_embeddings"),
        ({"bidirectional": "yes"}, "bidirectional must be true or false"),
    ],
)
def test_bad_models_are_refused_naming_the_field(model, message):
    with pytest.raises(ModelError, match=message.replace("[", r"\[").replace("]", r"\]")):
        spec_from_dict(model)


def test_a_bidirectional_state_dict_without_reverse_weights_is_refused():
    model = _perturbed({"cell": "lstm", "input_size": D, "hidden_size": 3,
                        "bidirectional": True})  # fmt: skip
    weights = {n: w for n, w in model["weights"].items() if not n.endswith("_reverse")}
    with pytest.raises(ModelError, match="missing .*weight_ih_l0_reverse"):
        trace({**model, "weights": weights}, X)


def test_token_ids_are_checked_naming_the_first_bad_one():
    model = {"cell": "lstm", "hidden_size": 3,
             "embedding": {"num_embeddings": 5, "embedding_dim": 2}}  # fmt: skip
    with pytest.raises(ModelError, match=r"input.tokens\[2\] = 5 .* \[0, 4\]"):
        trace(model, [0, 4, 5, 9])
    with pytest.raises(ModelError, match=r"input.tokens\[1\] = -1"):
        trace(model, [0, -1])
    with pytest.raises(ModelError, match="integer token ids"):
        trace(model, [0.5, 1.0])


def test_a_bidirectional_model_cannot_continue_a_sequence():
    model = {"cell": "gru", "input_size": D, "hidden_size": 3, "bidirectional": True}
    with pytest.raises(ModelError, match="cannot continue a sequence"):
        prepare(model, X, start=5)


def test_mixed_widths_continue_a_sequence_bit_for_bit():
    """Live mode with one width per layer: the final state (one row per layer, its own width)
    carries over exactly."""
    model = _perturbed({"cell": "lstm", "input_size": D, "hidden_size": [4, 3], "proj_size": 2})
    whole = trace(model, X)
    first = prepare(model, X[:2]).backward()
    state = {"h": [lt.h[-1] for lt in first.layers], "c": [lt.c[-1] for lt in first.layers]}
    rest = prepare(model, X[2:], initial_state=state, start=2).backward()
    for k in range(2):
        np.testing.assert_array_equal(rest.layers[k].h, whole.layers[k].h[2:])


# ---- direct comparison with fresh random torch modules (skipped without torch) ----------------


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        ("LSTM", {"bidirectional": True, "proj_size": 2}),
        ("GRU", {"bidirectional": True}),
        ("RNN", {"bidirectional": True, "nonlinearity": "relu"}),
    ],
)
def test_fresh_random_wild_torch_modules(cls, kwargs):
    torch = pytest.importorskip("torch")
    torch.manual_seed(7)
    H, L = 4, 2
    module = getattr(torch.nn, cls)(D, H, num_layers=L, dtype=torch.float64, **kwargs)
    x = torch.randn(9, D, dtype=torch.float64, requires_grad=True)
    y, state = module(x)
    y[-1].sum().backward()
    model = {"cell": cls.lower(), "input_size": D, "hidden_size": H, "num_layers": L, **kwargs,
             "weights": {n: p.detach().numpy() for n, p in module.named_parameters()}}  # fmt: skip
    tr = trace(model, x.detach().numpy())
    tol = {"rtol": RTOL64, "atol": ATOL64}
    R = kwargs.get("proj_size") or H
    top = np.concatenate([tr.layers[-2].h, tr.layers[-1].h], axis=1)
    np.testing.assert_allclose(top, y.detach().numpy(), **tol)
    assert top.shape[1] == 2 * R
    h_n = (state[0] if cls == "LSTM" else state).detach().numpy()
    for j, layer in enumerate(tr.layers):  # torch's h_n: forward at T-1, reverse at position 0
        np.testing.assert_allclose(layer.h[0 if j % 2 else -1], h_n[j], **tol)
    np.testing.assert_allclose(tr.grad_inputs, x.grad.numpy(), **tol)
    for name, p in module.named_parameters():
        np.testing.assert_allclose(tr.param_grads[name], p.grad.numpy(), **tol, err_msg=name)


@pytest.mark.parametrize(
    "model",
    [
        {"cell": "lstm", "hidden_size": [5, 3], "bidirectional": True, "proj_size": 2},
        {"cell": "rnn", "hidden_size": 4, "nonlinearity": "relu"},
    ],
)
def test_a_wild_model_trains_through_the_engine_and_opens_again(model):
    trainer = Trainer(TrainConfig(task="adding", length=8, steps=5, batch_size=4, eval_size=8),
                      model)  # fmt: skip
    losses, norms = trainer.train_steps(5)
    assert len(losses) == 5 and np.all(np.isfinite(losses)) and np.all(np.isfinite(norms))
    out = trainer.model_dict()
    assert {k: out[k] for k in model} == model
    X, loss = trainer.sample()
    tr = trace(out, X, loss=loss)
    assert np.isfinite(tr.loss) and len(tr.layers) == len(spec_from_dict(out).entries)


def test_training_refuses_an_embedding():
    model = {"cell": "lstm", "hidden_size": 3,
             "embedding": {"num_embeddings": 5, "embedding_dim": 2}}  # fmt: skip
    with pytest.raises(ValueError, match="model.embedding"):
        Trainer(TrainConfig(task="adding", length=8), model)

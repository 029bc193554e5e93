"""Readouts as the model reads (every step, or once on h_n) and the task's losses (sum_last,
next_token, cross_entropy with or without a target, mse): central differences over every
parameter and input (float64), and torch's own numbers (tests/fixtures/readout_*.npz, made by
make_readout_fixtures.py: nn.LSTM + nn.Linear on h_n, nn.Embedding -> nn.LSTM -> nn.Linear,
F.cross_entropy, torch.softmax) to 1e-10."""

import json
from pathlib import Path

import numpy as np
import pytest

from app.engine import trace
from app.engine.cells import losses
from app.engine.params import ModelError
from tests.engine.test_models_wild import X, _check_input_grads, _check_param_grads, _perturbed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOL = 1e-10


def _fixture(name):
    with np.load(FIXTURES / f"{name}.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _weights(rec):
    return {k.removeprefix("param."): v for k, v in rec.items() if k.startswith("param.")}


# ---- torch agreement ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["readout_bilstm_classifier", "readout_lstm_classifier"])
def test_a_classifier_reading_h_n_gives_torchs_logits_and_gradients(name):
    rec = _fixture(name)
    model = {**json.loads(str(rec["meta_model"])), "weights": _weights(rec)}
    loss = json.loads(str(rec["meta_loss"]))
    tr = trace(model, rec["x"], loss=loss)
    np.testing.assert_allclose(tr.outputs, rec["logits"], rtol=0, atol=TOL)
    np.testing.assert_allclose(losses.softmax(tr.outputs), rec["probs"], rtol=0, atol=TOL)
    assert abs(tr.loss - float(rec["loss"])) < TOL
    assert tr.loss_kind == "cross_entropy"
    for pname in _weights(rec):
        np.testing.assert_allclose(
            tr.param_grads[pname], rec[f"grad.{pname}"], rtol=0, atol=TOL, err_msg=pname
        )


def test_the_per_step_readout_of_the_same_bidirectional_model_differs():
    """What the issue saw: a per-step readout on [h_fwd_t | h_rev_t] is not the model's."""
    rec = _fixture("readout_bilstm_classifier")
    model = {**json.loads(str(rec["meta_model"])), "weights": _weights(rec)}
    wrong = trace({**model, "readout": "every_step"}, rec["x"]).outputs[-1]
    assert np.abs(wrong - rec["logits"][0]).max() > 1e-3


def test_next_token_cross_entropy_of_an_embedding_lm_equals_torchs():
    rec = _fixture("readout_charlm")
    model = {**json.loads(str(rec["meta_model"])), "weights": _weights(rec)}
    for loss in (None, {"kind": "next_token"}):  # next_token is the default here
        tr = trace(model, rec["tokens"], loss=loss)
        assert tr.loss_kind == "next_token"
        assert abs(tr.loss - float(rec["loss"])) < TOL
        np.testing.assert_allclose(tr.outputs, rec["logits"], rtol=0, atol=TOL)
        np.testing.assert_allclose(losses.softmax(tr.outputs), rec["probs"], rtol=0, atol=TOL)
        np.testing.assert_allclose(tr.loss_steps, rec["loss_steps"], rtol=0, atol=TOL)
        for pname in _weights(rec):
            np.testing.assert_allclose(
                tr.param_grads[pname], rec[f"grad.{pname}"], rtol=0, atol=TOL, err_msg=pname
            )


# ---- central differences -----------------------------------------------------------------------

BI = {"cell": "lstm", "input_size": 3, "hidden_size": 3, "num_layers": 2, "bidirectional": True}
CASES = {
    "bidirectional_final_cross_entropy": ({**BI, "output_size": 3, "readout": "final"},
                                          {"kind": "cross_entropy", "target": 2}),
    "bidirectional_final_own_answer": ({**BI, "output_size": 3, "readout": "final"}, None),
    "gru_final_mse": ({"cell": "gru", "input_size": 3, "hidden_size": 3, "output_size": 2,
                       "readout": "final"}, {"kind": "mse", "target": [0.5, -1.0]}),
    "proj_bidirectional_final": ({**BI, "num_layers": 1, "proj_size": 2, "output_size": 2,
                                  "readout": "final"},
                                 {"kind": "cross_entropy", "target": 0}),
    "sum_last_beside_a_readout": ({**BI, "output_size": 2}, {"kind": "sum_last"}),
    "every_step_own_answer_at_all": ({"cell": "rnn", "input_size": 3, "hidden_size": 3,
                                      "output_size": 3}, {"kind": "cross_entropy", "at": "all"}),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_central_differences_agree_with_bptt_for_readouts_and_losses(name):
    base, loss = CASES[name]
    model = _perturbed(base)
    _check_param_grads(model, X, loss)
    _check_input_grads(model, X, loss)


def test_central_differences_for_next_token_through_an_embedding():
    model = _perturbed({"cell": "lstm", "hidden_size": 3, "num_layers": 2, "output_size": 6,
                        "embedding": {"num_embeddings": 6, "embedding_dim": 2}})  # fmt: skip
    tr = _check_param_grads(model, np.array([1, 4, 4, 0, 2, 5]), None)
    assert tr.loss_kind == "next_token" and tr.loss_steps.shape == (5,)


def test_central_differences_for_next_token_on_one_hot_text():
    """A char LM without an embedding (as /train makes them): one-hot rows, readout of D."""
    model = _perturbed({"cell": "lstm", "input_size": 4, "hidden_size": 3, "output_size": 4})
    x = np.eye(4)[[0, 2, 2, 3, 1]]
    tr = _check_param_grads(model, x, None)
    assert tr.loss_kind == "next_token"
    logp = np.log(losses.softmax(tr.outputs))
    np.testing.assert_allclose(tr.loss_steps, -logp[np.arange(4), [2, 2, 3, 1]], rtol=1e-14)
    assert tr.loss == pytest.approx(tr.loss_steps.mean(), rel=1e-14)


# ---- what each loss is ------------------------------------------------------------------------


def test_sum_last_is_the_sum_of_the_top_h_and_not_of_the_logits():
    model = _perturbed({**BI, "output_size": 2})
    tr = trace(model, X, loss={"kind": "sum_last"})
    top = np.concatenate([tr.layers[-2].h[-1], tr.layers[-1].h[-1]])
    assert tr.loss == pytest.approx(top.sum(), rel=1e-14)
    assert tr.outputs.shape == (len(X), 2)  # the readout still reads every step
    assert not tr.param_grads["readout.weight"].any()


def test_the_default_loss_follows_the_task():
    plain = {"cell": "lstm", "input_size": 3, "hidden_size": 3}
    assert trace(plain, X).loss_kind == "sum_last"
    assert trace({**plain, "output_size": 1}, X).loss_kind == "sum_last"
    classifier = trace({**plain, "output_size": 3}, X)  # 3 outputs, inputs not one-hot
    assert classifier.loss_kind == "cross_entropy"
    own = classifier.outputs[-1].argmax()
    assert classifier.loss == pytest.approx(-np.log(losses.softmax(classifier.outputs[-1])[own]))


def test_a_language_model_reading_h_n_defaults_to_its_own_answer():
    """Its one output row predicts the token after the text: there is no next token to score."""
    model = _perturbed({"cell": "lstm", "hidden_size": 3, "output_size": 6, "readout": "final",
                        "embedding": {"num_embeddings": 6, "embedding_dim": 2}})  # fmt: skip
    tr = trace(model, np.array([1, 4, 4, 0]))
    assert tr.loss_kind == "cross_entropy" and tr.outputs.shape == (1, 6)


def test_a_final_readout_answers_one_row():
    model = _perturbed({**BI, "output_size": 3, "readout": "final"})
    tr = trace(model, X, loss={"kind": "cross_entropy", "target": 1})
    assert tr.outputs.shape == (1, 3) and tr.loss_steps.shape == (1,)
    h_n = np.concatenate([tr.layers[-2].h[-1], tr.layers[-1].h[0]])  # fwd at T-1, rev at 0
    W, b = model["weights"]["readout.weight"], model["weights"]["readout.bias"]
    np.testing.assert_allclose(tr.outputs[0], W @ h_n + b, rtol=1e-14)


@pytest.mark.parametrize(
    ("model", "inputs", "loss", "message"),
    [
        ({"cell": "lstm", "input_size": 3, "readout": "final"}, X, None, "output_size"),
        ({"cell": "lstm", "input_size": 3, "output_size": 3}, X, {"kind": "next_token"},
         "token inputs"),
        ({"cell": "lstm", "input_size": 4, "output_size": 4, "readout": "final"}, np.eye(4),
         {"kind": "next_token"}, "every step"),
        ({"cell": "lstm", "input_size": 4, "output_size": 3}, np.eye(4), {"kind": "next_token"},
         "cover the vocabulary"),
        ({"cell": "lstm", "input_size": 3, "output_size": 3}, X, {"kind": "mse"}, "target"),
        ({"cell": "lstm", "input_size": 3, "readout": "last"}, X, None, "readout"),
    ],
)  # fmt: skip
def test_losses_that_do_not_fit_are_refused_by_name(model, inputs, loss, message):
    with pytest.raises((losses.LossError, ModelError), match=message):
        trace(model, inputs, loss=loss)


def test_next_token_over_one_step_has_nothing_to_predict():
    model = {"cell": "lstm", "input_size": 4, "hidden_size": 3, "output_size": 4}
    tr = trace(model, np.eye(4)[[2]])
    assert tr.loss_kind == "next_token" and tr.loss == 0.0 and tr.loss_steps.shape == (0,)
    assert not any(g.any() for g in tr.param_grads.values())

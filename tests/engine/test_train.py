"""Training: task generators, the lean mode against the trace mode, optimisers, a real drop."""

from __future__ import annotations

import numpy as np
import pytest

from app.engine import run
from app.engine.cells import losses
from app.engine.params import init_params, spec_from_dict
from app.engine.training import train as tr
from app.engine.training.optim import SGD, Adam, clip_global_norm, global_norm
from app.engine.training.train_tasks import _REBER_EDGES, TRAIN_TASKS, get, metric


@pytest.mark.parametrize("name", sorted(TRAIN_TASKS))
def test_task_batches_have_the_declared_shapes_and_repeat_from_the_seed(name):
    task = get(name)
    T, B = max(task.min_length, 12), 5
    X, y = task.batch(T, B, np.random.default_rng(3))
    X2, y2 = task.batch(T, B, np.random.default_rng(3))
    X3, _ = task.batch(T, B, np.random.default_rng(4))
    assert X.shape == (T, B, task.input_size)
    steps = 1 if task.at == "last" else T
    assert y.shape == ((steps, B, task.output_size) if task.loss == "mse" else (steps, B))
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(X, X3)


def test_adding_target_is_the_sum_of_the_marked_values_one_in_each_half():
    X, y = get("adding").batch(20, 64, np.random.default_rng(0))
    marks = X[:, :, 1]
    assert np.all(marks[:10].sum(0) == 1) and np.all(marks[10:].sum(0) == 1)
    np.testing.assert_allclose(y[0, :, 0], (X[:, :, 0] * marks).sum(0))


def test_adding_1997_follows_experiment_4():
    X, y = get("adding_1997").batch(100, 200, np.random.default_rng(1))
    marks = X[:, :, 1]
    assert np.all(marks.sum(0) == 2) and np.all(marks[50:].sum(0) == 0)
    assert np.all(marks[:10].sum(0) >= 1)  # X1 within the first ten steps
    assert X[:, :, 0].min() < -0.9 and X[:, :, 0].max() > 0.9
    np.testing.assert_allclose(y[0, :, 0], 0.5 + (X[:, :, 0] * marks).sum(0) / 4)
    task = get("adding_1997")
    exact = metric(task, y + 0.039, y, X[-1:])
    off = metric(task, y + 0.041, y, X[-1:])
    assert (exact, off) == (1.0, 0.0)


def test_latch_label_is_the_sign_of_the_first_value_and_the_rest_is_noise():
    X, y = get("latch").batch(30, 400, np.random.default_rng(2))
    np.testing.assert_array_equal(y[0], (X[0, :, 0] > 0).astype(int))
    assert set(np.unique(X[0, :, 0])) == {-1.0, 1.0}
    assert 0.45 < X[1:].std() < 0.55


def test_temporal_order_class_is_the_order_of_x_and_y():
    X, y = get("temporal_order").batch(100, 300, np.random.default_rng(5))
    sym = X.argmax(-1)  # (T, B)
    assert np.all(sym[0] == 4) and np.all(sym[-1] == 5)
    for b in range(300):
        xy = [s - 6 for s in sym[:, b] if s >= 6]
        assert len(xy) == 2 and y[0, b] == 2 * xy[0] + xy[1]
    assert set(np.unique(y)) == {0, 1, 2, 3}


def test_embedded_reber_reset_holds_one_string_per_sequence_then_idles_on_e():
    task = get("embedded_reber_reset")
    X, y = task.batch(20, 50, np.random.default_rng(5))
    sym = X.argmax(-1)  # (T, B)
    assert np.all(sym[0] == 0)  # every sequence starts its own string with B
    for b in range(50):
        ends = np.flatnonzero(sym[:, b] == 6)
        last = ends[1] if len(ends) > 1 else 19  # the inner E, then the outer E
        second = sym[1, b]
        assert second in (1, 2)
        # after the inner string's E the target is the second symbol again: the long lag
        assert y[ends[0], b] == second
        assert np.all(y[last + 1 :, b] == 6) and np.all(sym[last + 1 :, b] == 6)
    loss, chance = task.baselines(20)
    assert 0.5 < loss < np.log(7) and chance == 0.5


def test_copy_repeats_the_first_symbols_after_the_go_marker():
    task = get("copy")
    T, B = 20, 6
    X, y = task.batch(T, B, np.random.default_rng(1))
    S = 5
    sym = X[:S].argmax(-1)  # (S, B) the symbols to remember
    assert np.all(sym < 4)
    assert np.all(X[T - S - 1, :, 5] == 1)  # the go marker, once, just before the recall
    assert np.all(X[S : T - S - 1, :, 4] == 1) and np.all(X[T - S :, :, 4] == 1)  # blanks
    np.testing.assert_array_equal(y[T - S :], sym)  # recall the symbols in order
    assert np.all(y[: T - S] == 4)  # "blank" everywhere else
    perfect = np.eye(5)[y] * 10.0
    assert metric(task, perfect, y, X) == 1.0
    always_blank = np.eye(5)[np.full_like(y, 4)]
    assert metric(task, always_blank, y, X) == 0.0 == task.baselines(T)[1]


def test_copy_baseline_is_the_cross_entropy_of_the_class_frequencies():
    task = get("copy")
    T = 30
    _, y = task.batch(T, 4000, np.random.default_rng(0))
    p = np.bincount(y.ravel(), minlength=5) / y.size
    measured = -np.mean(np.log(p[y]))
    assert abs(measured - task.baselines(T)[0]) < 0.01 * measured


def test_brackets_target_is_the_nesting_depth_and_never_negative():
    task = get("brackets")
    X, y = task.batch(40, 8, np.random.default_rng(2))
    steps = X[..., 0] - X[..., 1]  # +1 for "(", -1 for ")"
    np.testing.assert_array_equal(y[..., 0], np.cumsum(steps, axis=0))
    assert y.min() >= 0
    loss, mse = task.baselines(40)
    _, fresh = task.batch(40, 4000, np.random.default_rng(9))
    assert abs(np.var(fresh) - loss) < 0.05 * loss and mse == loss
    assert task.baselines(80)[0] > loss  # a random walk's depth spreads with T


def test_constant_predictor_baselines_match_the_declared_ones():
    rng = np.random.default_rng(0)
    for name, best in (("adding", 1.0), ("adding_1997", 0.5), ("sine", 0.0)):
        task = get(name)
        _, y = task.batch(60, 4000, rng)
        predicted = np.full_like(y, best)
        assert abs(np.mean((predicted - y) ** 2) - task.baseline_loss) < 0.05 * task.baseline_loss


LEAN_MODELS = {
    "lstm": {"cell": "lstm"},
    "no_forget_gate": {"cell": "lstm", "variant": "no_forget_gate"},
    "peephole": {"cell": "lstm", "variant": "peephole"},
    "coupled": {"cell": "lstm", "variant": "coupled"},
    "gru": {"cell": "gru"},
    "rnn": {"cell": "rnn"},
    "relu rnn": {"cell": "rnn", "nonlinearity": "relu"},
    "projection": {"cell": "lstm", "proj_size": 3},
    "bidirectional gru": {"cell": "gru", "bidirectional": True},
    "two widths": {"cell": "lstm", "hidden_size": [5, 4]},
}


@pytest.mark.parametrize("name", sorted(LEAN_MODELS))
@pytest.mark.parametrize("kind,at", [("mse", "last"), ("mse", "all"), ("cross_entropy", "last")])
@pytest.mark.parametrize("batch", [4, 1])  # one batch row: the loops' 1-D path
def test_training_gradients_equal_the_trace_modes(name, kind, at, batch):
    rng = np.random.default_rng(7)
    model = {"input_size": 2, "hidden_size": 5, "num_layers": 2, "output_size": 3,
             "init": {"seed": 1, "forget_bias": 1.0}, **LEAN_MODELS[name]}  # fmt: skip
    spec = spec_from_dict(model)
    params = init_params(spec)
    X = rng.normal(size=(9, batch, 2))
    steps = 1 if at == "last" else 9
    target = (rng.normal(size=(steps, batch, 3)) if kind == "mse"
              else rng.integers(0, 3, (steps, batch)))  # fmt: skip
    loss = losses.Loss(kind, at, target)
    _, L_ref, _, g_ref = run(spec, params, X, loss)  # the trace mode
    ws: list = [{} for _ in spec.entries]
    for _ in range(2):  # the second call reuses the lean mode's arrays
        L, grads, _ = tr.loss_and_grads(spec, params, X, loss, ws)
        assert abs(L - L_ref) < 1e-12
        assert set(grads) == set(g_ref)
        for key in g_ref:
            np.testing.assert_allclose(grads[key], g_ref[key], rtol=0, atol=1e-12, err_msg=key)
    assert all(ws), "every layer entry keeps its arrays"


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_training_gradients_equal_the_trace_modes_where_the_trace_rescales(cell):
    """A long sequence with a tiny loss: the trace carries its gradient in power-of-two
    scales, the lean mode unscaled, and the two agree (relative to the gradient's size)."""
    rng = np.random.default_rng(3)
    spec = spec_from_dict({"cell": cell, "input_size": 2, "hidden_size": 4, "output_size": 1,
                           "init": {"seed": 2}})  # fmt: skip
    params = init_params(spec)
    X = rng.normal(size=(120, 3, 2))
    loss = losses.Loss("mse", "last", np.full((1, 3, 1), 1e-30))
    params["readout.weight"] *= 1e-12  # a gradient near 1e-24 on the way in
    _, L_ref, results, g_ref = run(spec, params, X, loss)
    assert results[0]["grad_h"].exp.any(), "the trace did rescale"
    _, grads, _ = tr.loss_and_grads(spec, params, X, loss, [{}])
    for key in g_ref:
        scale = np.abs(g_ref[key]).max()
        np.testing.assert_allclose(grads[key], g_ref[key], rtol=0, atol=1e-12 * scale,
                                   err_msg=key)  # fmt: skip


def test_clipping_scales_to_the_threshold_and_reports_the_norm_before():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    assert clip_global_norm(grads, 1.0) == pytest.approx(5.0)
    assert global_norm(grads) == pytest.approx(1.0, rel=1e-5)
    small = {"a": np.array([0.3])}
    assert clip_global_norm(small, 1.0) == pytest.approx(0.3) and small["a"][0] == 0.3


def test_adam_first_step_moves_each_weight_by_lr_and_sgd_by_lr_times_gradient():
    p = {"w": np.array([1.0, -2.0])}
    Adam(p, lr=0.1).step({"w": np.array([0.5, -3.0])})
    np.testing.assert_allclose(p["w"], [0.9, -1.9], atol=1e-6)  # -lr * sign(g) at t = 1
    q = {"w": np.array([1.0])}
    SGD(q, lr=0.1).step({"w": np.array([2.0])})
    np.testing.assert_allclose(q["w"], [0.8])


def test_training_on_sine_lowers_the_loss_well_below_the_baseline():
    config = tr.TrainConfig(task="sine", length=20, steps=120, batch_size=16, lr=0.02)
    trainer, loss_curve = tr.train(config, {"cell": "lstm", "hidden_size": 8})
    assert len(loss_curve) == 120 and trainer.finished
    assert np.mean(loss_curve[:5]) > 0.2
    assert np.mean(loss_curve[-10:]) < 0.25 * np.mean(loss_curve[:5])
    assert trainer.evaluate()["mse"] < 0.1  # baseline 0.5


def test_training_is_reproducible_from_the_seeds():
    config = tr.TrainConfig(task="latch", length=10, steps=15, batch_size=8)
    model = {"cell": "gru", "hidden_size": 4, "init": {"seed": 2}}
    a, curve_a = tr.train(config, model)
    b, curve_b = tr.train(config, model)
    assert curve_a == curve_b
    c, curve_c = tr.train(tr.TrainConfig(task="latch", length=10, steps=15, batch_size=8,
                                         seed=1), model)  # fmt: skip
    assert curve_c != curve_a


def test_trained_model_dict_holds_every_weight_and_reopens_in_the_engine():
    trainer, _ = tr.train(tr.TrainConfig(task="adding", length=8, steps=3, batch_size=4),
                          {"cell": "lstm", "hidden_size": 3, "variant": "peephole"})  # fmt: skip
    model = trainer.model_dict()
    assert model["output_size"] == 1 and "readout.weight" in model["weights"]
    assert "weight_ci_l0" in model["weights"]  # the engine path trains variants too
    X, loss = trainer.sample()
    from app.engine import trace

    tr_ = trace(model, X, loss)
    assert tr_.outputs.shape == (8, 1)
    assert np.isfinite(tr_.loss)


def test_too_short_a_sequence_for_the_task_is_refused_with_the_minimum():
    with pytest.raises(ValueError, match="at least 10"):
        tr.Trainer(tr.TrainConfig(task="temporal_order", length=5), {"cell": "lstm"})


def test_embedded_reber_stream_follows_the_grammar_and_the_recall_is_scored():
    task = get("embedded_reber")
    X, y = task.batch(60, 8, np.random.default_rng(3))
    sym = X.argmax(-1)  # (T, B)
    np.testing.assert_array_equal(sym[1:], y[:-1])  # the target is the next input
    for b in range(8):
        stream = iter(sym[:, b].tolist())
        try:
            while True:  # B c [B inner E] c E, strings back to back, the last one cut
                assert next(stream) == 0
                c = next(stream)
                assert c in (1, 2) and next(stream) == 0
                state = 1
                while state != 6:
                    symbol = next(stream)
                    state = dict(_REBER_EDGES[state])[symbol]
                assert next(stream) == 6 and next(stream) == c and next(stream) == 6
        except StopIteration:
            pass
    Y = np.eye(7)[y]  # a perfect predictor
    assert metric(task, Y, y, X) == 1.0
    wrong = np.eye(7)[np.where(y == 1, 2, np.where(y == 2, 1, y))]  # T and P swapped
    assert metric(task, wrong, y, X) == 0.0
    assert 1.0 < task.baseline_loss < np.log(7)


def test_anbn_is_one_string_per_sequence_then_idles_on_t_and_its_metric_needs_the_count():
    task = get("anbn")
    X, y = task.batch(21, 200, np.random.default_rng(4))
    sym = X.argmax(-1)  # (T, B) over "SabT"
    ns = set()
    for b in range(200):
        s = "".join("SabT"[k] for k in sym[:, b])
        n = s.count("a")
        ns.add(n)
        assert s == ("S" + "a" * n + "b" * n + "T")[:21].ljust(21, "T")  # n = 10: T is a target
        assert "".join("SabT"[k] for k in y[:, b]) == s[1:] + "T"  # the next symbols
    assert ns == set(range(1, 11))  # n uniform in 1..(T-1)//2
    exact = np.eye(4)[y] * 10.0  # logits that predict every next symbol
    assert metric(task, exact, y, X) == 1.0
    wrong_end = exact.copy()
    last_b = (sym == 2) & (y == 3)  # after the last b the count says T
    wrong_end[last_b] = np.eye(4)[2] * 10.0  # one more b instead
    assert metric(task, wrong_end, y, X) == 0.0
    after_a = (sym == 1) & (y == 1)  # the a's are not predictable: not counted
    guess = exact.copy()
    guess[after_a] = np.eye(4)[2] * 10.0
    assert metric(task, guess, y, X) == 1.0

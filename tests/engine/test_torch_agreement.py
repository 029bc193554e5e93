"""The engine agrees with PyTorch (DESIGN.md, "Mathematics"), through committed fixtures.

tests/fixtures/*.npz are made by tests/fixtures/make_torch_fixtures.py in a separate torch
virtualenv (see its docstring); this module needs only numpy. Every recorded quantity (gates,
h, c, per-step total dL/dh_t and dL/dc_t, loss, readout outputs, parameter gradients, dL/dx)
must agree to 1e-10 in float64. In float32 the forward values agree with the float64 torch
values to 1e-5 relative (with a floor for cancellation, see test_fixture_float32) and the
gradient norms to 1e-5 relative.

`test_fresh_random_torch_models` uses torch directly and is skipped when torch is absent.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from app.engine import trace

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# wild_*.npz (bidirectional, projections, ...) and readout_*.npz (readouts on h_n, the
# next-token loss) have their own layouts: test_models_wild.py, test_readout_loss.py
OWN_LAYOUT = ("wild_", "readout_")
CASES = sorted(p.stem for p in FIXTURES.glob("*.npz") if not p.stem.startswith(OWN_LAYOUT))
GATES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n"), "rnn": ()}

RTOL64, ATOL64 = 1e-10, 1e-12


def load_case(name: str):
    """(model, inputs, loss, clamp, fixture dict) for one fixture."""
    with np.load(FIXTURES / f"{name}.npz", allow_pickle=False) as z:
        fx = {k: z[k] for k in z.files}
    output_size = int(fx["meta_output_size"])
    model = {
        "cell": str(fx["meta_cell"]),
        "input_size": int(fx["meta_input_size"]),
        "hidden_size": int(fx["meta_hidden_size"]),
        "num_layers": int(fx["meta_num_layers"]),
        "variant": str(fx["meta_variant"]),
        "output_size": output_size if output_size > 0 else None,
        "weights": {k[len("param.") :]: v for k, v in fx.items() if k.startswith("param.")},
    }
    loss = json.loads(str(fx["meta_loss"]))
    if loss is not None and loss["kind"] == "mse":
        loss = dict(loss, target=np.asarray(loss["target"], dtype=np.float64))
    clamp = json.loads(str(fx["meta_clamp"]))
    return model, fx["x"], loss, clamp, fx


def pairs(tr, fx, model):
    """(label, engine value, torch value) for every quantity the fixture records."""
    out = [("loss", np.asarray(tr.loss), fx["loss"])]
    if "outputs" in fx:
        out.append(("outputs", tr.outputs, fx["outputs"]))
    out.append(("grad_x", tr.grad_inputs, fx["grad_x"]))
    for k in range(model["num_layers"]):
        layer = tr.layers[k]
        for g in GATES[model["cell"]]:
            out.append((f"l{k}_gate_{g}", layer.gates[g], fx[f"l{k}_gate_{g}"]))
        out.append((f"l{k}_h", layer.h, fx[f"l{k}_h"]))
        out.append((f"l{k}_grad_h", layer.grad_h, fx[f"l{k}_grad_h"]))
        out.append(
            (f"l{k}_grad_h_norm", layer.grad_h_norm, np.linalg.norm(fx[f"l{k}_grad_h"], axis=1))
        )
        if tr.grad_h0 is not None:
            out.append((f"l{k}_grad_h0", tr.grad_h0[k], fx[f"l{k}_grad_h0"]))
        if model["cell"] == "lstm":
            out.append((f"l{k}_c", layer.c, fx[f"l{k}_c"]))
            out.append((f"l{k}_grad_c", layer.grad_c, fx[f"l{k}_grad_c"]))
            out.append(
                (
                    f"l{k}_grad_c_norm",
                    layer.grad_c_norm,
                    np.linalg.norm(fx[f"l{k}_grad_c"], axis=1),
                )
            )
            if tr.grad_c0 is not None:
                out.append((f"l{k}_grad_c0", tr.grad_c0[k], fx[f"l{k}_grad_c0"]))
    for key, ref in fx.items():
        if key.startswith("grad."):
            name = key[len("grad.") :]
            out.append((key, tr.param_grads.get(name), ref))
    return out


def mismatch(label, got, ref, rtol, atol):
    """None if got ~ ref, else a line saying where and by how much they differ."""
    if got is None:
        return f"{label}: engine gave None"
    got = np.asarray(got, dtype=np.float64)
    if got.shape != ref.shape:
        return f"{label}: shape {got.shape}, torch {ref.shape}"
    err = np.abs(got - ref)
    bad = ~(err <= atol + rtol * np.abs(ref))
    if not bad.any():
        return None
    idx = np.unravel_index(np.argmax(np.where(bad, err, -1.0)), ref.shape)
    return (
        f"{label}: {int(bad.sum())}/{ref.size} entries off; worst at index {tuple(map(int, idx))}"
        f" (row = step t): engine {got[idx]!r}, torch {ref[idx]!r}, abs err {err[idx]:.3g}"
    )


@pytest.mark.parametrize("case", CASES)
def test_fixture_float64(case):
    model, x, loss, clamp, fx = load_case(case)
    tr = trace(model, x, loss=loss, dtype="float64", clamp=clamp)
    assert tr.steps == x.shape[0] and len(tr.layers) == model["num_layers"]
    problems = [
        m
        for label, got, ref in pairs(tr, fx, model)
        if (m := mismatch(label, got, ref, RTOL64, ATOL64)) is not None
    ]
    assert not problems, f"{case} disagrees with torch:\n" + "\n".join(problems)


def test_fixtures_cover_the_contract():
    expected = {
        "lstm_1layer",
        "lstm_2layer",
        "gru_1layer",
        "gru_2layer",
        "rnn_1layer",
        "rnn_2layer",
        "lstm_peephole",
        "lstm_coupled",
        "lstm_no_forget_gate",
        "mse_last",
        "mse_all",
        "ce_last",
        "ce_all",
        "lstm_clamp",
    }
    assert expected <= set(CASES)
    assert sum((FIXTURES / f"{c}.npz").stat().st_size for c in CASES) < 300_000


def test_clamp_fixture_really_clamps():
    """Guard the fixture itself: the clamped gate entries hold their constants."""
    _, _, _, clamp, fx = load_case("lstm_clamp")
    assert clamp
    assert np.all(fx["l0_gate_f"][[2, 4]] == 1.0)
    assert np.all(fx["l0_gate_i"][3, [0, 2]] == 0.0)
    assert np.all(fx["l0_gate_i"][3, [1, 3]] != 0.0)


RTOL32 = 1e-5


@pytest.mark.parametrize("case", CASES)
def test_fixture_float32(case):
    model, x, loss, clamp, fx = load_case(case)
    tr = trace(model, x, loss=loss, dtype="float32", clamp=clamp)
    problems = []
    forward = [("loss", np.asarray(tr.loss), fx["loss"])]
    if "outputs" in fx:
        forward.append(("outputs", tr.outputs, fx["outputs"]))
    grads = [("grad_x norm", np.linalg.norm(tr.grad_inputs), np.linalg.norm(fx["grad_x"]))]
    for k in range(model["num_layers"]):
        layer = tr.layers[k]
        for g in GATES[model["cell"]]:
            forward.append((f"l{k}_gate_{g}", layer.gates[g], fx[f"l{k}_gate_{g}"]))
        forward.append((f"l{k}_h", layer.h, fx[f"l{k}_h"]))
        grads.append(
            (f"l{k}_grad_h_norm", layer.grad_h_norm, np.linalg.norm(fx[f"l{k}_grad_h"], axis=1))
        )
        if model["cell"] == "lstm":
            forward.append((f"l{k}_c", layer.c, fx[f"l{k}_c"]))
            grads.append(
                (
                    f"l{k}_grad_c_norm",
                    layer.grad_c_norm,
                    np.linalg.norm(fx[f"l{k}_grad_c"], axis=1),
                )
            )
    for key, ref in fx.items():
        if key.startswith("grad."):
            name = key[len("grad.") :]
            got = tr.param_grads.get(name)
            grads.append(
                (f"{key} norm", None if got is None else np.linalg.norm(got), np.linalg.norm(ref))
            )
    # Forward values: 1e-5 relative per entry, plus an absolute floor of 1e-6 of the array's
    # largest magnitude. The floor is for cancellation, a plain float32 effect: in lstm_1layer
    # c_4[3] = f*c_3 + i*g = -0.29030 + 0.29158 = 0.00128, and one float32 rounding of the
    # 0.29 terms (~1.5e-8) is 1.9e-5 of the result (seen: abs err 2.4e-8 = 2.8e-8 of max|c|).
    # Gradients are compared through their norms (per step, per parameter), 1e-5 relative
    # (seen: at most 7e-7).
    for label, got, ref in forward:
        ref = np.asarray(ref)
        m = mismatch(label, got, ref, RTOL32, 1e-6 * float(np.abs(ref).max()))
        if m is not None:
            problems.append(m)
    for label, got, ref in grads:
        m = mismatch(label, got, np.asarray(ref), RTOL32, 1e-30)
        if m is not None:
            problems.append(m)
    assert not problems, f"{case} (float32) disagrees with torch float64:\n" + "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# Direct comparison with a fresh random torch model (skipped without torch).


def _fixture_maker():
    spec = importlib.util.spec_from_file_location(
        "make_torch_fixtures", FIXTURES / "make_torch_fixtures.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("seed", [0, 1])
def test_fresh_random_torch_models(cell, seed):
    torch = pytest.importorskip("torch")
    maker = _fixture_maker()
    T, D, H, L = 9, 3, 6, 2
    torch.manual_seed(1000 + seed)
    kwargs = {"nonlinearity": "tanh"} if cell == "rnn" else {}
    module = maker.NN[cell](D, H, num_layers=L, batch_first=True, dtype=torch.float64, **kwargs)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.startswith("bias"):
                p.add_(torch.empty_like(p).uniform_(-1.0, 1.0))
    x = torch.randn(T, D, dtype=torch.float64)

    # nn module itself: outputs, final states, loss = sum of top h_{T-1}, gradients
    xx = x.clone()[None].requires_grad_(True)
    y, state = module(xx)
    loss = y[0, -1].sum()
    loss.backward()
    weights = {n: p.detach().numpy().copy() for n, p in module.named_parameters()}
    model = {
        "cell": cell,
        "input_size": D,
        "hidden_size": H,
        "num_layers": L,
        "variant": "standard",
        "output_size": None,
        "weights": weights,
    }
    tr = trace(model, x.numpy(), loss=None, dtype="float64", clamp=None)
    tol = dict(rtol=RTOL64, atol=ATOL64)
    np.testing.assert_allclose(tr.loss, loss.item(), **tol)
    np.testing.assert_allclose(tr.layers[-1].h, y[0].detach().numpy(), **tol)
    h_n = state[0] if cell == "lstm" else state
    for k in range(L):
        np.testing.assert_allclose(tr.layers[k].h[-1], h_n[k, 0].detach().numpy(), **tol)
        if cell == "lstm":
            np.testing.assert_allclose(tr.layers[k].c[-1], state[1][k, 0].detach().numpy(), **tol)
    np.testing.assert_allclose(tr.grad_inputs, xx.grad[0].numpy(), **tol)
    for name, p in module.named_parameters():
        np.testing.assert_allclose(tr.param_grads[name], p.grad.numpy(), **tol, err_msg=name)

    # per-step gates and total derivatives from the fixture script's retain_grad loop
    params = dict(module.named_parameters())
    rec = maker.run_loop(cell, "standard", L, H, params, x)
    problems = [
        m
        for label, got, ref in pairs(tr, rec, model)
        if (m := mismatch(label, got, ref, RTOL64, ATOL64)) is not None
    ]
    assert not problems, "\n".join(problems)

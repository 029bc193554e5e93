"""lx.show(torch_module, x) against the module itself, in float64, to 1e-10: outputs, final
states, the loss's gradients with respect to every parameter and to the input. Skipped without
torch (not a dependency; run with torch on the path, e.g. the fixtures' venv)."""

from __future__ import annotations

import numpy as np
import pytest

import app as lx

torch = pytest.importorskip("torch")


class Wrapped(torch.nn.Module):
    """A module holding the recurrent layer under a name, as models in the wild do."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn(x)


CASES = {
    "lstm": lambda: torch.nn.LSTM(3, 5, num_layers=2, dtype=torch.float64),
    "gru": lambda: Wrapped(torch.nn.GRU(3, 4, dtype=torch.float64)),
    "rnn_relu": lambda: torch.nn.RNN(3, 4, nonlinearity="relu", dtype=torch.float64),
    "lstm_bidirectional": lambda: torch.nn.LSTM(3, 4, bidirectional=True, dtype=torch.float64),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_show_gives_the_torch_modules_numbers(case):
    torch.manual_seed(0)
    module = CASES[case]()
    x = torch.randn(11, 3, dtype=torch.float64, requires_grad=True)
    view = lx.show(module, x.detach().numpy())  # nn.RNN says relu itself: nothing to pass
    tr = view.trace
    out, state = module(x)
    loss = out[-1].sum()  # the default loss: the sum of the top layer's output at T-1
    loss.backward()
    assert tr.loss == pytest.approx(loss.item(), abs=1e-10)
    top = tr.layers[-2:] if case.endswith("bidirectional") else tr.layers[-1:]
    h_top = np.concatenate([e.h for e in top], axis=1)
    np.testing.assert_allclose(h_top, out.detach().numpy(), rtol=0, atol=1e-10)
    h_n = state[0] if isinstance(state, tuple) else state
    last = [e.h[0] if e.direction == "reverse" else e.h[-1] for e in tr.layers]
    np.testing.assert_allclose(np.stack(last), h_n.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(tr.grad_inputs, x.grad.numpy(), rtol=0, atol=1e-10)
    prefix = "rnn." if isinstance(module, Wrapped) else ""
    named = dict(module.named_parameters())
    for name, grad in tr.param_grads.items():
        np.testing.assert_allclose(grad, named[prefix + name].grad.numpy(), rtol=0, atol=1e-10)
    assert "lstmx-view" in view._repr_html_()


def test_torch_is_not_imported_by_the_package():
    import subprocess
    import sys

    code = "import sys, app; app.show; import app.notebook; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

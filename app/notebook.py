"""The notebook API: `import lstm_explainer as lx` (in a clone, `import app as lx`).

    view = lx.show(model, inputs, ...)   the step-through view of one run, inline: no server,
                                         no network; view.save("run.html") writes it as one file
    tr = lx.trace(model, inputs, ...)    the run's arrays (the engine's Trace)
    lx.compare(T=200, hidden_size=32)    the gradient lab's RNN/LSTM/GRU decay chart, inline
    lx.serve()                           the whole app in a thread, shown in an iframe

`model`: a model dict, a weight file path, a torch.nn.Module holding an LSTM/GRU/RNN (read
through its state_dict(); torch is never imported by this package), or a Keras 3 model.
`inputs`: text (with alphabet= or vocab=, or the model dict's own), token ids, or an array
(T, D). See app/standalone for the options and docs/notebook.md for the size bound.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from .engine import Trace
from .standalone import build_view, document, fragment
from .standalone import run as _run


class View:
    """A self-contained view: shown by Jupyter through `_repr_html_`, saved with `save`."""

    def __init__(self, data: dict[str, Any], entry: str = "standalone.js", trace: Any = None):
        self.data = data
        self.entry = entry
        self.trace = trace  # the run's Trace (lx.show), or the lab's answer (lx.compare)

    def _repr_html_(self) -> str:
        return fragment(self.data, self.entry)

    def html(self) -> str:
        """The view as one HTML document (what `save` writes)."""
        return document(self.data, self.entry)

    def save(self, path: str | Path) -> Path:
        """Write the view as one HTML file that opens from disk with no server, no network."""
        out = Path(path)
        out.write_text(self.html(), encoding="utf-8")
        return out

    def __repr__(self) -> str:
        note = f"; {self.data['note']}" if self.data.get("note") else ""
        return f"<LSTM Explainer view: {self.data['title']}{note}>"


def show(model: Any, inputs: Any, **options: Any) -> View:
    """The step-through view of `model` run over `inputs` (cell diagram, player, heatmaps,
    gradient chart), with the run inlined. Options: alphabet, vocab, level, nonlinearity;
    loss, dtype, clamp; window=(start, stop), max_numbers, title."""
    tr, data = build_view(model, inputs, **options)
    return View(data, trace=tr)


def trace(
    model: Any,
    inputs: Any,
    loss: Any = None,
    dtype: str = "float64",
    clamp: Any = None,
    initial_state: Any = None,
    start: int = 0,
    **how: Any,
) -> Trace:
    """Run the model over the inputs and return every array (the engine's Trace): gates, c, h,
    the gradients per step, param_grads. With a model dict and an array it is
    app.engine.trace (same arguments, same numbers); it also takes what `show` takes (a file,
    a torch module, a Keras model; text with alphabet=, vocab=, level=; nonlinearity=)."""
    run = {"loss": loss, "dtype": dtype, "clamp": clamp, "initial_state": initial_state}
    return _run(model, inputs, start=start, **run, **how)[1]


def compare(
    T: int = 200,
    hidden_size: int = 16,
    *,
    inputs: Any = None,
    input_size: int = 4,
    seed: int = 0,
    **lab: Any,
) -> View:
    """The gradient lab's chart: ‖∂L/∂h_t‖ by steps back for a tanh RNN, an LSTM and a GRU of
    the same size and seed over the same inputs (random normal (T, input_size) from `seed`
    unless given). Other options are the lab's (POST /api/compare): cells, recurrent_init,
    recurrent_gain, forget_bias, input_bias, zero_biases, input_scale, lstm_variant, dtype."""
    from .api.routes.compare import CompareRequest, check_and_resolve
    from .api.routes.compare import compare as lab_compare
    from .settings import get_settings

    if inputs is None:
        inputs = np.random.default_rng(seed).standard_normal((T, input_size))
    X = np.asarray(inputs, dtype=np.float64)
    X = X[:, None] if X.ndim == 1 else X
    req = CompareRequest.model_validate(
        {"input": {"sequence": X.tolist()}, "hidden_size": hidden_size, "seed": seed, **lab}
    )
    answer = lab_compare(req, check_and_resolve(req, get_settings()))
    return View(_compare_data(answer), entry="standalone-compare.js", trace=answer)


def _compare_data(answer: dict[str, Any]) -> dict[str, Any]:
    def logs(values: Any) -> list[float | None]:
        return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, float)]

    cells = {}
    for cell, a in answer["cells"].items():
        cells[cell] = {"grad_h": logs(a["grad_h_log10"]), "fit_h": a["fit_h"]}
        if "grad_c_log10" in a:
            cells[cell] |= {"grad_c": logs(a["grad_c_log10"]), "fit_c": a["fit_c"]}
    T, H = answer["steps"], answer["hidden_size"]
    title = f"Gradient decay · H = {H} · T = {T} steps · {answer['dtype']}"
    return {"title": title, "steps": T, "cells": cells}


_server: dict[str, Any] = {}


def serve(port: int = 0, host: str = "127.0.0.1", height: int = 800) -> Any:
    """Start the whole app in a thread of this kernel (once) and show it in an iframe, as
    TensorBoard's notebook bridge does. Returns the IPython display object."""
    import socket

    import uvicorn
    from IPython.display import IFrame

    if "url" not in _server:
        if not port:
            with socket.socket() as s:
                s.bind((host, 0))
                port = int(s.getsockname()[1])
        app = f"{__package__}.main:app"
        config = uvicorn.Config(app, host=host, port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="lstm-explainer", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not server.started:
            raise RuntimeError(f"the server did not start on {host}:{port}")
        _server.update(url=f"http://{host}:{port}/", server=server, thread=thread)
    return IFrame(_server["url"], width="100%", height=height)

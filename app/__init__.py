"""LSTM Explainer: watch an LSTM's gates, cell state and gradients, step by step."""

import os
from typing import Any

# The engine multiplies small matrices one time step at a time: a multi-threaded BLAS spends
# more on waking threads than on arithmetic (measured: T=1000, H=32, RNN 112 ms vs 10 ms), and
# the server already runs one request per worker thread. Set before NumPy loads its BLAS;
# an explicit setting in the environment wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

__version__ = "0.1.0"

# The notebook API (app/notebook.py), loaded on first use: `import app` (lstm_explainer) stays
# light and imports neither FastAPI nor the engine.
_NOTEBOOK = ("show", "trace", "compare", "serve", "View")
__all__ = ["__version__", *_NOTEBOOK]


def __getattr__(name: str) -> Any:
    if name in _NOTEBOOK:
        from . import notebook

        return getattr(notebook, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""LSTM Explainer: watch an LSTM's gates, cell state and gradients, step by step.

Installed, this package is `lstm_explainer`: `show`, `trace`, `compare`, `serve` and `View`
(app/notebook.py; `trace` runs the engine's trace, app/engine). Names are imported when first
used: `import lstm_explainer` loads neither NumPy nor the web stack.
"""

import importlib
import os
from typing import Any

# The engine multiplies small matrices one time step at a time: a multi-threaded BLAS spends
# more on waking threads than on arithmetic (measured: T=1000, H=32, RNN 112 ms vs 10 ms), and
# the server already runs one request per worker thread. Set before NumPy loads its BLAS;
# an explicit setting in the environment wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

__version__ = "0.1.0"

# public name -> the module (relative to this package) that defines it, imported on first use.
# `trace` is the notebook's: app.engine.trace's arguments and numbers, and it also takes what
# `show` takes (a weight file, a torch module, a Keras model, text with a vocabulary).
_LAZY = dict.fromkeys(("show", "trace", "compare", "serve", "View"), ".notebook")

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])

"""LSTM Explainer: watch an LSTM's gates, cell state and gradients, step by step."""

import os

# The engine multiplies small matrices one time step at a time: a multi-threaded BLAS spends
# more on waking threads than on arithmetic (measured: T=1000, H=32, RNN 112 ms vs 10 ms), and
# the server already runs one request per worker thread. Set before NumPy loads its BLAS;
# an explicit setting in the environment wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

__version__ = "0.1.0"

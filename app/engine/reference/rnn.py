"""The tanh RNN as the equation writes it, backward beside forward (min-char-rnn's cell).

    h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)

Vectors are (H,); W_ih (H, D), W_hh (H, H). h[-1] holds h_0. Each step back multiplies
the gradient by diag(1 - h_t²) W_hh: this is the cell whose gradient vanishes.
"""

import numpy as np


def forward(p, x, h0):
    W_ih, W_hh, b_ih, b_hh = p
    h = {-1: h0}
    for t in range(len(x)):
        h[t] = np.tanh(W_ih @ x[t] + b_ih + W_hh @ h[t - 1] + b_hh)
    return {"h": h}


def backward(p, x, s, dh_out):
    """dh_out[t]: dL/dh_t from outside the recurrence (the loss or the layer above)."""
    W_ih, W_hh, b_ih, b_hh = p
    h = s["h"]
    dW_ih, dW_hh, db = np.zeros_like(W_ih), np.zeros_like(W_hh), np.zeros_like(b_ih)
    dh, dx = {}, {}
    dh_next = np.zeros_like(h[-1])
    for t in reversed(range(len(x))):
        dh[t] = dh_out[t] + dh_next  # dL/dh_t: from outside and from step t+1
        da = dh[t] * (1 - h[t] ** 2)  # backprop through tanh
        dW_ih += np.outer(da, x[t])
        dW_hh += np.outer(da, h[t - 1])
        db += da
        dx[t] = W_ih.T @ da  # into the input (the layer below)
        dh_next = W_hh.T @ da  # into h_{t-1}
    grads = {"weight_ih": dW_ih, "weight_hh": dW_hh, "bias_ih": db, "bias_hh": db.copy()}
    return {"dh": dh, "dc": None, "dx": dx, "dh0": dh_next, "dc0": None, "grads": grads}

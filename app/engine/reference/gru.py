"""The GRU cell as the equations write it: one line per equation, backward beside forward.

    r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)               rows [r|z|n]   (PyTorch)
    z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
    h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

Vectors are (H,); W_ih (3H, D), W_hh (3H, H). h[-1] holds h_0. A gate held by `hold` is a
constant (app/engine/reference/common.py).
"""

import numpy as np

from .common import sigmoid


def forward(p, x, h0, hold):
    W_ih, W_hh, b_ih, b_hh = p
    H = W_hh.shape[1]
    r, z, n, h, hn = {}, {}, {}, {-1: h0}, {}
    for t in range(len(x)):
        gx = W_ih @ x[t] + b_ih  # (3H,) the input's part
        gh = W_hh @ h[t - 1] + b_hh  # (3H,) the recurrent part
        r[t] = hold("r", t, sigmoid(gx[:H] + gh[:H]))  # reset gate
        z[t] = hold("z", t, sigmoid(gx[H : 2 * H] + gh[H : 2 * H]))  # update gate
        hn[t] = gh[2 * H :]  # W_hn h_{t-1} + b_hn, which r scales
        n[t] = hold("n", t, np.tanh(gx[2 * H :] + r[t] * hn[t]))  # candidate
        h[t] = (1 - z[t]) * n[t] + z[t] * h[t - 1]  # keep (z → 1) or take the candidate
    return {"r": r, "z": z, "n": n, "h": h, "hn": hn}


def backward(p, x, s, dh_out, hold):
    """dh_out[t]: dL/dh_t from outside the recurrence (the loss or the layer above)."""
    W_ih, W_hh, b_ih, b_hh = p
    r, z, n, h, hn = s["r"], s["z"], s["n"], s["h"], s["hn"]
    dW_ih, dW_hh = np.zeros_like(W_ih), np.zeros_like(W_hh)
    db_ih, db_hh = np.zeros_like(b_ih), np.zeros_like(b_hh)
    dh, dx = {}, {}
    dh_next = np.zeros_like(h[-1])
    for t in reversed(range(len(x))):
        dh[t] = dh_out[t] + dh_next  # dL/dh_t: from outside and from step t+1
        dz_n = dh[t] * (1 - z[t]) * (1 - n[t] ** 2) * hold.free("n", t)  # through n, tanh'
        dz_z = dh[t] * (h[t - 1] - n[t]) * z[t] * (1 - z[t]) * hold.free("z", t)  # through z
        dz_r = dz_n * hn[t] * r[t] * (1 - r[t]) * hold.free("r", t)  # through r inside n
        dgx = np.concatenate([dz_r, dz_z, dz_n])  # into W_ih x + b_ih
        dgh = np.concatenate([dz_r, dz_z, dz_n * r[t]])  # into W_hh h + b_hh
        dW_ih += np.outer(dgx, x[t])
        dW_hh += np.outer(dgh, h[t - 1])
        db_ih += dgx
        db_hh += dgh
        dx[t] = W_ih.T @ dgx  # into the input (the layer below)
        dh_next = dh[t] * z[t] + W_hh.T @ dgh  # into h_{t-1}: directly through z, and W_hh
    grads = {"weight_ih": dW_ih, "weight_hh": dW_hh, "bias_ih": db_ih, "bias_hh": db_hh}
    return {"dh": dh, "dc": None, "dx": dx, "dh0": dh_next, "dc0": None, "grads": grads}

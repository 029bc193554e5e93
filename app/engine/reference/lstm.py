"""The LSTM cell as the equations write it: one line per equation, backward beside forward.

    z     = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh       rows [i|f|g|o]   (PyTorch)
    i_t   = σ(z_i + w_ci ⊙ c_{t-1})
    f_t   = σ(z_f + w_cf ⊙ c_{t-1})      no_forget_gate: f ≡ 1;  coupled: f = 1 - i
    g_t   = tanh(z_g)
    c_t   = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    o_t   = σ(z_o + w_co ⊙ c_t)
    h_t   = o_t ⊙ tanh(c_t)

The peephole weights w_ci, w_cf, w_co (Gers 2002) are zero except in the peephole variant.
Vectors are (H,); W_ih (4H, D), W_hh (4H, H). x[t] is the input at step t; h[-1], c[-1]
hold h_0, c_0. A gate held by `hold` is a constant (app/engine/reference/common.py).
"""

import numpy as np

from .common import sigmoid


def forward(p, x, h0, c0, variant, hold):
    W_ih, W_hh, b_ih, b_hh, w_ci, w_cf, w_co = p
    H = W_hh.shape[1]
    i, f, g, o, c, h = {}, {}, {}, {}, {-1: c0}, {-1: h0}
    for t in range(len(x)):
        z = W_ih @ x[t] + b_ih + W_hh @ h[t - 1] + b_hh
        z_i, z_f, z_g, z_o = z[:H], z[H : 2 * H], z[2 * H : 3 * H], z[3 * H :]
        i[t] = hold("i", t, sigmoid(z_i + w_ci * c[t - 1]))  # input gate
        f_t = sigmoid(z_f + w_cf * c[t - 1])  # forget gate
        if variant == "coupled":  # CIFG: the forget gate is 1 - i
            f_t = 1.0 - i[t]
        if variant == "no_forget_gate":  # the 1997 cell: f ≡ 1
            f_t = np.ones(H)
        f[t] = hold("f", t, f_t)
        g[t] = hold("g", t, np.tanh(z_g))  # candidate
        c[t] = f[t] * c[t - 1] + i[t] * g[t]  # the cell state: keep, then write
        o[t] = hold("o", t, sigmoid(z_o + w_co * c[t]))  # output gate
        h[t] = o[t] * np.tanh(c[t])  # read out
    return {"i": i, "f": f, "g": g, "o": o, "c": c, "h": h}


def backward(p, x, s, dh_out, variant, hold):
    """dh_out[t]: dL/dh_t from outside the recurrence (the loss or the layer above)."""
    W_ih, W_hh, b_ih, b_hh, w_ci, w_cf, w_co = p
    i, f, g, o, c, h = s["i"], s["f"], s["g"], s["o"], s["c"], s["h"]
    dW_ih, dW_hh, db = np.zeros_like(W_ih), np.zeros_like(W_hh), np.zeros_like(b_ih)
    dw_ci, dw_cf, dw_co = np.zeros_like(w_ci), np.zeros_like(w_cf), np.zeros_like(w_co)
    dh, dc, dx = {}, {}, {}
    dh_next, dc_next = np.zeros_like(h[-1]), np.zeros_like(c[-1])
    f_learns = variant in ("standard", "peephole")  # f is σ(z_f) only in these
    for t in reversed(range(len(x))):
        dh[t] = dh_out[t] + dh_next  # dL/dh_t: from outside and from step t+1
        dz_o = dh[t] * np.tanh(c[t]) * o[t] * (1 - o[t]) * hold.free("o", t)  # through o
        dc[t] = dc_next + dh[t] * o[t] * (1 - np.tanh(c[t]) ** 2) + dz_o * w_co  # dL/dc_t
        df = dc[t] * c[t - 1]  # through c_t = f c_{t-1} + i g
        di = dc[t] * g[t]
        if variant == "coupled":  # f = 1 - i: what f receives goes to i (unless f is held)
            di = di - df * hold.free("f", t)
        dz_i = di * i[t] * (1 - i[t]) * hold.free("i", t)  # backprop through σ
        dz_f = df * f[t] * (1 - f[t]) * hold.free("f", t) * f_learns
        dz_g = dc[t] * i[t] * (1 - g[t] ** 2) * hold.free("g", t)  # backprop through tanh
        dz = np.concatenate([dz_i, dz_f, dz_g, dz_o])  # (4H,) rows [i|f|g|o]
        dW_ih += np.outer(dz, x[t])
        dW_hh += np.outer(dz, h[t - 1])
        db += dz
        dw_ci += dz_i * c[t - 1]
        dw_cf += dz_f * c[t - 1]
        dw_co += dz_o * c[t]
        dx[t] = W_ih.T @ dz  # into the input (the layer below)
        dh_next = W_hh.T @ dz  # into h_{t-1}
        dc_next = dc[t] * f[t] + dz_i * w_ci + dz_f * w_cf  # into c_{t-1}
    grads = {"weight_ih": dW_ih, "weight_hh": dW_hh, "bias_ih": db, "bias_hh": db.copy(),
             "weight_ci": dw_ci, "weight_cf": dw_cf, "weight_co": dw_co}  # fmt: skip
    return {"dh": dh, "dc": dc, "dx": dx, "dh0": dh_next, "dc0": dc_next, "grads": grads}

"""The cells (LSTM and its variants, GRU, RNN), stacking them into a network, losses and BPTT.
Pure NumPy; imports nothing outside this package but `..params`."""

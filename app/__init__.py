"""LSTM Explainer: watch an LSTM's gates, cell state and gradients, step by step."""

__version__ = "0.1.0"

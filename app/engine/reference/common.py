"""What every reference cell shares: the logistic sigmoid and gate holds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass
class Hold:
    """Gates held at a value (the engine's `clamp`) in one layer.

    held[gate] (T, H) is True where the gate is held, value[gate] (T, H) the value it is held
    at. A held gate is a constant: no gradient flows through its pre-activation.
    """

    held: dict[str, np.ndarray]
    value: dict[str, np.ndarray]

    def __call__(self, gate: str, t: int, a: np.ndarray) -> np.ndarray:
        """The gate as the cell uses it: its computed value a, or the held value."""
        return np.where(self.held[gate][t], self.value[gate][t], a)

    def free(self, gate: str, t: int) -> np.ndarray:
        """1 where the gate is computed (gradient flows), 0 where it is held."""
        return 1.0 - self.held[gate][t]

"""Request schemas. Pydantic checks types and fixed ranges; `check_limits` then checks the
settings' limits (T, H, L, the work budget, the answer size) before any work is done."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.engine.params import LSTM_VARIANTS
from app.engine.tasks import TASKS

Strict = ConfigDict(extra="forbid", strict=True)  # no silent coercion (false -> 0.0)


class InitIn(BaseModel):
    model_config = Strict
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seed of numpy.random.default_rng")
    forget_bias: float = Field(0.0, ge=-50, le=50, description="added to the forget-gate bias")
    recurrent_init: Literal["uniform", "orthogonal"] = "uniform"
    recurrent_gain: float = Field(1.0, ge=0, le=10, description="multiplies W_hh")


class ModelIn(BaseModel):
    model_config = Strict
    cell: Literal["lstm", "gru", "rnn"] = "lstm"
    input_size: int | None = Field(None, ge=1, description="D; may follow from the input")
    hidden_size: int = Field(8, ge=1, description="H")
    num_layers: int = Field(1, ge=1, description="L")
    variant: Literal[LSTM_VARIANTS] = "standard"  # type: ignore[valid-type]
    output_size: int | None = Field(None, ge=1, description="size of the linear readout")
    init: InitIn = Field(default_factory=InitIn)
    weights: dict[str, Any] | None = Field(None, description="PyTorch names -> nested lists")


class TaskIn(BaseModel):
    model_config = Strict
    name: Literal[tuple(sorted(TASKS))]  # type: ignore[valid-type]
    length: int = Field(20, ge=1)
    seed: int = Field(0, ge=0, le=2**32 - 1)


class InputIn(BaseModel):
    model_config = Strict
    sequence: list[list[float]] | None = None
    text: str | None = None
    alphabet: str | None = None
    task: TaskIn | None = None


class LossIn(BaseModel):
    model_config = Strict
    kind: Literal["sum_last", "mse", "cross_entropy"] = "sum_last"
    at: Literal["last", "all"] = "last"
    target: Any = None


class ClampIn(BaseModel):
    model_config = Strict
    t: int | list[int]
    gate: Literal["i", "f", "g", "o", "r", "z", "n"]
    value: float = Field(ge=-1, le=1)
    units: list[int] | None = None
    layer: int | None = None


class TraceRequest(BaseModel):
    model_config = Strict
    model: ModelIn = Field(default_factory=ModelIn)
    input: InputIn
    loss: LossIn = Field(default_factory=LossIn)
    dtype: Literal["float64", "float32"] = "float64"
    clamp: list[ClampIn] | None = None
    live: bool = Field(False, description="WebSocket only: keep the socket open for input")

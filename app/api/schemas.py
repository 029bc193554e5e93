"""Request schemas. Pydantic checks types, fixed ranges and the lengths of lists and strings
(from the settings, so a 10^6-row sequence or a clamp naming 10^6 steps stops at the first item
past the limit); `runs.check_shape_limits` then checks the limits that follow from several
fields (T, H, L, the work budget, the answer size) before any work is done. NaN and infinity
are refused in every float field (allow_inf_nan=False): they never enter, so never echo back."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.engine.params import LSTM_VARIANTS
from app.engine.tasks import TASKS
from app.settings import get_settings

# no silent coercion (false -> 0.0), no NaN or infinity
Strict = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
_S = get_settings()  # list and string lengths, read once at import (environment variables)
Row = Annotated[list[float], Field(max_length=_S.max_input)]
Step = Annotated[int, Field(ge=0, lt=_S.max_steps)]  # bounded: no int64 overflow downstream
Unit = Annotated[int, Field(ge=0, lt=_S.max_hidden)]


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
    sequence: list[Row] | None = Field(None, max_length=_S.max_steps, description="T rows of D")
    text: str | None = Field(None, max_length=_S.max_text)
    alphabet: str | None = Field(None, max_length=_S.max_input)
    task: TaskIn | None = None


class LossIn(BaseModel):
    model_config = Strict
    kind: Literal["sum_last", "mse", "cross_entropy"] = "sum_last"
    at: Literal["last", "all"] = "last"
    target: Any = None


class ClampIn(BaseModel):
    model_config = Strict
    t: Step | Annotated[list[Step], Field(max_length=_S.max_steps)]
    gate: Literal["i", "f", "g", "o", "r", "z", "n"]
    value: float = Field(ge=-1, le=1)
    units: list[Unit] | None = Field(None, max_length=_S.max_hidden)
    layer: int | None = Field(None, ge=0, lt=_S.max_layers)

    @field_validator("t", "units")
    @classmethod
    def _once(cls, v: Any) -> Any:  # repeats would only multiply the work of building masks
        if isinstance(v, list) and len(set(v)) != len(v):
            raise ValueError("each step or unit may appear once")
        return v


class TraceRequest(BaseModel):
    model_config = Strict
    model: ModelIn = Field(default_factory=ModelIn)
    input: InputIn
    loss: LossIn = Field(default_factory=LossIn)
    dtype: Literal["float64", "float32"] = "float64"
    clamp: list[ClampIn] | None = Field(None, max_length=_S.max_clamps)
    live: bool = Field(False, description="WebSocket only: keep the socket open for input")
    frames: Literal["step", "batch", "compact"] = Field(
        "step",
        description="WebSocket only: one frame per step, several steps per frame, or the step "
        "page's binary frames",
    )

"""Request schemas. Pydantic checks types, fixed ranges and the lengths of lists and strings
(from the settings, so a 10^6-row sequence or a clamp naming 10^6 steps stops at the first item
past the limit); `runs.check_shape_limits` then checks the limits that follow from several
fields (T, H, L, the work budget, the answer size) before any work is done. NaN and infinity
are refused in every float field (allow_inf_nan=False): they never enter, so never echo back."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..engine.formats.vocab import MAX_TOKEN_CHARS
from ..engine.params import LSTM_VARIANTS
from ..engine.training.tasks import TASKS
from ..settings import get_settings

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


class EmbeddingIn(BaseModel):
    model_config = Strict
    num_embeddings: int = Field(ge=1, le=_S.max_vocab, description="V, the vocabulary size")
    embedding_dim: int = Field(ge=1, le=_S.max_input, description="D, the input size")


Width = Annotated[int, Field(ge=1)]


class ModelIn(BaseModel):
    """The model object (DESIGN.md; app/engine/params.py has the parameter names and shapes).

    hidden_size: H, or one width per layer (a list of num_layers widths; num_layers may then
    be left out). bidirectional: every layer also runs backwards (parameters "*_reverse").
    alphabet / vocab: the symbols a text model reads (GET /api/gallery/{slug} gives them); an
    input text without its own alphabet or vocab is read with them.
    proj_size: LSTM projections, 0 < P < every width (0: none). nonlinearity: "relu" for an
    RNN only. embedding: an nn.Embedding in front; the input is then {"tokens": [ids]}."""

    model_config = Strict
    cell: Literal["lstm", "gru", "rnn"] = "lstm"
    input_size: int | None = Field(None, ge=1, description="D; may follow from the input")
    hidden_size: Width | Annotated[list[Width], Field(min_length=1, max_length=_S.max_layers)] = (
        Field(8, description="H, or one H_k per layer")
    )
    num_layers: int = Field(1, ge=1, description="L")
    variant: Literal[LSTM_VARIANTS] = "standard"  # type: ignore[valid-type]
    output_size: int | None = Field(None, ge=1, description="size of the linear readout")
    init: InitIn = Field(default_factory=InitIn)
    weights: dict[str, Any] | None = Field(None, description="PyTorch names -> nested lists")
    bidirectional: bool = Field(False, description="PyTorch bidirectional=True")
    proj_size: int = Field(0, ge=0, description="P, LSTM projections (0: none)")
    nonlinearity: Literal["tanh", "relu"] = Field("tanh", description="RNN only: tanh or relu")
    embedding: EmbeddingIn | None = Field(None, description="an embedding in front")
    alphabet: str | None = Field(
        None, max_length=_S.max_input, description="a text model's characters (gallery)"
    )
    vocab: list[Annotated[str, Field(min_length=1, max_length=MAX_TOKEN_CHARS)]] | None = Field(
        None, max_length=_S.max_vocab, description="a text model's tokens in id order (gallery)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> ModelIn:
        if isinstance(self.hidden_size, list):
            if "num_layers" not in self.model_fields_set:
                self.num_layers = len(self.hidden_size)
            elif len(self.hidden_size) != self.num_layers:
                raise ValueError(
                    f"hidden_size lists {len(self.hidden_size)} widths but num_layers is "
                    f"{self.num_layers}: give one width per layer"
                )
        if self.nonlinearity != "tanh" and self.cell != "rnn":
            raise ValueError(f"nonlinearity {self.nonlinearity!r} applies to cell 'rnn' only")
        if self.proj_size:
            if self.cell != "lstm" or self.variant != "standard":
                raise ValueError("proj_size applies to the standard LSTM only")
            if self.proj_size >= min(self.widths):
                raise ValueError(
                    f"proj_size ({self.proj_size}) must be below every hidden size "
                    f"(smallest: {min(self.widths)})"
                )
        return self

    @property
    def widths(self) -> list[int]:
        """H_k for every layer."""
        H = self.hidden_size
        return list(H) if isinstance(H, list) else [H] * self.num_layers


class TaskIn(BaseModel):
    model_config = Strict
    name: Literal[tuple(sorted(TASKS))]  # type: ignore[valid-type]
    length: int = Field(20, ge=1)
    seed: int = Field(0, ge=0, le=2**32 - 1)


class InputIn(BaseModel):
    model_config = Strict
    sequence: list[Row] | None = Field(None, max_length=_S.max_steps, description="T rows of D")
    tokens: list[Annotated[int, Field(ge=0)]] | None = Field(
        None, max_length=_S.max_steps, description="token ids, for a model with an embedding"
    )
    text: str | None = Field(None, max_length=_S.max_text)
    alphabet: str | None = Field(None, max_length=_S.max_input)
    task: TaskIn | None = None
    vocab: list[Annotated[str, Field(min_length=1, max_length=MAX_TOKEN_CHARS)]] | None = Field(
        None, max_length=_S.max_vocab, description="tokens in id order: text is tokenised by it"
    )
    level: Literal["char", "word"] = Field("char", description="vocab tokens: chars or words")


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


class ViewIn(BaseModel):
    """What a client of the compact frames shows: its exact columns and counts follow it."""

    model_config = Strict
    layer: int = Field(0, ge=0, description="the trace entry shown")
    unit: int | Literal["mean"] = Field(0, description='a unit, or "mean": every unit')
    lo: float = Field(0.01, ge=0, le=1, description="gate reading: closed below")
    hi: float = Field(0.95, ge=0, le=1, description="gate reading: open above")
    also: list[int] = Field([], max_length=_S.max_hidden, description="more units read")


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
    view: ViewIn | None = Field(
        None, description="WebSocket, compact frames only: what the client shows first"
    )

"""POST /api/weights: open a .safetensors or .npz file (PyTorch or Keras names), a PyTorch .pt /
.pth state_dict (a restricted unpickler: no global outside an allow-list), or Keras 3's own
.keras and .weights.h5 (read as data); never run anything in a file.
POST /api/vocab: a vocabulary file (JSON list or object, or one token a line) -> its tokens.
POST /api/weights/export: the reverse, a model object with weights inline -> a weight file."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from ...engine.formats.model_object import NonlinearityNeededError
from ...engine.formats.vocab import VocabError, parse_vocab
from ...engine.formats.weights import WeightsError, load_weights, save_weights
from ...engine.params import model_params
from ...settings import get_settings
from .. import serialize
from ..errors import RESPONSES, RequestError
from ..schemas import ModelIn, Strict

router = APIRouter(tags=["weights"])
MAX_VOCAB_BYTES = 4 * 2**20  # 100,000 tokens of 40 bytes


@router.post(
    "/api/weights", summary="Upload weights; answers the model object", responses=RESPONSES
)
async def post_weights(
    file: Annotated[UploadFile, File()],
    nonlinearity: Annotated[
        Literal["tanh", "relu", "ask"] | None,
        Form(
            description="a plain RNN's, which a state_dict or a bare .weights.h5 cannot say. "
            "Not given: such a file is a 400 at body.nonlinearity. 'ask' (the page's way): it is "
            'a 200 {"needs": "nonlinearity", "choices": [...], "detail": ...} instead, since '
            "asking is part of opening such a file, not a failure"
        ),
    ] = None,
    readout: Annotated[
        Literal["every_step", "final", "ask"] | None,
        Form(
            description="what the head reads: every step's top h, or h_n once ('final', a "
            "classifier's [h_fwd at T-1 | h_rev at 0]). A bidirectional state_dict with a head "
            "cannot say: not given, that is a 400 at body.readout; 'ask' answers "
            '{"needs": "readout", "choices": [...], "detail": ...} as for nonlinearity'
        ),
    ] = None,
) -> Response:
    limit = get_settings().max_upload_bytes  # also caps a .keras' unpacked size
    data = await _read_capped(file, limit)
    name, stated = file.filename or "", None if nonlinearity == "ask" else nonlinearity
    try:
        model = await run_in_threadpool(load_weights, data, name, limit, nonlinearity=stated)
    except NonlinearityNeededError as exc:
        if nonlinearity == "ask":
            model = {"needs": "nonlinearity", "choices": ["tanh", "relu"], "detail": str(exc)}
        else:
            raise RequestError(("body", "nonlinearity"), str(exc), 400) from None
    except WeightsError as exc:
        raise RequestError(("body", "file"), str(exc), 400) from None
    if "needs" not in model:
        model = _with_readout(model, name, readout)
    return Response(serialize.dumps(model), media_type="application/json")


def _with_readout(model: dict, filename: str, readout: str | None) -> dict:
    """The model with the readout stated, or the question when the file cannot say: a Keras
    file's config (or its layout) says it; a state_dict's bidirectional model with a head does
    not (an nn.Linear on output[t] and one on h_n have the same shapes)."""
    if model.get("output_size") is None:
        if readout == "final":
            raise RequestError(("body", "readout"), "the model has no head to read h_n", 400)
        return model
    if readout in ("every_step", "final"):
        return {**model, "readout": readout}
    if model.get("readout"):  # the file's metadata says it (this app's own export)
        return model
    keras = filename.lower().endswith((".keras", ".h5", ".hdf5"))
    if not model.get("bidirectional") or keras:
        return model
    detail = (
        "this bidirectional model has a head, and a state_dict cannot say what it reads: "
        "h_n once, [forward at the last step | reverse at the first] (a classifier: 'final'), "
        "or [forward | reverse] at every step (a tagger: 'every_step')"
    )
    if readout == "ask":
        return {"needs": "readout", "choices": ["final", "every_step"], "detail": detail}
    raise RequestError(("body", "readout"), detail, 400)


@router.post(
    "/api/vocab", summary="Upload a vocabulary; answers its tokens in id order", responses=RESPONSES
)
async def post_vocab(file: Annotated[UploadFile, File()]) -> dict[str, list[str]]:
    s = get_settings()
    data = await _read_capped(file, MAX_VOCAB_BYTES)
    try:
        tokens = await run_in_threadpool(
            parse_vocab, data, file.filename or "", s.max_vocab, MAX_VOCAB_BYTES
        )
    except VocabError as exc:
        raise RequestError(("body", "file"), str(exc), 400) from None
    return {"vocab": tokens}


async def _read_capped(file: UploadFile, limit: int) -> bytes:
    if file.size is not None and file.size > limit:
        raise RequestError(("body", "file"), f"file is larger than {limit} bytes", 413)
    data = await file.read()  # not read(limit + 1): on a spooled file that allocates the limit
    if len(data) > limit:
        raise RequestError(("body", "file"), f"file is larger than {limit} bytes", 413)
    return data


class ExportRequest(BaseModel):
    model_config = Strict
    model: ModelIn
    format: Literal["safetensors", "npz"] = "safetensors"


@router.post(
    "/api/weights/export",
    summary="A model with weights inline -> a .safetensors or .npz file (PyTorch names)",
    responses=RESPONSES,
)
async def export_weights(req: ExportRequest) -> Response:
    if req.model.weights is None:
        raise RequestError(("body", "model", "weights"), "the model has no weights to export")

    def build() -> bytes:
        model = req.model.model_dump()
        if model["input_size"] is None:  # follows from weight_ih_l0's width
            model["input_size"] = len(model["weights"]["weight_ih_l0"][0])
        _, params = model_params(model)  # names, shapes and finiteness checked
        meta = {"nonlinearity": model["nonlinearity"]} if model["cell"] == "rnn" else {}
        if model.get("output_size") is not None and model.get("readout"):
            meta["readout"] = model["readout"]  # a bidirectional head's readout: no question
        return save_weights(params, req.format, meta)  # so the file opens without asking

    try:
        data = await run_in_threadpool(build)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise RequestError(("body", "model"), f"cannot export this model: {exc}") from None
    H = req.model.hidden_size  # one width per layer: lstm-H64-32
    widths = "-".join(map(str, H)) if isinstance(H, list) else H
    name = f"{req.model.cell}-H{widths}.{req.format}"
    headers = {"content-disposition": f'attachment; filename="{name}"'}
    return Response(data, media_type="application/octet-stream", headers=headers)

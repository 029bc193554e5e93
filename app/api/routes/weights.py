"""POST /api/weights: open a .safetensors or .npz file (PyTorch or Keras names); never pickle.
POST /api/weights/export: the reverse, a model object with weights inline -> a weight file."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from app.engine.params import model_params
from app.engine.weights import WeightsError, load_weights, save_weights
from app.settings import get_settings

from .. import serialize
from ..errors import RESPONSES, RequestError
from ..schemas import ModelIn, Strict

router = APIRouter(tags=["weights"])


@router.post(
    "/api/weights", summary="Upload weights; answers the model object", responses=RESPONSES
)
async def post_weights(file: Annotated[UploadFile, File()]) -> Response:
    limit = get_settings().max_upload_bytes
    if file.size is not None and file.size > limit:
        raise RequestError(("body", "file"), f"file is larger than {limit} bytes", 413)
    data = await file.read()  # not read(limit + 1): on a spooled file that allocates the limit
    if len(data) > limit:
        raise RequestError(("body", "file"), f"file is larger than {limit} bytes", 413)
    name = file.filename or ""
    try:
        model = await run_in_threadpool(load_weights, data, name, limit)
    except WeightsError as exc:
        raise RequestError(("body", "file"), str(exc), 400) from None
    return Response(serialize.dumps(model), media_type="application/json")


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
        return save_weights(params, req.format)

    try:
        data = await run_in_threadpool(build)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise RequestError(("body", "model"), f"cannot export this model: {exc}") from None
    H = req.model.hidden_size  # one width per layer: lstm-H64-32
    widths = "-".join(map(str, H)) if isinstance(H, list) else H
    name = f"{req.model.cell}-H{widths}.{req.format}"
    headers = {"content-disposition": f'attachment; filename="{name}"'}
    return Response(data, media_type="application/octet-stream", headers=headers)

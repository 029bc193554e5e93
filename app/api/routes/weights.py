"""POST /api/weights: open a .safetensors or .npz file (PyTorch or Keras names); never pickle."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from app.engine.weights import WeightsError, load_weights
from app.settings import get_settings

from .. import serialize
from ..errors import RESPONSES, RequestError

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

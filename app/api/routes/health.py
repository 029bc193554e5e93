"""GET /healthz: liveness; with ?detail=true also the load (runs and WebSocket streams)."""

from fastapi import APIRouter, Request

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness (detail=true: active runs and open streams)")
async def healthz(request: Request, detail: bool = False) -> dict[str, str | int]:
    if not detail:
        return {"status": "ok"}
    state = request.app.state
    return {"status": "ok", "active_runs": state.slots.active, "streams": state.streams["open"]}

"""GET /healthz: liveness; with ?detail=true also the load (runs and WebSocket streams) and
the answer cache: hits, misses, waits (requests that joined a computation under way),
entries, bytes kept, the budget, and the computations under way."""

from fastapi import APIRouter, Request

router = APIRouter(tags=["health"])


@router.get(
    "/healthz", summary="Liveness (detail=true: active runs, open streams, the answer cache)"
)
async def healthz(request: Request, detail: bool = False) -> dict[str, object]:
    if not detail:
        return {"status": "ok"}
    state = request.app.state
    return {"status": "ok", "active_runs": state.slots.active, "streams": state.streams["open"],
            "cache": state.cache.stats()}  # fmt: skip

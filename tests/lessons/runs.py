"""The API's numbers for a lesson stop's view: POST /api/trace, POST /api/compare or a training
over WS /ws/train, with the body the page itself would send (app.lessons.evaluate)."""

from __future__ import annotations

from typing import Any

from app.lessons import evaluate, views


def stop_context(client, stop: dict[str, Any]) -> dict[str, Any]:
    state = views.parse_view(stop["page"], stop["view"])
    if stop["page"] == "step":
        r = client.post("/api/trace", json=evaluate.step_body(state))
        assert r.status_code == 200, r.text
        return evaluate.step_context(state, r.json())
    if stop["page"] == "compare":
        r = client.post("/api/compare", json=evaluate.compare_body(state))
        assert r.status_code == 200, r.text
        return evaluate.compare_context(state, r.json())
    return train_context(client, state)


def train_run(client, state: dict[str, Any], cell: str) -> tuple[dict[str, Any], float]:
    """The last progress and eval of one training, as the page shows them, and the baseline."""
    with client.websocket_connect("/ws/train") as ws:
        ws.send_json(evaluate.train_body(state, cell))
        run: dict[str, Any] = {}
        baseline = None
        metric_key = None
        while True:
            f = ws.receive_json()
            if f["type"] == "start":
                baseline, metric_key = f["task"]["baseline_metric"], f["task"]["metric"]
            elif f["type"] == "progress":
                run["step"] = f["step"]
                if f["loss"] is not None:
                    run["loss"] = f["loss"]
            elif f["type"] == "eval":
                run["metric"] = f["metric"][metric_key]
            elif f["type"] == "done":
                run["metric"] = f["metric"][metric_key]
                return run, baseline
            elif f["type"] == "error":
                raise AssertionError(f["detail"])


def train_context(client, state: dict[str, Any]) -> dict[str, Any]:
    runs, baseline = {}, None
    for cell in evaluate.train_cells(state):
        runs[cell], baseline = train_run(client, state, cell)
    return evaluate.train_context(state, runs, baseline)

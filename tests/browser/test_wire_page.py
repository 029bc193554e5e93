"""The step page on the wire: a first visit under 2 MiB, the trace in binary blocks, and every
number the page holds or exports equal to the API's, exactly."""

import json
from pathlib import Path

import pytest
from pagetools import post_json

from tests.browser.test_step_page import fixed4

pytestmark = pytest.mark.browser
QUERY = "kind=random&len=300&hidden=16&t=120&unit=5"


def post_trace(base_url, body):
    return post_json(base_url, "/api/trace", body, timeout=60)


def open_counting(page, base_url, query):
    """Open the page; count the bytes of every HTTP answer (as sent) and the WS frame kinds."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    counts = {"http": 0, "binary": 0, "text": 0}

    def finished(event):  # encodedDataLength: the bytes as sent, headers included
        counts["http"] += event["encodedDataLength"]

    cdp.on("Network.loadingFinished", finished)

    def on_socket(ws):
        def frame(payload):
            key = "text" if isinstance(payload, str) else "binary"
            counts[key] += 1

        ws.on("framereceived", frame)

    page.on("websocket", on_socket)
    page.goto(f"{base_url}/?{query}")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_function("() => window.lstmExplainer.trace.loss !== null")
    return counts


def test_a_first_visit_costs_under_2_mib_and_the_trace_comes_in_binary_blocks(page, base_url):
    counts = open_counting(page, base_url, QUERY)
    assert counts["http"] < 2 * 2**20, counts  # plotly.js alone is 4.8 MB uncompressed
    assert counts["binary"] >= 2 and counts["text"] == 2, counts  # start, blocks..., end


def test_the_page_holds_the_api_numbers_exactly_and_exports_them(page, base_url):
    open_counting(page, base_url, QUERY)
    held = page.evaluate(
        """() => {
          const tr = window.lstmExplainer.trace;
          const {frames, view, ...body} = tr.request;
          return {body, loss: tr.loss, inputs: tr.inputs, layers: tr.layers.map((l) => ({
            gates: l.gates, c: l.c, h: l.h, grad_h: l.grad_h, grad_c: l.grad_c,
            heat: {gates: l.heat.gates, c: l.heat.c, h: l.heat.h}, grad_h_norm: l.grad_h_norm,
            grad_c_log10_norm: l.grad_c_log10_norm, grad_h_log10_norm: l.grad_h_log10_norm}))};
        }"""
    )
    api = post_trace(base_url, held["body"])
    assert held["loss"] == api["loss"] and held["inputs"] == api["inputs"]
    got, want = held["layers"][0], api["layers"][0]
    exact = {**{f"gates.{g}": (got["gates"][g], want["gates"][g]) for g in "ifgo"},
             **{k: (got[k], want[k]) for k in ("c", "h", "grad_h", "grad_c")}}  # fmt: skip
    for name, (rows, rows_api) in exact.items():
        # unit 5, the one shown, bit for bit (== on floats); no other unit has a number
        assert [row[5] for row in rows] == [row[5] for row in rows_api], name
        assert all(v is None for row in rows for u, v in enumerate(row) if u != 5), name
    # the heatmaps' values print, to their 4 decimals, the digits the exact ones print
    heat = {**{g: (got["heat"]["gates"][g], want["gates"][g]) for g in "ifgo"},
            "c": (got["heat"]["c"], want["c"]), "h": (got["heat"]["h"], want["h"])}  # fmt: skip
    for name, (rows, rows_api) in heat.items():
        assert [[round(v * 1e4) for v in row] for row in rows] == [
            [fixed4(v) for v in row] for row in rows_api], name  # fmt: skip
    for key in ("grad_h_norm", "grad_c_log10_norm", "grad_h_log10_norm"):
        assert got[key] == want[key], key
    # the diagram shows unit 5 at step 120 from those numbers
    shown = page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('#diagram [data-gate]')]"
        ".map((g) => [g.dataset.gate, Number(g.dataset.value)]))"
    )
    assert shown == {g: want["gates"][g][120][5] for g in "ifgo"}
    # an export holds every field of the API's answer, the gradient rows too
    with page.expect_download() as download:
        page.click("#export-json")
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["layers"][0]["grad_c"] == want["grad_c"]
    assert exported["layers"] == api["layers"] and exported["loss"] == api["loss"]

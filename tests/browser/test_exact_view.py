"""The step page's exact numbers come per view: after the trace has streamed, choosing another
unit (or the mean) shows that unit's numbers exactly as POST /api/trace has them, float64 and
float32 alike; the heatmaps alone carry every unit, rounded to the 4 decimals they print."""

import pytest

pytestmark = pytest.mark.browser
pytest.importorskip("playwright.sync_api")

from pagetools import artifact  # noqa: E402

from tests.browser.test_step_page import (  # noqa: E402
    assert_diagram_matches,
    open_page,
    page_body,
    post_trace,
)


def shown_texts(page):
    """The numbers the equations and the Code panel print, and the gate reading's lines."""
    return page.evaluate(
        """() => ({
          eq: [...document.querySelectorAll('#equations .eq-val')].map((e) => e.textContent),
          code: Object.fromEntries(
            [...document.querySelectorAll('#code ol:not([hidden]) li[data-quantity]')]
              .map((li) => [li.dataset.quantity, li.children[1].textContent])),
          reading: [...document.querySelectorAll('#reading li')].map((li) => li.textContent),
        })"""
    )


def formatted(page, values):
    """The page's own number format (encodings.js fmt) of exact values."""
    return page.evaluate(
        "async (vs) => { const { fmt } = await import('/static/js/encodings.js');"
        " return vs.map((v) => fmt(v, 4)); }",
        values,
    )


def test_another_unit_shows_the_api_numbers_exactly_once_its_columns_have_come(page, base_url):
    open_page(page, base_url, "hidden=6&t=5&unit=0")
    want = post_trace(base_url, page_body(hidden=6))["layers"][0]
    page.select_option("#unit", "4")
    page.wait_for_function("() => document.getElementById('diagram').dataset.unit === '4'")
    view = assert_diagram_matches(page, {"layers": [want]})
    assert view["t"] == 5
    t, u = 5, 4
    at = {g: want["gates"][g][t][u] for g in "ifgo"} | {k: want[k][t][u] for k in ("c", "h")}
    texts = shown_texts(page)
    # the equations print i, f, g, o, c, h of unit 4 at step 5, from the exact numbers
    assert texts["eq"] == [f"= {s}" for s in formatted(page, [at[k] for k in "ifgoch"])]
    code = texts["code"]
    assert [code[k] for k in "ifgo"] == formatted(page, [at[k] for k in "ifgo"])
    # the backward pass: dL/dh and dL/dc of unit 4, exact too
    page.click("#code-backward")
    code = shown_texts(page)["code"]
    grads = [want["grad_h"][t][u], want["grad_c"][t][u]]
    assert [code["grad_h"], code["grad_c"]] == formatted(page, grads)
    # the gate reading counts every unit on its exact value (closed < 0.01, open > 0.95)
    lines = texts["reading"]
    for g, line in zip("ifo", lines, strict=True):
        row = want["gates"][g][t]
        closed = sum(v < 0.01 for v in row)
        opened = sum(v > 0.95 for v in row)
        assert line.endswith(f"closed {closed} · partly open {6 - closed - opened} · open {opened}")
    page.screenshot(path=artifact("step_exact_unit4.png"), full_page=True)
    # the mean: every unit of the layer comes, and the diagram shows their mean
    page.select_option("#unit", "mean")
    page.wait_for_function("() => document.getElementById('diagram').dataset.unit === 'mean'")
    assert_diagram_matches(page, {"layers": [want]})


def test_a_float32_stream_brings_another_units_exact_float32_columns(page, base_url):
    np = pytest.importorskip("numpy")
    open_page(page, base_url, "hidden=5")
    body = {**page_body(hidden=5, text="float thirty-two"), "dtype": "float32"}
    got = page.evaluate(
        """async (body) => {
          const api = await import('/static/js/api.js');
          return await new Promise((resolve, reject) => {
            let trace = null;
            const socket = api.openTraceSocket({ ...body, frames: 'compact', view: { unit: 1 } }, {
              start: (f) => { trace = api.traceFromStart(f); },
              step: (f) => api.addStep(trace, f),
              grad: (f) => api.addGrad(trace, f),
              // once the stream has ended, show unit 3: its columns come on the same socket
              end: () => socket.send({ type: 'view', layer: 0, unit: 3, lo: 0.01, hi: 0.95 }),
              columns: (block) => {
                api.addColumns(trace, block);
                if (block.unit === 3 && api.hasExact(trace, 0, '3')) {
                  socket.close();
                  const L = trace.layers[0];
                  const col = (rows) => rows.map((row) => row[3]);
                  resolve({ f: col(L.gates.f), c: col(L.c), h: col(L.h), grad_h: col(L.grad_h),
                            other: L.h.map((row) => row[2]) });
                }
              },
              error: (f) => reject(new Error(JSON.stringify(f.detail))),
            });
          });
        }""",
        body,
    )
    want = post_trace(base_url, body)["layers"][0]
    for key, rows in [("f", want["gates"]["f"]), ("c", want["c"]), ("h", want["h"]),
                      ("grad_h", want["grad_h"])]:  # fmt: skip
        # the page holds float32 values as a Float32Array reads them: exactly the float32 ones
        expect = np.array(rows, dtype=np.float32)[:, 3].astype(np.float64)
        assert np.array_equal(np.array(got[key]), expect), key
        assert not np.array_equal(expect, np.array(rows, dtype=np.float64)[:, 3]), key
    assert all(v is None for v in got["other"])  # unit 2 was never shown: no number for it


def test_a_stream_gone_after_the_end_gives_way_to_one_post_of_the_whole_answer(page, base_url):
    def cut_after_end(ws):  # the server side closes once the trace has ended (a restart, say)
        server = ws.connect_to_server()

        def to_page(message):
            ws.send(message)
            if isinstance(message, str) and '"type":"end"' in message:
                ws.close()

        server.on_message(to_page)

    page.route_web_socket("**/ws/trace", cut_after_end)
    open_page(page, base_url, "hidden=6&t=7&unit=1")
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.url.endswith("/api/trace") else None)
    want = post_trace(base_url, page_body(hidden=6))["layers"][0]
    page.select_option("#unit", "3")
    page.wait_for_function("() => document.getElementById('diagram').dataset.unit === '3'")
    assert_diagram_matches(page, {"layers": [want]})
    assert len(posts) == 1
    # the page now holds the whole exact answer: every unit, no rounded heatmap values
    held = page.evaluate("() => [lstmExplainer.trace.layers[0]].map((L) => [L.h, !L.heat])[0]")
    assert held == [want["h"], True]


def test_a_url_unit_beyond_the_model_settles_on_unit_0_without_an_error(page, base_url):
    open_page(page, base_url, "hidden=4&unit=6&layer=2")  # the request's view names unit 6
    want = post_trace(base_url, page_body(hidden=4))["layers"][0]
    page.wait_for_function("() => document.getElementById('diagram').dataset.unit === '0'")
    assert_diagram_matches(page, {"layers": [want]})
    assert page.inner_text("#error") == ""

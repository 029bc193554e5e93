"""The self-contained view: one run as HTML with no server and no network (issue #21).

    build_html(model, inputs, **options) -> str       one HTML file (lstm-explainer html, the
                                                      step page's "Save as HTML", View.save)
    build_view(model, inputs, **options) -> (Trace, data)

`model` and `inputs` are anything resolve.py takes (a model dict, a weight file, a torch module,
a Keras model; text, token ids or an array). Options: alphabet, vocab, level, nonlinearity (the
inputs and the model); loss, dtype, clamp (the run, as app.engine.trace); window, max_numbers,
title (the view: payload.py). The front end is the step page's own modules (static/js), joined
into one script by bundle.py.
"""

from __future__ import annotations

from typing import Any

from ..engine import Trace, trace
from .html import document, fragment
from .payload import MAX_NUMBERS, payload
from .resolve import Resolved, check_limits, resolve

__all__ = ["build_html", "build_view", "document", "fragment", "run", "MAX_NUMBERS"]

RESOLVE_OPTIONS = ("alphabet", "vocab", "level", "nonlinearity")
RUN_OPTIONS = ("loss", "dtype", "clamp", "initial_state", "start")
VIEW_OPTIONS = ("window", "max_numbers", "title")


def _split(options: dict[str, Any]) -> tuple[dict, dict, dict]:
    unknown = set(options) - set(RESOLVE_OPTIONS + RUN_OPTIONS + VIEW_OPTIONS)
    if unknown:
        known = ", ".join(RESOLVE_OPTIONS + RUN_OPTIONS + VIEW_OPTIONS)
        raise TypeError(f"unknown option(s) {sorted(unknown)}; the options are {known}")
    pick = lambda names: {k: options[k] for k in names if k in options}  # noqa: E731
    return pick(RESOLVE_OPTIONS), pick(RUN_OPTIONS), pick(VIEW_OPTIONS)


def run(model: Any, inputs: Any, **options: Any) -> tuple[Resolved, Trace]:
    """Resolve the model and inputs, check the limits, and trace (forward and BPTT)."""
    how, run_options, _ = _split(options)
    res = resolve(model, inputs, **how)
    check_limits(res)
    return res, trace(res.model, res.inputs, **run_options)


def build_view(model: Any, inputs: Any, **options: Any) -> tuple[Trace, dict[str, Any]]:
    _, _, view = _split(options)
    res, tr = run(model, inputs, **options)
    variant = res.model.get("variant") or "standard"
    return tr, payload(tr, variant=variant, labels=res.labels, **view)


def build_html(model: Any, inputs: Any, **options: Any) -> str:
    """One HTML file of the run: scripts, styles and data inline; plays, steps, scrubs and
    selects units from disk with no server and no network."""
    return document(build_view(model, inputs, **options)[1])

"""`lstm-explainer trace` (a run's every gate, state and gradient into .json or .npz) and
`lstm-explainer html` (the step-through view of a run as one self-contained HTML file)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .sources import CLIError, input_object, load_model, load_vocab, model_object, read_input

TRACE_HELP = "run a model over a sequence; write every gate, state and gradient (.json, .npz)"
HTML_HELP = "save the step-through view of a run as one HTML file (opens offline)"
MODEL_HELP = (
    "a weight file (.safetensors, .npz, .pt, .keras, .weights.h5), a model JSON file (the "
    "model object of POST /api/trace), or the name of a gallery model"
)
INPUT_HELP = (
    "text (one-hot over its characters, or through the model's alphabet or --vocab); a .npy "
    "or .json file of T rows of D numbers, or of T token ids for a model with an embedding; "
    "a .txt file of text; or token ids with --tokens"
)
TRACE_EPILOG = """\
examples:
  %(prog)s lm.safetensors "hello world" --vocab vocab.json -o run.json
  %(prog)s model.json sequence.npy --dtype float32 -o run.npz
  %(prog)s lm.pt "3,1,4,1,5" --tokens -o run.npz

The .json file is POST /api/trace's answer. The .npz holds the same arrays under flattened
names (layers/0/gates/f, layers/0/h, param_grads/weight_hh_l0, ...) in the run's dtype, and
meta.json for the rest:  npz = numpy.load("run.npz"); npz["layers/0/c"]
The run is checked as POST /api/trace checks it, limits included (LSTMX_MAX_STEPS and the
others of the README's "Limits": raise them in the environment for a bigger run)."""
HTML_EPILOG = """\
examples:
  %(prog)s lm.safetensors "hello world" --vocab vocab.json -o run.html
  %(prog)s model.json sequence.npy -o run.html

The file holds the page's scripts, styles and the run: it plays, steps and scrubs from disk,
with no server and no network."""


def add_run_arguments(parser: argparse.ArgumentParser, suffixes: str) -> None:
    parser.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    parser.add_argument("input", metavar="INPUT", help=INPUT_HELP)
    parser.add_argument(
        "-o", "--output", required=True, metavar="OUT", help=f"the file to write ({suffixes})"
    )
    parser.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        default="float64",
        help="precision of the run (default float64)",
    )
    parser.add_argument(
        "--tokens",
        action="store_true",
        help='INPUT is token ids, "3,1,4,1" (a model with an embedding)',
    )
    parser.add_argument(
        "--vocab",
        metavar="FILE",
        help="the tokens of a text model in id order: a JSON list or "
        "{token: id} object, or one token a line",
    )
    parser.add_argument(
        "--alphabet", metavar="CHARS", help="the characters a one-hot text model reads, in order"
    )
    parser.add_argument(
        "--level", choices=("char", "word"), help="--vocab tokens are characters (default) or words"
    )
    parser.add_argument(
        "--loss",
        metavar="KIND",
        help="what BPTT differentiates: sum_last (default), mse, "
        "cross_entropy, ... (POST /api/trace's loss.kind)",
    )
    parser.add_argument(
        "--target", metavar="JSON", help="the loss target, as JSON: 0.5, [1, 0], [[0.1], [0.2]]"
    )
    parser.add_argument(
        "--at", choices=("last", "all"), help="the loss reads the last step (default) or every step"
    )
    parser.add_argument(
        "--nonlinearity",
        choices=("tanh", "relu"),
        help="a plain RNN's, which a state_dict cannot say",
    )


def add_parsers(sub: Any) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    trace = sub.add_parser(
        "trace",
        help=TRACE_HELP,
        description=_sentence(TRACE_HELP),
        epilog=TRACE_EPILOG,
        formatter_class=fmt,
    )
    add_run_arguments(trace, ".json or .npz; - writes the JSON to standard output")
    trace.set_defaults(handler=run_trace)
    html = sub.add_parser(
        "html",
        help=HTML_HELP,
        description=_sentence(HTML_HELP),
        epilog=HTML_EPILOG,
        formatter_class=fmt,
    )
    add_run_arguments(html, ".html")
    html.add_argument("--title", help="the page's title (default: the model and the input)")
    html.add_argument(
        "--window",
        metavar="START:STOP",
        type=_window,
        help="show steps START to STOP-1 of a long run (the whole run is computed)",
    )
    html.set_defaults(handler=run_html)


def _window(text: str) -> tuple[int, int]:
    start, sep, stop = text.partition(":")
    if not (sep and start.strip().isdigit() and stop.strip().isdigit()):
        raise argparse.ArgumentTypeError(f"give START:STOP, step indices like 0:200, not {text!r}")
    return int(start), int(stop)


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:] + "."


def _loss(args: argparse.Namespace) -> dict[str, Any] | None:
    loss: dict[str, Any] = {}
    if args.loss is not None:
        loss["kind"] = args.loss
    if args.at is not None:
        loss["at"] = args.at
    if args.target is not None:
        try:
            loss["target"] = json.loads(args.target)
        except json.JSONDecodeError as exc:
            raise CLIError(f"--target {args.target[:40]!r} is not JSON: {exc}") from None
    return loss or None


def _resolve(args: argparse.Namespace) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """The model object, the inputs as read, and the request's `input` object."""
    model = load_model(args.model, args.nonlinearity)
    inputs = read_input(args.input, args.tokens)
    vocab = load_vocab(args.vocab) if args.vocab is not None else None
    return model, inputs, input_object(inputs, model, args.alphabet, vocab, args.level)


def run_trace(args: argparse.Namespace) -> None:
    out = args.output
    suffix = "-" if out == "-" else Path(out).suffix.lower()
    if suffix not in (".json", ".npz", "-"):
        raise CLIError(f"-o {out!r}: write a .json or an .npz file (or - for JSON on stdout)")
    model, _, inp = _resolve(args)
    body: dict[str, Any] = {"model": model_object(model), "input": inp, "dtype": args.dtype}
    loss = _loss(args)
    if loss is not None:
        body["loss"] = loss
    run, extra = _prepare(body)
    from ..api import npz, serialize

    parts = npz.trace_npz(run, extra) if suffix == ".npz" else serialize.trace_parts(run, extra)
    data = b"".join(parts)
    if out == "-":
        sys.stdout.buffer.write(data + b"\n")
        sys.stdout.flush()
        return
    Path(out).write_bytes(data)
    print(f"wrote {out} ({len(data):,} bytes)", file=sys.stderr)


def _prepare(body: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Validate the body as POST /api/trace does (same schema, same limits); prepare the run."""
    from pydantic import ValidationError

    from ..api.errors import RequestError
    from ..api.runs import build_run
    from ..api.schemas import TraceRequest
    from ..settings import get_settings

    try:
        req = TraceRequest.model_validate(body)
        return build_run(req, get_settings())
    except ValidationError as exc:
        lines = [f"  {_where(e['loc'])}: {e['msg']}" for e in exc.errors()[:10]]
        raise CLIError("the run is not valid:\n" + "\n".join(lines)) from None
    except RequestError as exc:
        where = _where(exc.loc)
        raise CLIError(exc.msg if where in exc.msg else f"{where}: {exc.msg}") from None


def _where(loc: Any) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "the run"


def run_html(args: argparse.Namespace) -> None:
    out = Path(args.output)
    if out.suffix.lower() not in (".html", ".htm"):
        raise CLIError(f"-o {args.output!r}: write an .html file")
    try:
        from ..standalone import build_html  # type: ignore[import-not-found, unused-ignore]
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__.rpartition('.')[0]}.standalone":
            raise
        raise CLIError(
            "this build has no standalone HTML view yet (the module standalone.py, issue #21 "
            "item 4): use `trace` for the numbers, or `serve` for the page"
        ) from None
    model, inputs, inp = _resolve(args)
    options: dict[str, Any] = {"dtype": args.dtype}
    for key in ("alphabet", "vocab", "level"):
        if key in inp:
            options[key] = inp[key]
    loss = _loss(args)
    if loss is not None:
        options["loss"] = loss
    options.update({k: getattr(args, k) for k in ("title", "window") if getattr(args, k)})
    try:
        html = build_html(model_object(model), inputs, **options)
    except ValueError as exc:  # the engine's and the view's checks name the field
        raise CLIError(str(exc)) from None
    out.write_text(html, encoding="utf-8")
    print(f"wrote {out} ({len(html.encode()):,} bytes)", file=sys.stderr)

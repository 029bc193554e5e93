"""The command `lstm-explainer` (also `python -m lstm_explainer`; `python -m app` in a clone):
`serve` the web app, `trace` a model over a sequence into a file, or save a run as `html`.
Building the parser imports nothing heavy: `--help` answers at once."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from . import serve, trace
from .sources import CLIError

DESCRIPTION = """\
LSTM Explainer: see inside an LSTM, GRU or tanh RNN one time step at a time, every gate,
state and gradient, in the browser, in a file, or in one offline HTML page."""
EPILOG = """\
examples:
  {prog} serve --open                      the app on http://127.0.0.1:8000, in a browser
  {prog} serve --host 0.0.0.0 --port 9000  serve a classroom's network
  {prog} trace lm.safetensors "hello" --vocab vocab.json -o run.npz
  {prog} html model.json sequence.npy -o run.html

serve [--host H] [--port P] [--workers N] [--open] [--redis-url URL] [--log-level L]
is also the default: `{prog} --port 9000` serves. `{prog} COMMAND --help` tells more."""


def make_parser(prog: str = "lstm-explainer") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EPILOG.format(prog=prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")
    fmt = argparse.RawDescriptionHelpFormatter
    srv = sub.add_parser("serve", help=serve.HELP, description=serve.DESCRIPTION,
                         epilog=serve.EPILOG, formatter_class=fmt)  # fmt: skip
    serve.add_arguments(srv)
    srv.set_defaults(handler=serve.run, check=lambda args: serve.check(args, srv))
    trace.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "lstm-explainer") -> None:
    args_in = list(sys.argv[1:] if argv is None else argv)
    first = args_in[0] if args_in else "-"
    if first.startswith("-") and first not in ("-h", "--help", "--version"):
        args_in.insert(0, "serve")  # the default command: `python -m app --port 9000` serves
    parser = make_parser(prog)
    args = parser.parse_args(args_in)
    if getattr(args, "check", None) is not None:
        args.check(args)
    try:
        args.handler(args)
    except CLIError as exc:
        print(f"{prog} {args.command}: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None

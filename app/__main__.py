"""`python -m app` (in a clone) and `python -m lstm_explainer` (installed): the command
`lstm-explainer` (app/cli/)."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    main(prog=f"python -m {__package__}")

"""The view as HTML: a fragment (a notebook output) or a whole document (a saved file).

Both hold everything inline: the styles, the data as a JSON literal, and the script (bundle.py)
that mounts the view into its own root, whose id is unique (a uuid), so several views in one
document never share an id, a global or a key binding. Nothing is loaded from anywhere: no
src, no href, no import, no url(); the document also says so in its Content-Security-Policy.
"""

from __future__ import annotations

import html
import json
import uuid
from typing import Any

from .bundle import bundle, entry_var, styles

# A saved file may run its inline script and styles and draw data: images, nothing else.
CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"


def _json_for_script(data: Any) -> str:
    """JSON that cannot end the script element it sits in (`</script>`, `<!--`)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def fragment(data: dict[str, Any], entry: str = "standalone.js") -> str:
    """The view for a notebook output: a root div, its styles and its script."""
    root = f"lstmx-{uuid.uuid4().hex[:12]}"
    label = html.escape(f"LSTM Explainer view: {data['title']}", quote=True)
    script = (
        "(() => {\n"
        f"{bundle(entry)}"
        "const here = document.currentScript && document.currentScript.parentNode;\n"
        f'const root = (here && here.querySelector("#{root}"))\n'
        f'  || document.getElementById("{root}");\n'
        f"{entry_var(entry)}.mount(root, {_json_for_script(data)});\n"
        "})();"
    )
    return (
        f'<div class="lstmx-view" id="{root}" tabindex="0" role="region" aria-label="{label}" '
        'data-lm-suppress-shortcuts="true">'
        '<p class="lx-noscript">The LSTM Explainer view needs JavaScript: run the cell (or trust '
        "the notebook) to see it.</p></div>\n"
        f"<style>\n{styles()}\n</style>\n<script>\n{script}\n</script>\n"
    )


def document(data: dict[str, Any], entry: str = "standalone.js") -> str:
    """The view as one HTML file that opens from disk with no server and no network."""
    title = html.escape(f"{data['title']} · LSTM Explainer")
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n"
        "<style>body { margin: 0; padding: 16px; background: #e4e8ec; }</style>\n"
        "</head>\n<body>\n<main>\n"
        f"{fragment(data, entry)}"
        "</main>\n</body>\n</html>\n"
    )

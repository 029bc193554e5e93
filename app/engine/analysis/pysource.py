"""Labels of Python source text, from Python's own tokenizer (not by counting quote marks).

string_literal_mask(text): True for the characters strictly inside the quotes of single-line
string literals (prefix and quotes excluded; f-strings whole, as Python 3.11 tokenizes them),
False for docstrings (a string that is a statement of its own), strings spanning lines, comments
and code. Counting quote marks is wrong on `'"'`, on apostrophes in comments and on docstrings;
the tokenizer is right on all three.
"""

from __future__ import annotations

import io
import tokenize

import numpy as np

_STATEMENT_START = {tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT,
                    tokenize.COMMENT, tokenize.ENCODING}  # fmt: skip


def _tokens(text: str) -> list[tokenize.TokenInfo]:
    """Every token Python's tokenizer yields for text; a fragment that ends inside a bracket or
    a string keeps the tokens before that point."""
    out: list[tokenize.TokenInfo] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            out.append(tok)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return out


def string_literal_mask(text: str) -> np.ndarray:
    """(T,) bool over text's characters: inside a single-line, non-docstring string literal."""
    line_start = [0]
    for line in text.splitlines(keepends=True):
        line_start.append(line_start[-1] + len(line))
    mask = np.zeros(len(text), dtype=bool)
    toks = [t for t in _tokens(text) if t.type != tokenize.ENDMARKER]
    for k, tok in enumerate(toks):
        if tok.type != tokenize.STRING or tok.start[0] != tok.end[0]:
            continue
        prev = toks[k - 1].type if k > 0 else tokenize.NEWLINE
        nxt = toks[k + 1].type if k + 1 < len(toks) else tokenize.NEWLINE
        if prev in _STATEMENT_START and nxt in (tokenize.NEWLINE, tokenize.COMMENT):
            continue  # a docstring (or a bare string statement)
        s = tok.string
        body = s.lstrip("rbufRBUF")
        q = 3 if body[:3] in ('"""', "'''") else 1
        a = line_start[tok.start[0] - 1] + tok.start[1] + (len(s) - len(body)) + q
        b = line_start[tok.end[0] - 1] + tok.end[1] - q
        mask[a:b] = True
    return mask

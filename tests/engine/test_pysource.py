"""String-literal labels from Python's tokenizer (app/engine/analysis/pysource.py)."""

import numpy as np

from app.engine.analysis.pysource import string_literal_mask
from app.engine.analysis.units import builtin_target


def marked(text: str) -> str:
    mask = string_literal_mask(text)
    assert mask.shape == (len(text),)
    return "".join(ch if m else "_" for ch, m in zip(text, mask, strict=True))


def test_a_quote_inside_other_quotes_is_inside():
    assert marked("x = '\"' + \"'\"\n") == "_____\"_____'__"


def test_apostrophes_in_comments_and_docstrings_are_not_strings():
    text = 'def f():\n    """It\'s a docstring."""\n    return 1  # don\'t\n'
    assert not string_literal_mask(text).any()


def test_prefixes_and_triple_quotes_are_excluded_interiors_kept():
    assert marked("y = rb'ab' + f\"{c}\" + '''d'''\n") == "_______ab______{c}_______d____"


def test_multiline_strings_are_not_marked():
    text = 'z = """one\ntwo"""\nw = "x"\n'
    assert marked(text) == "_" * 23 + "x" + "__"


def test_a_fragment_cut_inside_a_bracket_keeps_the_strings_before_the_cut():
    text = "call('abc', [1, 'de'"
    out = marked(text)
    assert out.startswith("______abc_")
    assert np.count_nonzero(string_literal_mask(text)) >= 3


def test_the_builtin_target_is_the_tokenizer_mask():
    text = "a = 'q'  # it's\n"
    assert np.array_equal(builtin_target("string_literals", text), string_literal_mask(text))
    assert builtin_target("string_literals", text).sum() == 1

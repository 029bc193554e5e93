"""app/api/encoding.py: content-coding choice and the compressing pipeline, on their own."""

import threading
import time
import zlib

import pytest
from starlette.datastructures import Headers

from app.api import encoding

MARK = object()


def choose(value):
    return encoding.choose(Headers({"accept-encoding": value}))


def test_the_coding_follows_accept_encoding_and_its_q_values():
    assert choose("gzip, deflate") == "gzip" and choose("br;q=1.0, gzip;q=0.8") == "gzip"
    assert choose("gzip, deflate, zstd") == "zstd" and choose("*") == "zstd"  # ties: zstd
    assert choose("zstd;q=0.5, gzip") == "gzip" and choose("*;q=0.5, zstd;q=0") == "gzip"
    assert choose("*;q=0.5, gzip;q=0, zstd;q=0") == "identity"
    assert choose("identity") == "identity" and choose("") == "identity"
    assert choose("gzip;q=x") == "identity"  # a malformed q is no consent


def test_a_zstd_answer_is_one_frame_readable_part_by_part():
    import zstandard

    parts = [b"a" * 1000, MARK, b"b" * 1000]
    out = list(encoding.encoded(iter(parts), "zstd"))
    at = out.index(MARK)
    d = zstandard.ZstdDecompressor().decompressobj()
    assert d.decompress(b"".join(out[:at])) == b"a" * 1000  # readable up to the marker
    assert d.decompress(b"".join(out[at + 1 :])) == b"b" * 1000 and d.eof


def test_the_parts_come_out_as_one_gzip_stream_markers_in_place():
    parts = [b"a" * 1000, MARK, b"b" * 1000, b"c" * 10]
    out = list(encoding.encoded(iter(parts), "gzip"))
    assert out.count(MARK) == 1
    at = out.index(MARK)
    d = zlib.decompressobj(31)
    assert d.decompress(b"".join(out[:at])) == b"a" * 1000  # readable up to the marker
    assert d.decompress(b"".join(out[at + 1 :])) == b"b" * 1000 + b"c" * 10 and d.eof
    assert list(encoding.encoded(iter(parts), "identity")) == parts


def test_the_maker_waits_at_a_marker_until_the_caller_passes_it():
    made = []

    def parts():
        made.append(1)
        yield b"x" * 100
        yield MARK
        made.append(2)
        yield b"y" * 100

    out = encoding.encoded(parts(), "gzip")
    first = next(out)
    assert next(out) is MARK
    time.sleep(0.2)
    assert made == [1]  # nothing past the marker is made while the caller holds it
    rest = list(out)
    assert made == [1, 2]
    assert zlib.decompress(first + b"".join(rest), 31) == b"x" * 100 + b"y" * 100


def test_closing_early_stops_the_maker_and_closes_its_parts():
    state = {"made": 0, "closed": False}

    def parts():
        try:
            while True:
                state["made"] += 1
                yield b"z" * 1000
        finally:
            state["closed"] = True

    out = encoding.encoded(parts(), "gzip")
    next(out)
    out.close()
    made = state["made"]
    time.sleep(0.1)
    assert state["closed"] and state["made"] == made <= 7  # a few parts ahead at most
    assert not [t for t in threading.enumerate() if t.name == "answer-maker"]


def test_a_failure_comes_after_the_parts_made_before_it():
    def parts():
        yield b"before" * 100
        raise RuntimeError("engine failure")

    out = []
    with pytest.raises(RuntimeError, match="engine failure"):
        for part in encoding.encoded(parts(), "gzip"):
            out.append(part)
    assert zlib.decompressobj(31).decompress(b"".join(out)) == b"before" * 100

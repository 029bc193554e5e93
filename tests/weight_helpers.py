"""Weight files made in memory for the importer's tests: random PyTorch-named parameters, and
.npz / .safetensors bytes (well-formed, or with a header written by hand)."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import safetensors.numpy

from app.engine.formats.weights import load_weights
from app.engine.params import ModelSpec, param_shapes


def random_params(spec: ModelSpec, seed: int = 0, dtype: type = np.float64) -> dict:
    rng = np.random.default_rng(seed)
    return {n: rng.standard_normal(s).astype(dtype) for n, s in param_shapes(spec).items()}


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def st_bytes(arrays: dict, metadata: dict | None = None) -> bytes:
    return safetensors.numpy.save(arrays, metadata=metadata)


def st_raw(header: dict, body: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


def load(arrays: dict, fmt: str = "npz", **kwargs) -> dict:
    data = npz_bytes(**arrays) if fmt == "npz" else st_bytes(arrays)
    return load_weights(data, f"model.{fmt}", **kwargs)


def weights(model: dict) -> dict:
    return {n: np.array(v) for n, v in model["weights"].items()}

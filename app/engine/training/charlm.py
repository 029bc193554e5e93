"""Character-level language modelling on a real text (Karpathy, Johnson & Fei-Fei 2015).

The model reads one character a step (one-hot over the text's alphabet) and predicts the next
one (cross-entropy at every step, through the readout). The metric is bits per character on a
held-out part of the text: the mean of -log2 p(next character). The baseline is the unigram
model: the training part's character frequencies, scored on the held-out part.

The default text is source code of Python's own standard library, read from the running
installation, so it is on every machine, offline: it has quotes, brackets and indentation for
cells to track. Text is normalised (CRLF to LF, tabs to four spaces, characters outside
printable ASCII to "?") so the alphabet stays small; the alphabet is the sorted set of what is
left.
"""

from __future__ import annotations

import string
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..cells import network
from ..params import ModelSpec

# Standard-library modules of plain, well-formatted Python present in every CPython 3.x.
DEFAULT_FILES = ("textwrap.py", "shlex.py", "string.py", "fnmatch.py", "heapq.py", "bisect.py",
                 "colorsys.py", "glob.py", "calendar.py", "pprint.py", "csv.py", "json/encoder.py",
                 "json/decoder.py")  # fmt: skip
PRINTABLE = set(string.printable) - set("\t\r\x0b\x0c")
HELD_OUT = 0.1  # the last tenth of the text is never trained on


@dataclass(frozen=True)
class Corpus:
    text: str  # normalised
    alphabet: str  # sorted distinct characters
    train: np.ndarray  # (N_train,) character ids
    held: np.ndarray  # (N_held,) character ids, the text's last part

    @property
    def size(self) -> int:
        return len(self.alphabet)

    def encode(self, text: str) -> np.ndarray:
        index = {ch: k for k, ch in enumerate(self.alphabet)}
        missing = sorted(set(text) - set(index))
        if missing:
            raise ValueError(f"characters not in the model's alphabet: {missing}")
        return np.array([index[ch] for ch in text], dtype=np.int64)


def normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\t", "    ")
    return "".join(ch if ch in PRINTABLE else "?" for ch in text)


def default_text() -> str:
    """The standard-library files of DEFAULT_FILES that exist here, joined (about 200 kB)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    parts = []
    for name in DEFAULT_FILES:
        path = root / name
        if path.is_file():
            parts.append(f"# ---- {name}\n" + path.read_text(encoding="utf-8", errors="replace"))
    if not parts:
        raise FileNotFoundError(f"no standard-library source found under {root}")
    return normalise("\n".join(parts))


def make_corpus(text: str, held_out: float = HELD_OUT, min_chars: int = 200) -> Corpus:
    text = normalise(text)
    if len(text) < min_chars:
        raise ValueError(f"the text has {len(text)} characters; at least {min_chars} are needed")
    alphabet = "".join(sorted(set(text)))
    index = {ch: k for k, ch in enumerate(alphabet)}
    ids = np.array([index[ch] for ch in text], dtype=np.int64)
    cut = int(len(ids) * (1 - held_out))
    return Corpus(text=text, alphabet=alphabet, train=ids[:cut], held=ids[cut:])


def windows(ids: np.ndarray, T: int, B: int, V: int, rng: np.random.Generator):
    """B random windows of T+1 characters: inputs X (T, B, V) one-hot, targets (T, B) ids."""
    if len(ids) < T + 1:
        raise ValueError(f"task.length {T} is longer than the text part ({len(ids) - 1} steps)")
    starts = rng.integers(0, len(ids) - T, size=B)
    seq = ids[starts[:, None] + np.arange(T + 1)]  # (B, T+1)
    X = np.eye(V)[seq[:, :T]].transpose(1, 0, 2)  # (T, B, V)
    return X, seq[:, 1:].T  # (T, B)


def unigram_bits(corpus: Corpus) -> float:
    """Bits per character of the training frequencies (add-one smoothed) on the held-out part."""
    counts = np.bincount(corpus.train, minlength=corpus.size) + 1.0
    p = counts / counts.sum()
    return float(-np.log2(p[corpus.held]).mean())


def bits_per_char(Y: np.ndarray, target: np.ndarray) -> float:
    """Mean -log2 softmax(Y)[target] over every position; Y (T, B, V), target (T, B)."""
    Z = Y - Y.max(axis=-1, keepdims=True)
    log_p = Z - np.log(np.exp(Z).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(log_p, target[..., None], axis=-1)
    return float(-picked.mean() / np.log(2))


def sample(
    spec: ModelSpec,
    params: dict[str, np.ndarray],
    alphabet: str,
    prime: str,
    n: int,
    temperature: float,
    rng: np.random.Generator,
) -> str:
    """n characters drawn one at a time after `prime`, each fed back as the next input.
    temperature < 1 sharpens the distribution (towards the most likely character)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be above 0, got {temperature}")
    V = len(alphabet)
    index = {ch: k for k, ch in enumerate(alphabet)}
    primed = [index[ch] for ch in prime if ch in index] or [index.get("\n", 0)]
    X = np.eye(V)[primed][:, None, :]  # (P, 1, V)
    net = network.forward(spec, params, X)
    out: list[str] = []
    for _ in range(n):
        logits = net.Y[-1, 0] / temperature  # (V,)
        p = np.exp(logits - logits.max())
        k = int(rng.choice(V, p=p / p.sum()))
        out.append(alphabet[k])
        state = {"h": np.stack([c.Hs[-1] for c in net.caches])}  # (L, 1, H)
        if spec.cell == "lstm":
            state["c"] = np.stack([c.C[-1] for c in net.caches])
        net = network.forward(spec, params, np.eye(V)[[k]][:, None, :], state)
    return "".join(out)

"""Train the gallery's character LM on Python source (Karpathy, Johnson & Fei-Fei 2015 style).

torch is NOT a dependency of the project; this runs in a separate virtualenv, as the fixtures do:

    python3 -m venv /tmp/torchvenv
    /tmp/torchvenv/bin/pip install torch==2.13.0 numpy==2.4.6 safetensors==0.8.0
    /tmp/torchvenv/bin/python gallery/train_charlm.py --minutes 80 --out /tmp/charlm

The model: one-hot characters over the printable-ASCII alphabet the app's charlm task uses
(96 characters after app/engine/training/charlm.py's normalisation) -> one LSTM layer of 256
units -> a linear readout (`readout.weight`, `readout.bias`): PyTorch's own names, so the app
opens the exported state_dict exactly. 256 units keep a 3,000-character unit search inside the
API's default work budget (T·H·(H+D) <= 4e8).

Training text: every .py file of this Python's standard library (tests included, site-packages
excluded) EXCEPT the files of the app's default charlm text (charlm.DEFAULT_FILES), so the
default text's held-out tenth (and the rest of it) is never trained on. Truncated BPTT over 64
parallel streams of the concatenated text (the state carries across chunks of 128), Adam with a
cosine learning-rate decay over the time budget, gradient norm clipped at 1.

Held-out figure: bits per character over the default text's last tenth, computed as the app will
(chunks of 3,000 steps, each from a zero state: the API's work and answer-size budgets for this
model), against the unigram baseline. --init continues a run (its weights, a new schedule).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the app's own corpus code (NumPy only): the same text and alphabet

from app.engine.training.charlm import DEFAULT_FILES, PRINTABLE, default_text, normalise  # noqa: E402

ALPHABET = "".join(sorted(PRINTABLE))  # 96 characters


def training_text() -> tuple[str, list[str]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    excluded = {(root / n).resolve() for n in DEFAULT_FILES}
    parts, names = [], []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] == "site-packages" or path.resolve() in excluded:
            continue
        try:
            parts.append(normalise(path.read_text(encoding="utf-8")))
        except (UnicodeDecodeError, OSError):
            continue
        names.append(str(rel))
    return "\n".join(parts), names


class CharLM(nn.Module):
    def __init__(self, V: int, H: int):
        super().__init__()
        self.lstm = nn.LSTM(V, H)
        self.readout = nn.Linear(H, V)

    def forward(self, x, state=None):  # x (T, B, V)
        h, state = self.lstm(x, state)
        return self.readout(h), state


def export_state(model: CharLM) -> dict[str, np.ndarray]:
    sd = {
        k.removeprefix("lstm."): v.detach().float().numpy().copy()
        for k, v in model.state_dict().items()
    }
    return sd


@torch.no_grad()
def heldout_bits(model: CharLM, ids: np.ndarray, V: int, chunk: int = 3_000) -> float:
    m64 = CharLM(V, model.lstm.hidden_size).double()
    m64.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    total, count = 0.0, 0
    for a in range(0, len(ids) - 1, chunk):
        seg = ids[a : a + chunk + 1]
        x = torch.nn.functional.one_hot(torch.from_numpy(seg[:-1]), V).double()[:, None, :]
        y, _ = m64(x)
        logp = torch.log_softmax(y[:, 0], dim=-1)
        total += -logp[torch.arange(len(seg) - 1), torch.from_numpy(seg[1:])].sum().item()
        count += len(seg) - 1
    return total / count / math.log(2)


VALIDATION_FILES = ("argparse.py", "configparser.py", "logging/__init__.py", "optparse.py")


def validation_windows(names: list[str]) -> list[tuple[str, np.ndarray]]:
    """(text, string mask) of the 3,000 characters richest in string literals of each of four
    training files: a string-cell criterion that never reads the default text's held-out tenth."""
    from app.engine.analysis.pysource import string_literal_mask

    root = Path(sysconfig.get_paths()["stdlib"])
    out = []
    for name in VALIDATION_FILES:
        assert name in names, name
        text = normalise((root / name).read_text(encoding="utf-8"))
        mask = string_literal_mask(text)
        c = np.concatenate([[0], np.cumsum(mask)])
        a = int(np.argmax(c[3000:] - c[:-3000]))
        out.append((text[a : a + 3000], mask[a : a + 3000]))
    return out


@torch.no_grad()
def validation_auc(model: CharLM, windows, index: dict[str, int], V: int) -> tuple[float, str]:
    """The best unit's mean score (max(AUC, 1-AUC), h and c of every unit, app's unit search)
    over the validation windows, each run from a zero state, and the unit ("c151")."""
    from app.engine.analysis.units import score_steps

    H = model.lstm.hidden_size
    scores = []
    for text, mask in windows:
        ids = torch.tensor([index[ch] for ch in text])
        x = torch.nn.functional.one_hot(ids, V).float()[:, None, :]
        hs, cs, state = [], [], None
        for t in range(len(text)):  # c at every step: nn.LSTM returns h only
            _, state = model.lstm(x[t : t + 1], state)
            hs.append(state[0][0, 0])
            cs.append(state[1][0, 0])
        X = torch.cat([torch.stack(hs), torch.stack(cs)], dim=1).double().numpy()
        scores.append(score_steps(X, mask).score)
    mean = np.mean(scores, axis=0)
    k = int(np.argmax(mean))
    return float(mean[k]), f"{'hc'[k // H]}{k % H}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=80.0)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--init",
        type=Path,
        default=None,
        help="continue from this charlm.safetensors (a run of this script)",
    )
    ap.add_argument(
        "--keep",
        action="store_true",
        help="keep every five-minute checkpoint (ckpt-<step>.safetensors) and print its string "
        "cell's validation AUC, to choose one by validation, never by the held-out text",
    )
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed + (1 if args.init else 0))  # new stream offsets
    args.out.mkdir(parents=True, exist_ok=True)

    index = {ch: k for k, ch in enumerate(ALPHABET)}
    V = len(ALPHABET)
    text, names = training_text()
    ids = np.fromiter((index[ch] for ch in text), dtype=np.int64, count=len(text))
    dtext = default_text()
    dids = np.array([index[ch] for ch in dtext], dtype=np.int64)
    held = dids[int(len(dids) * 0.9) :]
    counts = np.bincount(ids, minlength=V) + 1.0
    unigram = float(-np.log2((counts / counts.sum())[held]).mean())
    print(
        f"training text: {len(names)} files, {len(ids):,} characters; held-out "
        f"{len(held):,} characters; unigram baseline {unigram:.3f} bits/char",
        flush=True,
    )

    # 64 parallel streams, each a contiguous stretch of the text starting at a random offset
    B, T = args.batch, args.seq
    n_per = len(ids) // B
    offset = int(rng.integers(0, n_per))
    streams = np.stack([np.roll(ids, -offset)[b * n_per : (b + 1) * n_per] for b in range(B)])
    model = CharLM(V, args.hidden)
    if args.init is not None:  # continue a run: its weights, this run's learning-rate schedule
        from safetensors.numpy import load_file

        sd = {
            k if k.startswith("readout.") else f"lstm.{k}": torch.from_numpy(v)
            for k, v in load_file(str(args.init)).items()
        }
        model.load_state_dict(sd)
    else:
        with torch.no_grad():  # forget-gate bias 1 (Jozefowicz et al. 2015)
            model.lstm.bias_ih_l0[args.hidden : 2 * args.hidden] += 1.0
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    validation = validation_windows(names) if args.keep else []
    eye = torch.eye(V)
    budget = args.minutes * 60
    start = time.time()
    state, pos, step, chars = None, 0, 0, 0
    ema = None
    best = (float("inf"), None)
    next_eval = 300.0
    while True:
        elapsed = time.time() - start
        if elapsed > budget:
            break
        lr = 1e-4 + 0.5 * (args.lr - 1e-4) * (1 + math.cos(math.pi * elapsed / budget))
        for g in opt.param_groups:
            g["lr"] = lr
        if pos + T + 1 > n_per:
            pos, state = 0, None
        chunk = torch.from_numpy(streams[:, pos : pos + T + 1].T.copy())  # (T+1, B)
        pos += T
        x = eye[chunk[:-1]]
        if state is not None:
            state = tuple(s.detach() for s in state)
        y, state = model(x, state)
        loss = nn.functional.cross_entropy(y.reshape(-1, V), chunk[1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        chars += T * B
        bits = loss.item() / math.log(2)
        ema = bits if ema is None else 0.98 * ema + 0.02 * bits
        if step % 100 == 0:
            print(
                f"step {step} {elapsed / 60:.1f} min chars {chars / 1e6:.1f}M lr {lr:.2e} "
                f"train {ema:.3f} bits/char",
                flush=True,
            )
        if elapsed > next_eval:
            next_eval += 300.0
            hb = heldout_bits(model, held, V)
            print(
                f"EVAL step {step} {elapsed / 60:.1f} min held-out {hb:.3f} bits/char", flush=True
            )
            save(args.out, model, hb, unigram, step, chars, elapsed, names, args)
            if args.keep:
                from safetensors.numpy import save_file

                save_file(export_state(model), str(args.out / f"ckpt-{step}.safetensors"))
                auc, unit = validation_auc(model, validation, index, V)
                print(f"VALAUC step {step} string cell {unit} auc {auc:.4f}", flush=True)
            if hb < best[0]:
                best = (hb, step)
    hb = heldout_bits(model, held, V)
    elapsed = time.time() - start
    print(
        f"FINAL step {step} {elapsed / 60:.1f} min held-out {hb:.3f} bits/char "
        f"(unigram {unigram:.3f})",
        flush=True,
    )
    save(args.out, model, hb, unigram, step, chars, elapsed, names, args)


def save(out, model, hb, unigram, step, chars, elapsed, names, args) -> None:
    from safetensors.numpy import save_file

    save_file(export_state(model), str(out / "charlm.safetensors"))
    meta = {
        "alphabet": ALPHABET,
        "heldout_bits_per_char": round(hb, 4),
        "unigram_bits_per_char": round(unigram, 4),
        "steps": step,
        "characters_seen": chars,
        "minutes": round(elapsed / 60, 1),
        "hidden_size": args.hidden,
        "seq": args.seq,
        "batch": args.batch,
        "lr": args.lr,
        "seed": args.seed,
        "threads": args.threads,
        "torch": torch.__version__,
        "init": str(args.init) if args.init else None,
        "train_files": len(names),
        "excluded_files": list(DEFAULT_FILES),
    }
    (out / "charlm.json").write_text(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()

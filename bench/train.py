"""Training bench: do the classroom experiments come out, and how fast do steps run?

    .venv/bin/python bench/train.py [--quick]
    /tmp/torchvenv/bin/python bench/train.py                  # adds the torch.nn.LSTM ratio
    .venv/bin/python bench/train.py --ab ../main [--rounds 5]  # this checkout against another

At T=50, H=16, batch 32, Adam lr 0.01, clip 1.0, over seeds 0..4 (init, data and batch order
all follow the seed): adding with an LSTM (forget bias 1) against a tanh RNN and a GRU, and
the noisy latch with an LSTM (forget bias 3). "solved" is the held-out metric (256 sequences,
checked every 50 steps) reaching MSE < 0.01 or accuracy >= 99%. Prints a table; never fails
on a time.

--ab OTHER times Trainer.train_steps alone (LSTM, GRU, tanh RNN at H = 16 and 64, T = 50,
batch 32) in this checkout and in OTHER's, in fresh processes taking turns round after round,
and keeps each one's least CPU time per step: on a machine other processes load, the minimum
is the figure least disturbed by them.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `make bench` sets no path

# `app` first: it pins NumPy's BLAS to one thread before NumPy loads, as the server runs it
# (imported after NumPy, a threaded BLAS made training 2-3x slower on this busy 2-core machine)
import app  # noqa: E402, F401, I001
import numpy as np  # noqa: E402

from app.engine.training import train_tasks  # noqa: E402
from app.engine.training.train import TrainConfig, Trainer  # noqa: E402

T, H, B, LR, CLIP = 50, 16, 32, 0.01, 1.0
EXPERIMENTS = [  # label, task, model
    ("adding  LSTM fb 1", "adding", {"cell": "lstm", "init": {"forget_bias": 1.0}}),
    ("adding  tanh RNN", "adding", {"cell": "rnn"}),
    ("adding  GRU", "adding", {"cell": "gru"}),
    ("latch   LSTM fb 3", "latch", {"cell": "lstm", "init": {"forget_bias": 3.0}}),
]


def run_one(task: str, model: dict, seed: int, steps: int) -> tuple[int | None, float, float]:
    """(step at which it was solved or None, final metric, steps per second)."""
    model = {**model, "hidden_size": H, "init": {**model.get("init", {}), "seed": seed}}
    config = TrainConfig(task=task, length=T, task_seed=seed, seed=seed, steps=steps,
                         batch_size=B, lr=LR, clip=CLIP)  # fmt: skip
    trainer = Trainer(config, model)
    solved_at, value, elapsed = None, float("nan"), 0.0
    while not trainer.finished:
        t0 = time.perf_counter()
        trainer.train_steps(50)
        elapsed += time.perf_counter() - t0
        value = trainer.evaluate()[trainer.task.metric]
        if solved_at is None and train_tasks.is_solved(trainer.task, value):
            solved_at = trainer.step
    return solved_at, value, trainer.step / elapsed


def torch_steps_per_s(n: int, dtype_name: str, threads: int | None) -> float | None:
    """torch.nn.LSTM + Linear + Adam + clipping on the same batches: steps per second, over
    at most n steps or about 5 s."""
    try:
        import torch
    except ImportError:
        return None
    if threads:
        torch.set_num_threads(threads)
    dtype = getattr(torch, dtype_name)
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(2, H).to(dtype)
    readout = torch.nn.Linear(H, 1).to(dtype)
    params = list(lstm.parameters()) + list(readout.parameters())
    opt = torch.optim.Adam(params, lr=LR)
    task = train_tasks.get("adding")
    rng = np.random.default_rng(0)
    batches = [task.batch(T, B, rng) for _ in range(n)]
    t0 = time.perf_counter()
    done = 0
    for X, y in batches:
        out, _ = lstm(torch.from_numpy(X).to(dtype))
        loss = torch.mean((readout(out[-1]) - torch.from_numpy(y[0]).to(dtype)) ** 2)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
        done += 1
        if time.perf_counter() - t0 > 5:
            break
    return done / (time.perf_counter() - t0)


AB_CASES = [(cell, h) for cell in ("lstm", "gru", "rnn") for h in (16, 64)]
AB_CHILD = """
import sys, time
sys.path.insert(0, sys.argv[1])
from app.engine.training.train import TrainConfig, Trainer
cell, H, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
tr = Trainer(TrainConfig(length=50, steps=10**6, batch_size=32), {"cell": cell, "hidden_size": H})
tr.train_steps(3)
best = float("inf")
for _ in range(3):
    t0 = time.process_time()
    tr.train_steps(n)
    best = min(best, (time.process_time() - t0) / n)
print(best)
"""


def ab(other: Path, rounds: int) -> None:
    """Milliseconds of CPU per training step here and in `other`, least over the rounds."""
    here = Path(__file__).resolve().parents[1]
    best: dict[tuple, float] = {}
    for r in range(rounds):
        for cell, h in AB_CASES:
            sides = [("here", here), ("other", other)]
            for side, root in sides if r % 2 == 0 else sides[::-1]:  # take turns going first
                n = 30 if h < 64 else 10  # steps per timing
                args = [sys.executable, "-c", AB_CHILD, str(root), cell, str(h), str(n)]
                out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
                seconds = float(out)
                best[side, cell, h] = min(best.get((side, cell, h), seconds), seconds)
    print(f"CPU ms per training step, least of {rounds} rounds; here = {here}, other = {other}")
    for cell, h in AB_CASES:
        mine, theirs = best["here", cell, h] * 1e3, best["other", cell, h] * 1e3
        ratio = mine / theirs
        print(f"{cell:<5} H={h:<3} here {mine:6.2f}  other {theirs:6.2f}  here/other {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, 400 steps")
    parser.add_argument("--ab", type=Path, metavar="OTHER", help="time against OTHER's code")
    parser.add_argument("--rounds", type=int, default=5, help="--ab rounds")
    args = parser.parse_args()
    if args.ab:
        ab(args.ab.resolve(), args.rounds)
        return
    seeds = range(2) if args.quick else range(5)
    steps = 400 if args.quick else 1200
    print(f"T={T} H={H} batch={B} Adam lr={LR} clip={CLIP}, {steps} steps, seeds {list(seeds)}")
    print(f"{'experiment':<20} {'solved':>7}  {'solved at (steps)':<28} {'final metric':<34} "
          f"{'steps/s':>8}")  # fmt: skip
    lstm_speed = []
    for label, task, model in EXPERIMENTS:
        results = [run_one(task, model, s, steps) for s in seeds]
        solved = [r[0] for r in results]
        n = sum(s is not None for s in solved)
        speeds = [r[2] for r in results]
        if model["cell"] == "lstm" and task == "adding":
            lstm_speed = speeds
        at = ", ".join("-" if s is None else str(s) for s in solved)
        finals = ", ".join(f"{r[1]:.3g}" for r in results)
        metric = train_tasks.get(task).metric
        print(f"{label:<20} {n}/{len(results):<5}  {at:<28} {metric} {finals:<28} "
              f"{statistics.median(speeds):>8.0f}")  # fmt: skip
    ours = statistics.median(lstm_speed)
    print(f"\nNumPy LSTM training speed (median over seeds): {ours:.0f} steps/s (bar: 150)")
    for threads in (None, 1):  # torch's default thread pool, then one thread like NumPy here
        for dtype_name in ("float32", "float64"):
            theirs = torch_steps_per_s(300, dtype_name, threads)
            if theirs is None:
                print("torch not importable: no ratio")
                return
            where = "default threads" if threads is None else "1 thread"
            print(f"torch.nn.LSTM + Adam ({dtype_name}, {where}): {theirs:.0f} steps/s; "
                  f"NumPy / torch = {ours / theirs:.2f} (bar: >= 0.5)")  # fmt: skip


if __name__ == "__main__":
    main()

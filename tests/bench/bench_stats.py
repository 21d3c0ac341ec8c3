"""Benchmark: Holm-corrected paired tests for 100 configs x 14,000 items (target <= 1 s).

Run by hand (pytest does not collect this file: its name does not start with ``test_``):

    /work/venv/bin/python tests/bench/bench_stats.py [--configs 100] [--items 14000]

It prints the time of ``compare_all`` on item-id -> score dicts (what the results view passes),
first call including scipy's lazy import and then warm, the time of the matrix path
(``mcnemar_exact_many`` + ``holm_correct``), and the ratio against a naive baseline measured
in the same run: a Python loop over items per config, ``scipy.stats.binomtest`` per config and
a Python Holm.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cockpit import stats

TARGET_S = 1.0


def make_data(
    n_configs: int, n_items: int, seed: int = 0
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """A baseline and candidates that agree on most items (as real models do), 0/1 scores."""
    rng = random.Random(seed)
    ids = [f"mmlu/{i}" for i in range(n_items)]
    base = {i: float(rng.random() < 0.6) for i in ids}
    cands: dict[str, dict[str, float]] = {}
    for c in range(n_configs):
        flip = 0.05 + 0.10 * rng.random()
        lift = rng.uniform(-0.3, 0.3)  # among flipped items: deltas up to about +-3 points
        cands[f"cfg{c:03d}"] = {
            i: (float(rng.random() < 0.6 + lift) if rng.random() < flip else v)
            for i, v in base.items()
        }
    return base, cands


def naive(base: dict[str, float], cands: dict[str, dict[str, float]]) -> list[float]:
    """The obvious implementation: loop over items, one scipy binomtest per config, Holm."""
    from scipy.stats import binomtest

    pvalues = []
    for cand in cands.values():
        b = c = 0
        for item, score in base.items():
            other = cand[item]
            if other > score:
                b += 1
            elif other < score:
                c += 1
        pvalues.append(binomtest(b, b + c, 0.5).pvalue if b + c else 1.0)
    order = sorted(range(len(pvalues)), key=pvalues.__getitem__)
    adjusted = [0.0] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=100)
    parser.add_argument("--items", type=int, default=14_000)
    args = parser.parse_args()

    base, cands = make_data(args.configs, args.items)
    metric_base = {"mmlu_acc": base}
    metric_cands = {name: {"mmlu_acc": scores} for name, scores in cands.items()}
    scipy_loaded = "scipy" in sys.modules

    def run() -> list[stats.Comparison]:
        return stats.compare_all(metric_base, metric_cands, baseline_name="baseline")

    cold, results = timed(run)
    warm, results = timed(run, repeat=5)

    import numpy as np

    base_arr = np.fromiter(base.values(), dtype=np.int8)
    matrix = np.array([np.fromiter(c.values(), dtype=np.int8) for c in cands.values()])

    def matrix_path() -> list[float | None]:
        res = stats.mcnemar_exact_many(base_arr, matrix)
        return stats.holm_correct([r.p_value for r in res])

    mat, adj_matrix = timed(matrix_path, repeat=5)
    import scipy.stats  # noqa: F401  - the naive baseline's import is not part of its time

    slow, adj_naive = timed(lambda: naive(base, cands), repeat=2)

    ours = [r.p_adjusted for r in results]
    agree = all(
        abs(a - b) <= 1e-9 * max(1.0, abs(b))
        for a, b in zip(ours, adj_naive, strict=True)
        if a is not None
    ) and all(abs(a - b) <= 1e-9 for a, b in zip(adj_matrix, adj_naive, strict=True) if a)
    verdicts: dict[str, int] = {}
    for r in results:
        verdicts[str(r.verdict)] = verdicts.get(str(r.verdict), 0) + 1

    print(f"{args.configs} configs x {args.items} items, 0/1 scores, McNemar exact + Holm")
    print(
        f"  compare_all, first call{' ' if scipy_loaded else ' (incl. scipy import)'}: {cold:.3f} s"
    )
    print(f"  compare_all, warm (best of 5):       {warm:.3f} s")
    print(f"  matrix path (mcnemar_exact_many):    {mat * 1000:.1f} ms")
    print(f"  naive baseline (same run, best of 2): {slow:.3f} s")
    print(f"  speed-up vs naive: compare_all {slow / warm:.1f}x, matrix path {slow / mat:.0f}x")
    print(f"  Holm-adjusted p agree with naive:    {agree}")
    print(f"  verdicts: {verdicts}")
    ok = cold <= TARGET_S and agree
    print(f"  target <= {TARGET_S:.1f} s (first call): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

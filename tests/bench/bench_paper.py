"""Benchmark: the LaTeX-aware diff of two ~6,000-line drafts with 5% of lines changed
(target < 300 ms) and the claim check of 1,000 numbers against 10,000 recorded results
(target < 1 s).

Run by hand (pytest does not collect this file: its name does not start with ``test_``):

    /work/main/.venv/bin/python tests/bench/bench_paper.py

The drafts are built from the real AI-Scientist gan_diffusion paper (its paragraphs wrapped
at 80 columns, repeated under numbered sections). Baselines measured in the same run: for the
diff, difflib's plain line diff of the same two texts (what the Paper pane showed before);
for the claim check, matching each number by a scan over every recorded value.
"""

from __future__ import annotations

import random
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cockpit.models import MetricPoint, Run, RunSpec, RunState, Sweep  # noqa: E402
from cockpit.paper.claims import check_claims, parse_numbers, recorded_index  # noqa: E402
from cockpit.paper.diff import diff_drafts  # noqa: E402
from cockpit.paper.latex import sections  # noqa: E402
from cockpit.store import Store  # noqa: E402

PAPER = ROOT / "tests/data/formats/ai-scientist-gan_diffusion/latex/template.tex"
DIFF_TARGET_S = 0.3
CHECK_TARGET_S = 1.0


def best_of(runs: int, work: Callable[[], Any]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def make_drafts(lines: int = 6000, changed: float = 0.05) -> tuple[str, str]:
    rng = random.Random(0)
    body = []
    for sec in sections(PAPER.read_text())[1:]:
        for para in sec.paragraphs():
            body.append(textwrap.fill(" ".join(para.split()), 80))
    out: list[str] = ["\\documentclass{article}", "\\begin{document}"]
    n = 0
    while len(out) < lines:
        n += 1
        out.append(f"\\section{{Part {n}}}")
        for para in body:
            out.extend(para.splitlines())
            out.append("")
    old = out[:lines]
    new = list(old)
    candidates = [i for i, line in enumerate(old) if len(line.split()) > 4]
    for i in rng.sample(candidates, int(lines * changed)):
        words = new[i].split(" ")
        j = rng.randrange(len(words))
        words[j] = rng.choice(["revised", "0.123", "\\cite{new2024}", "$x_1$", "markedly"])
        new[i] = " ".join(words)
    return "\n".join(old) + "\n", "\n".join(new) + "\n"


def bench_diff() -> None:
    import difflib

    old, new = make_drafts()
    diff = diff_drafts(old, new)
    t = best_of(5, lambda: diff_drafts(old, new))
    base = best_of(5, lambda: list(difflib.unified_diff(old.splitlines(), new.splitlines())))
    print(
        f"diff: {old.count(chr(10))} lines, {len(diff.changes)} changes: {t * 1000:.0f} ms "
        f"(target < {DIFF_TARGET_S * 1000:.0f} ms: {'OK' if t < DIFF_TARGET_S else 'SLOW'}); "
        f"plain line diff {base * 1000:.0f} ms, ratio {t / base:.1f}x"
    )


def make_store(path: Path, runs: int = 500, metrics: int = 20) -> list[float]:
    rng = random.Random(1)
    store = Store.open(path)
    store.upsert_sweep(Sweep("bench", {"lr": list(range(runs))}, baseline="r0"))
    values: list[float] = []
    points = []
    for r in range(runs):
        spec = RunSpec(f"r{r}", "true", {"lr": r}, sweep="bench", gpus=0)
        store.upsert_run(Run(f"r{r}", spec, RunState.SUCCEEDED))
        for m in range(metrics):
            v = rng.uniform(0, 100) if m % 2 else rng.random()
            values.append(v)
            points.append(MetricPoint(f"r{r}", 0, f"m{m}", v))
    store.add_metrics(points)
    store.close()
    return values


def make_claims_draft(values: list[float], count: int = 1000) -> str:
    rng = random.Random(2)
    rows = []
    for i in range(count):
        v = rng.choice(values) if i % 10 else rng.uniform(0, 100)  # 10% invented
        rows.append(f"Config & {v:.3f} \\\\")
    return (
        "\\begin{document}\n\\section{Results}\n\\begin{tabular}{lc}\n"
        + "\n".join(rows)
        + "\n\\end{tabular}\n\\end{document}\n"
    )


def bench_claims() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        values = make_store(path)
        text = make_claims_draft(values)
        with Store.open(path) as store:
            start = time.perf_counter()
            index = recorded_index(store, "bench")
            build = time.perf_counter() - start
            report = check_claims(store, text, index=index, remember=False)
            t = best_of(3, lambda: check_claims(store, text, index=index, remember=False))
            whole = best_of(1, lambda: check_claims(store, text, sweep="bench", remember=False))

        def scan() -> int:
            found = 0
            for n in parse_numbers(text):
                found += any(abs(v - n.value) <= n.half_unit for v in values)
            return found

        base = best_of(1, scan)
    matched = sum(c.status == "matched" for c in report.claims)
    print(
        f"claim check: {len(report.claims)} numbers ({matched} matched) against "
        f"{len(values)} results: {t * 1000:.0f} ms with the index built "
        f"(target < {CHECK_TARGET_S * 1000:.0f} ms: {'OK' if t < CHECK_TARGET_S else 'SLOW'}); "
        f"index from the store {build * 1000:.0f} ms, end to end {whole * 1000:.0f} ms; "
        f"linear scan baseline {base * 1000:.0f} ms, ratio {t / base:.2f}x"
    )


if __name__ == "__main__":
    bench_diff()
    bench_claims()

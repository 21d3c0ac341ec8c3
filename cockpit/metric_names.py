"""The vocabulary of metrics: which config keys are seeds, which way a metric is better,
how imported metrics are named and which per-item task backs a metric.

Importers and the results matrix both speak it, so it lives once, here. Pure functions, no
imports of the cockpit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# Config keys that name a replicate, not a config: runs differing only here are seeds.
SEED_KEYS = frozenset({"seed", "seeds", "random_seed", "rng_seed", "run_seed"})


_LOWER_IS_BETTER = re.compile(
    r"loss|ppl|perplexity|error|\berr|mae|mse|rmse|time|latency|kl|divergence|wer\b|cer\b|"
    r"bits_per_byte|bpb|fid"
)
_HIGHER_IS_BETTER = re.compile(
    r"acc|f1|bleu|rouge|\br2\b|auc|precision|recall|exact_match|\bem\b|score|reward|"
    r"tokens_per_s|throughput|win_rate|pass@"
)


def guess_higher_is_better(metric: str) -> bool | None:
    """Direction of a metric from its name when the file does not say; None if unclear."""
    name = metric.lower().rsplit("/", 1)[-1]
    if _HIGHER_IS_BETTER.search(name):
        return True
    if _LOWER_IS_BETTER.search(name):
        return False
    return None


def guess_directions(metrics: Iterable[str]) -> dict[str, bool]:
    """Higher-is-better of each metric whose name says it."""
    out: dict[str, bool] = {}
    for name in metrics:
        guess = guess_higher_is_better(name)
        if guess is not None:
            out[name] = guess
    return out


def lm_eval_metric_name(task: str, metric: str, filt: str) -> str:
    """The cockpit's name of lm-eval's metric of a task under a filter."""
    # Filter "none" is lm-eval's default and noise in a name; other filters (gsm8k's
    # "strict-match") keep lm-eval's own "metric,filter" spelling so users recognise it.
    return f"{task}/{metric}" if filt in ("", "none") else f"{task}/{metric},{filt}"


def lm_eval_item_task(task: str, filt: str | None) -> str:
    """The eval_items task of lm-eval's task under a filter (\"gsm8k,strict-match\")."""
    return task if filt in (None, "", "none") else f"{task},{filt}"


def item_task_for(metric: str, tasks: Iterable[str], item_metric: Mapping[str, str]) -> str | None:
    """The eval_items task whose per-item scores are this metric's, if any.

    "mmlu" backs "mmlu", "mmlu_acc" and "mmlu/acc"; lm-eval's filtered task "gsm8k,strict"
    backs "gsm8k/exact_match,strict". Where the importer recorded which per-item metric a
    task was scored by, only that metric matches. The longest task name wins.
    """
    best: str | None = None
    for task in tasks:
        base, _, filt = task.partition(",")
        scored_by = item_metric.get(task)
        ok = metric == task
        for sep in ("_", "/"):
            prefix = base + sep
            if not ok and metric.startswith(prefix):
                name, _, mfilt = metric[len(prefix) :].partition(",")
                ok = mfilt == filt and (scored_by is None or name == scored_by)
        if ok and (best is None or len(task) > len(best)):
            best = task
    return best


def metric_order(names: Iterable[str], primary: Iterable[str | None] = ()) -> tuple[str, ...]:
    """Primary metrics first, then evaluation metrics, then training diagnostics."""
    first = {p: i for i, p in enumerate(p for p in primary if p)}

    def key(name: str) -> tuple[int, int, str]:
        if name in first:
            return (0, first[name], name)
        low = name.lower()
        training = "train" in low or low in ("lr", "learning_rate", "grad_norm", "step_time")
        return (2 if training else 1, 0, name)

    return tuple(sorted(set(names), key=key))

"""The vocabulary of metrics: which config keys are seeds, which way a metric is better,
how imported metrics are named and which per-item task backs a metric.

Importers and the results matrix both speak it, so it lives once, here. Pure functions, no
imports of the cockpit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Config keys that name a replicate, not a config: runs differing only here are seeds.
# lm-eval-harness records four (random, numpy, torch and few-shot sampling seeds).
SEED_KEYS = frozenset(
    {
        "seed",
        "seeds",
        "random_seed",
        "rng_seed",
        "run_seed",
        "numpy_seed",
        "torch_seed",
        "fewshot_seed",
    }
)

# Where a metric's direction came from, strongest first: what the user said (CLI flag, pane
# key, remembered in the store), the sweep spec, the results file, the name, nothing.
DIRECTION_USER = "user"
DIRECTION_SPEC = "spec"
DIRECTION_FILE = "file"
DIRECTION_NAME = "name"
DIRECTION_DEFAULT = "default"  # nothing said which way: assumed higher, shown as a guess
DIRECTION_HYPERPARAMETER = "hyperparameter"  # a setting echoed in the logs, not an outcome


_LOWER_IS_BETTER = re.compile(
    r"loss|ppl|perplexity|error|\berr|mae|mse|rmse|time|latency|kl|divergence|wer\b|cer\b|"
    r"bits_per_byte|bpb|fid"
)
_HIGHER_IS_BETTER = re.compile(
    r"acc|f1|bleu|rouge|\br2\b|auc|precision|recall|exact_match|\bem\b|score|reward|"
    r"tokens_per_s|per_sec|per_second|throughput|win_rate|pass@"
)


# Settings that training loops log next to their results: comparing them is meaningless.
_HYPERPARAMETERS = frozenset(
    {
        "lr",
        "learning_rate",
        "epoch",
        "epochs",
        "step",
        "steps",
        "global_step",
        "iter",
        "iteration",
        "batch_size",
        "weight_decay",
        "momentum",
        "warmup_steps",
        "max_steps",
        "num_train_steps",
        "num_total_updates",
        "dropout",
        "temperature",
    }
)
# Units a "how long until X" metric counts: fewer is faster, whatever X is.
_COUNT_UNITS = frozenset(
    {
        "step",
        "steps",
        "epoch",
        "epochs",
        "iter",
        "iters",
        "iteration",
        "iterations",
        "update",
        "updates",
        "time",
        "seconds",
        "secs",
        "sec",
        "minutes",
        "hours",
        "tokens",
        "samples",
        "examples",
        "flops",
        "wallclock",
    }
)


def _tokens(metric: str) -> list[str]:
    name = metric.lower().rsplit("/", 1)[-1].partition(",")[0]
    return [t for t in re.split(r"[^a-z0-9@]+", name) if t]


def is_hyperparameter(metric: str) -> bool:
    """A setting the run logged (lr, epoch, step…), not an outcome to compare."""
    return "_".join(_tokens(metric)) in _HYPERPARAMETERS


def is_count_to_target(metric: str) -> bool:
    """A count of steps, epochs, time or tokens until some target ("step_val_acc_99",
    "epochs_to_converge", "time_to_90"): fewer is better, and a value at the run's budget
    means the target was never reached (censored)."""
    tokens = _tokens(metric)
    if len(tokens) < 2 or "per" in tokens or is_hyperparameter(metric):
        return False
    if tokens[0] in _COUNT_UNITS or (tokens[0] in ("num", "n") and tokens[1] in _COUNT_UNITS):
        return True
    if "to" in tokens:
        return any(t in _COUNT_UNITS for t in tokens[: tokens.index("to")])
    return False


@dataclass(frozen=True)
class Direction:
    """Which way a metric is better and who said so (one of the DIRECTION_* sources).

    ``higher_is_better`` is None for a hyperparameter nobody gave a direction: it is shown,
    never compared.
    """

    higher_is_better: bool | None
    source: str

    @property
    def word(self) -> str:
        if self.higher_is_better is None:
            return "not an outcome"
        return "higher" if self.higher_is_better else "lower"


def guess_direction(metric: str) -> Direction:
    """The direction of a metric from its name alone, and whether the name said it."""
    if is_hyperparameter(metric):
        return Direction(None, DIRECTION_HYPERPARAMETER)
    guess = guess_higher_is_better(metric)
    if guess is None:
        return Direction(True, DIRECTION_DEFAULT)
    return Direction(guess, DIRECTION_NAME)


def resolve_directions(
    metrics: Iterable[str],
    *,
    recorded: Mapping[str, bool] | None = None,
    spec: Mapping[str, bool] | None = None,
    user: Mapping[str, bool] | None = None,
) -> dict[str, Direction]:
    """Each metric's direction: the user's, else the sweep spec's, else the file's, else
    the name's. ``spec`` is what a sweep spec's direction field says (cockpit.sweep passes
    it); ``user`` what the user set (CLI, pane, remembered in the store)."""
    out: dict[str, Direction] = {}
    for m in metrics:
        for given, source in ((user, DIRECTION_USER), (spec, DIRECTION_SPEC)):
            if given and m in given:
                out[m] = Direction(bool(given[m]), source)
                break
        else:
            if recorded and m in recorded and not is_hyperparameter(m):
                out[m] = Direction(bool(recorded[m]), DIRECTION_FILE)
            else:
                out[m] = guess_direction(m)
    return out


def parse_direction_word(word: str) -> bool:
    """ "higher"/"lower" (or "max"/"min", "up"/"down") -> higher-is-better."""
    low = word.strip().lower()
    if low in ("higher", "high", "max", "up", "+"):
        return True
    if low in ("lower", "low", "min", "down", "-"):
        return False
    raise ValueError(f"direction {word!r}: use higher or lower")


def guess_higher_is_better(metric: str) -> bool | None:
    """Direction of a metric from its name when the file does not say; None if unclear.

    Counts until a target come first: "step_val_acc_99" holds "acc" but is a number of
    steps, and fewer steps is better. Hyperparameters echoed in the logs have none.
    """
    if is_hyperparameter(metric):
        return None
    if is_count_to_target(metric):
        return False
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


# Config keys that hold a run's budget in some unit: a count-to-target metric at that value
# never reached its target (AI-Scientist's grokking template sets step_val_acc_99 to
# num_total_updates when validation accuracy never passed 99%).
BUDGET_KEYS: Mapping[str, tuple[str, ...]] = {
    "step": (
        "max_steps",
        "num_train_steps",
        "num_total_updates",
        "total_steps",
        "train_steps",
        "num_steps",
        "max_iters",
        "max_updates",
    ),
    "epoch": ("max_epochs", "num_epochs", "epochs", "num_train_epochs"),
}
_UNIT_OF = {
    "step": "step",
    "steps": "step",
    "iter": "step",
    "iters": "step",
    "iteration": "step",
    "iterations": "step",
    "update": "step",
    "updates": "step",
    "epoch": "epoch",
    "epochs": "epoch",
}


def budget_of(metric: str, config: Mapping[str, object]) -> float | None:
    """The budget a count-to-target metric is censored at, from its run's config."""
    if not is_count_to_target(metric):
        return None
    unit = next((_UNIT_OF[t] for t in _tokens(metric) if t in _UNIT_OF), None)
    for key in BUDGET_KEYS.get(unit or "", ()):
        value = config.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
    return None


_PROPORTION = re.compile(
    r"acc|f1|exact_match|\bem\b|precision|recall|auc|win_rate|pass@|accuracy|hit_rate"
)


def proportion_bounds(metric: str, values: Iterable[float]) -> tuple[float, float] | None:
    """(0, 1) for a metric that is a proportion by name and by value, else None."""
    if is_count_to_target(metric) or not _PROPORTION.search(metric.lower().rsplit("/", 1)[-1]):
        return None
    return (0.0, 1.0) if all(0.0 <= v <= 1.0 for v in values) else None

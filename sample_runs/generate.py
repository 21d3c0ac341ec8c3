"""Regenerate the embedded demo dataset: a 2^3 GaLore design of experiments.

The story (see DESIGN.md and the seed notes): a researcher fine-tuned Qwen2.5-0.5B with the
GaLore optimizer on conversation data and ran a 2^3 factorial over GaLore rank (128 | 64),
LR scheduler (none | cosine) and weight decay (0.1 | 0.2) overnight on two 4-GPU hosts.
Rank is the dominant factor (rank 64 forgets less), the scheduler helps a little, weight
decay does nothing.

Usage:  python sample_runs/generate.py [OUTPUT_DIR]     (default: this file's directory)

Stdlib only and fully deterministic: every random draw comes from a ``random.Random`` seeded
with a fixed string, and every timestamp is derived from a fixed reference date, so running
the script twice yields byte-identical files.
"""

from __future__ import annotations

import json
import math
import random
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

MASTER_SEED = "lab-cockpit-demo-v1"
SWEEP_NAME = "galore-doe"
FACTORS: dict[str, list[Any]] = {
    "rank": [128, 64],
    "scheduler": ["none", "cosine"],
    "weight_decay": [0.1, 0.2],
}
HOSTS = ("demo-a", "demo-b")

# Training setup shared by all eight runs (one seed: only the config differs between runs).
MODEL = "Qwen/Qwen2.5-0.5B"
N_PARAMS = 494_032_768
TRAIN_SEED = 1234
STEPS = 2500
WARMUP = 100
LR = 1e-4
MIN_LR = 1e-5
BATCH = 56
SEQ_LEN = 2048
TOKENS_PER_STEP = BATCH * SEQ_LEN
EVAL_EVERY = 250
METRICS_EVERY = 10
CKPT_EVERY = 500
GALORE_GAP = 200
PROGRESS_EVERY = 100
TIMEOUT_S = 43_200
BASE_HOLDOUT_PPL = 11.84  # the base model's held-out perplexity, identical for every run

# MMLU: a fixed 2000-item subsample of the 14,042-item test split, shared by all runs.
MMLU_TEST_SIZE = 14_042
N_ITEMS = 2000
BASE_MODEL_MMLU = 0.4826  # the base model before any fine-tuning (from the pilot)

SWEEP_START = datetime(2026, 11, 21, 22, 0, 0, tzinfo=UTC)

# Number of correct MMLU items per config (rank, scheduler, weight_decay). Chosen so that
# rank 64 gains ~1.3 points, cosine ~0.3, weight decay ~0, interactions ~0; the per-item
# pattern is then drawn from a shared latent difficulty (see make_eval_items).
TARGET_CORRECT: dict[tuple[int, str, float], int] = {
    (128, "none", 0.1): 883,
    (64, "none", 0.1): 909,
    (128, "cosine", 0.1): 889,
    (64, "cosine", 0.1): 915,
    (128, "none", 0.2): 884,
    (64, "none", 0.2): 908,
    (128, "cosine", 0.2): 888,
    (64, "cosine", 0.2): 917,
}

# Latent item model: score = -difficulty + rank-shared noise + run-specific noise. Small
# noise relative to the difficulty spread keeps configs ~97-98% concordant item by item, as
# fine-tunes of one base model with one data order are.
ITEM_NOISE_RANK = 0.03
ITEM_NOISE_RUN = 0.04

# Paper: v2 quotes a number from an earlier checkpoint for this config; v3 fixes it.
STALE_RUN_CONFIG = (64, "cosine", 0.1)
STALE_OFFSET_PCT = 0.25


def rng_for(*parts: object) -> random.Random:
    """A Random seeded from a string: str seeds are hashed with sha512, so independent of
    PYTHONHASHSEED and stable across runs and machines."""
    return random.Random(":".join([MASTER_SEED, *map(str, parts)]))


# ---------------------------------------------------------------------------------------------
# The design


@dataclass(frozen=True)
class Config:
    rank: int
    scheduler: str
    weight_decay: float

    @property
    def run_id(self) -> str:
        return f"doe-r{self.rank}-{self.scheduler}-wd{self.weight_decay}"

    @property
    def key(self) -> tuple[int, str, float]:
        return (self.rank, self.scheduler, self.weight_decay)

    def signs(self) -> tuple[int, ...]:
        """Coded levels in FACTORS order: the first level listed is -1, the second +1."""
        return tuple(
            -1 if value == FACTORS[name][0] else 1
            for name, value in zip(FACTORS, self.key, strict=True)
        )


@dataclass(frozen=True)
class RunPlan:
    config: Config
    host: str
    gpu: int
    start: datetime
    git_commit: str


def yates_order() -> list[Config]:
    """Standard order: the first factor alternates fastest."""
    levels = list(FACTORS.values())
    configs = []
    for i in range(2 ** len(levels)):
        pick = [lv[(i >> bit) & 1] for bit, lv in enumerate(levels)]
        configs.append(Config(rank=pick[0], scheduler=pick[1], weight_decay=pick[2]))
    return configs


def plan_runs(configs: list[Config]) -> list[RunPlan]:
    # Hosts form two blocks confounded with the three-way interaction (the textbook 2^3 in two
    # blocks), so host-to-host differences cannot masquerade as a main effect.
    commit = f"{rng_for('git').getrandbits(160):040x}"
    rng = rng_for("launch")
    next_gpu = dict.fromkeys(HOSTS, 0)
    plans = []
    for config in configs:
        a, b, c = config.signs()
        host = HOSTS[0] if a * b * c < 0 else HOSTS[1]
        gpu = next_gpu[host]
        next_gpu[host] += 1
        # The launcher starts one run per GPU a few seconds apart.
        offset = 4 + 7 * gpu + (15 if host == HOSTS[1] else 0) + rng.randint(0, 3)
        plans.append(RunPlan(config, host, gpu, SWEEP_START + timedelta(seconds=offset), commit))
    return plans


def command_for(config: Config) -> str:
    return (
        f"python train.py --galore-rank {config.rank} --scheduler {config.scheduler}"
        f" --weight-decay {config.weight_decay} --lr 1e-4 --steps {STEPS}"
        f" --model {MODEL} --data data/convos_v3 --batch-size {BATCH} --seq-len {SEQ_LEN}"
        f" --galore-update-proj-gap {GALORE_GAP} --galore-scale 0.25"
        f" --eval-every {EVAL_EVERY} --seed {TRAIN_SEED} --out ckpt"
    )


# ---------------------------------------------------------------------------------------------
# Per-item MMLU correctness


def make_eval_items(configs: list[Config]) -> tuple[list[int], dict[str, list[int]]]:
    """Return the shared doc_ids and, per run id, a 0/1 correctness list aligned with them.

    Each item has a latent difficulty shared by every config; each config has a log-odds
    shift, set (as a quantile of its scores) so that exactly TARGET_CORRECT items pass. The
    shared difficulty makes the configs strongly correlated item by item, which is what gives
    a paired test (McNemar) its power.
    """
    rng = rng_for("mmlu-items")
    doc_ids = sorted(rng.sample(range(MMLU_TEST_SIZE), N_ITEMS))
    difficulty = [rng.gauss(0.0, 1.0) for _ in doc_ids]
    # Noise shared by configs of the same rank: rank 64 helps on a consistent set of items.
    rank_noise = {
        rank: [rng.gauss(0.0, ITEM_NOISE_RANK) for _ in doc_ids] for rank in FACTORS["rank"]
    }
    correct: dict[str, list[int]] = {}
    for config in configs:
        run_rng = rng_for("mmlu-items", config.run_id)
        scores = [
            -d + rn + run_rng.gauss(0.0, ITEM_NOISE_RUN)
            for d, rn in zip(difficulty, rank_noise[config.rank], strict=True)
        ]
        k = TARGET_CORRECT[config.key]
        passing = set(sorted(range(N_ITEMS), key=lambda i: -scores[i])[:k])
        correct[config.run_id] = [1 if i in passing else 0 for i in range(N_ITEMS)]
    return doc_ids, correct


def mcnemar(a: list[int], b: list[int]) -> tuple[int, int, float]:
    """Exact two-sided McNemar test: (a-only correct, b-only correct, p-value)."""
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    n, k = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return 0, 0, 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return only_a, only_b, min(1.0, 2 * tail)


# ---------------------------------------------------------------------------------------------
# Training simulation


@dataclass
class RunResult:
    plan: RunPlan
    log_lines: list[str] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    mmlu_acc: float = 0.0
    n_correct: int = 0
    final_ppl: float = 0.0
    ended_at: datetime = SWEEP_START


def lr_at(step: int, scheduler: str) -> float:
    if step <= WARMUP:
        return LR * step / WARMUP
    if scheduler == "none":
        return LR
    progress = (step - WARMUP) / (STEPS - WARMUP)
    return MIN_LR + (LR - MIN_LR) * 0.5 * (1 + math.cos(math.pi * progress))


def batch_noise() -> list[float]:
    """Per-step loss noise from batch content. All runs use seed 1234 and hence the same data
    order, so this part of the noise is shared: the eight loss curves wiggle together."""
    rng = rng_for("data-order", TRAIN_SEED)
    noise, slow = [], 0.0
    for _ in range(STEPS + 1):
        slow = 0.9 * slow + rng.gauss(0.0, 0.008)  # slowly drifting topic mix
        noise.append(slow + rng.gauss(0.0, 0.035))
    return noise


def clean_loss(step: int, config: Config) -> float:
    floor = (
        1.48 + (0.025 if config.rank == 64 else 0.0) + (0.004 if config.weight_decay > 0.1 else 0)
    )
    loss = floor + 0.62 * (1 + step / 40) ** -0.45
    if config.scheduler == "cosine":
        # Annealing the LR lowers the loss late in training.
        progress = max(0.0, (step - WARMUP) / (STEPS - WARMUP))
        loss -= 0.04 * progress**2
    return loss


def holdout_ppl_at(step: int, config: Config, rng: random.Random) -> float:
    """Perplexity on general text rises as the model forgets; higher rank forgets more."""
    if step == 0:
        return BASE_HOLDOUT_PPL
    final_rise = 0.165 if config.rank == 128 else 0.115
    final_rise += -0.012 if config.scheduler == "cosine" else 0.0
    final_rise += 0.002 if config.weight_decay > 0.1 else 0.0
    shape = (1 - math.exp(-step / 700)) / (1 - math.exp(-STEPS / 700))
    return BASE_HOLDOUT_PPL * (1 + final_rise * shape + rng.gauss(0.0, 0.004))


def fmt_duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def header_lines(plan: RunPlan) -> list[str]:
    c = plan.config
    sched = (
        f"none (linear warmup {WARMUP} steps, then constant)"
        if c.scheduler == "none"
        else f"cosine (linear warmup {WARMUP} steps, decay to {MIN_LR:.2e} at step {STEPS})"
    )
    site = "/opt/conda/lib/python3.11/site-packages"
    return [
        f"[{plan.start:%Y-%m-%d %H:%M:%S}] launching {c.run_id} on {plan.host}"
        f" (CUDA_VISIBLE_DEVICES={plan.gpu})",
        f"$ {command_for(c)}",
        f"git: {plan.git_commit} (branch exp003-doe, clean)",
        "python 3.11.9 | torch 2.5.1+cu124 | CUDA 12.4 | cuDNN 90100 | transformers 4.46.3",
        "GPU 0: NVIDIA A100-SXM4-80GB (81920 MiB) | driver 550.127.05 | compute capability 8.0",
        f"seed {TRAIN_SEED} | tf32 enabled | gradient checkpointing on",
        f"loading tokenizer {MODEL} ... ok (vocab 151,665)",
        f"loading model {MODEL} in bfloat16 ... ok in 6.{plan.gpu + 1}s",
        f"model: Qwen2ForCausalLM | 24 layers | hidden 896 | params {N_PARAMS:,} (all trainable)",
        f"galore: rank {c.rank} | update_proj_gap {GALORE_GAP} | scale 0.25 | proj_type std"
        " | 168 target matrices (attn + mlp)",
        "data: convos_v3 train 184,312 conversations / 392.4M tokens | val 1,000 conversations",
        "data: holdout (forgetting probe) 2,000 docs / 4.1M tokens (wikitext-103 + c4 mix)",
        f"batch: {BATCH} x {SEQ_LEN} = {TOKENS_PER_STEP:,} tokens/step | {STEPS} steps"
        f" | {STEPS * TOKENS_PER_STEP / 1e6:.1f}M tokens"
        f" ({STEPS * TOKENS_PER_STEP / 392.4e6:.2f} epochs)",
        f"optim: GaLoreAdamW lr {LR:.2e} betas (0.9, 0.999) eps 1e-08"
        f" weight_decay {c.weight_decay} | grad clip 1.0",
        f"sched: {sched}",
        "huggingface/tokenizers: The current process just got forked, after parallelism has"
        " already been used. Disabling parallelism to avoid deadlocks...",
        "To disable this warning, you can either:",
        "\t- Avoid using `tokenizers` before the fork if possible",
        "\t- Explicitly set the environment variable TOKENIZERS_PARALLELISM=(true | false)",
        f"{site}/torch/utils/checkpoint.py:295: UserWarning: torch.utils.checkpoint: the"
        " use_reentrant parameter should be passed explicitly. In version 2.5 we will raise an"
        " exception if use_reentrant is not passed. use_reentrant=False is recommended, but if"
        " you need to preserve the current default behavior, you can pass use_reentrant=True."
        " Refer to docs for more details on the differences between the two variants.",
        "  return fn(*args, **kwargs)",
    ]


@dataclass
class Throughput:
    """Tokens/s model for one run: a host/rank dependent base plus jitter and slow steps."""

    base: float
    rng: random.Random

    def at(self, step: int) -> float:
        tps = self.base * (1 + self.rng.gauss(0.0, 0.025))
        if step <= 3:
            tps *= (0.28, 0.71, 0.93)[step - 1]  # CUDA graph capture / allocator warm-up
        elif step % GALORE_GAP == 0:
            tps *= 0.45  # this step includes the SVD that refreshes the projections
        elif step % EVAL_EVERY == 1:
            tps *= 0.93  # first step after an eval: caches cold again
        return max(tps, 1000.0)


def simulate_run(plan: RunPlan, noise: list[float], correct: list[int]) -> RunResult:
    c = plan.config
    rng = rng_for("train", c.run_id)
    result = RunResult(plan=plan)
    log, metrics = result.log_lines, result.metrics
    log.extend(header_lines(plan))

    base_tps = 10_700 if plan.host == HOSTS[0] else 10_300
    base_tps += 250 if c.rank == 64 else 0  # smaller projections: cheaper optimizer step
    base_tps -= 40 * plan.gpu
    throughput = Throughput(base_tps, rng)
    mem_base = 41.2 if c.rank == 128 else 38.9
    spike_step = rng.randint(600, 2300) if rng.random() < 0.5 else None
    skip_step = rng.randint(100, 2400)

    elapsed = 40.0  # model + data loading before step 1
    ppl = BASE_HOLDOUT_PPL
    log.append(f"eval step 0 | holdout_ppl {ppl:.2f}")
    metrics.append({"step": 0, "holdout_ppl": round(ppl, 2)})
    elapsed += 95.0

    loss = 0.0
    for step in range(1, STEPS + 1):
        if step % GALORE_GAP == 0:
            svd_s = 11.5 + rng.random() * 1.5 - (3.0 if c.rank == 64 else 0.0)
            log.append(
                f"galore: refreshed 168 projections (rank {c.rank}) at step {step} in {svd_s:.1f}s"
            )
        if step == skip_step:
            log.append(
                f"data: skipped 1 malformed conversation (empty assistant turn)"
                f" at index {rng.randint(1000, 184_000):,}"
            )
        spiking = step == spike_step
        loss = clean_loss(step, c) + noise[step] + rng.gauss(0.0, 0.012) + (0.9 if spiking else 0)
        lr = lr_at(step, c.scheduler)
        grad_norm = (0.42 + 2.6 * math.exp(-step / 180)) * math.exp(rng.gauss(0.0, 0.18))
        if spiking:
            grad_norm = 6.5 + rng.random() * 3
        tps = throughput.at(step)
        mem = min(mem_base, mem_base - 2.4 * math.exp(-step / 6)) + rng.gauss(0.0, 0.08)
        loss_s, lr_s, tps_s = f"{loss:.4f}", f"{lr:.2e}", f"{tps:.0f}"
        log.append(
            f"step {step:>5}/{STEPS} | loss {loss_s} | lr {lr_s} | grad_norm {grad_norm:.2f}"
            f" | tokens/s {tps_s} | mem {mem:.1f}G"
        )
        # Parse the printed strings back so the JSON carries exactly the numbers in the log.
        elapsed += TOKENS_PER_STEP / float(tps_s)
        if step % METRICS_EVERY == 0:
            metrics.append(
                {
                    "step": step,
                    "train_loss": float(loss_s),
                    "lr": float(lr_s),
                    "tokens_per_s": float(tps_s),
                }
            )
        if spiking:
            log.append(
                f"WARNING: loss spike at step {step}: {loss_s} > 1.5x running mean;"
                f" grad_norm {grad_norm:.2f} clipped to 1.0"
            )
        if step % PROGRESS_EVERY == 0:
            eta = elapsed / step * (STEPS - step)
            log.append(
                f"progress: {step}/{STEPS} ({100 * step / STEPS:.0f}%)"
                f" | elapsed {fmt_duration(elapsed)} | eta {fmt_duration(eta)}"
            )
        if step % EVAL_EVERY == 0:
            ppl = float(f"{holdout_ppl_at(step, c, rng):.2f}")
            log.append(f"eval step {step} | holdout_ppl {ppl:.2f}")
            elapsed += 95.0 + rng.random() * 6
            if step < STEPS:
                metrics.append({"step": step, "holdout_ppl": ppl})
        if step % CKPT_EVERY == 0:
            ckpt_s = 5.5 + rng.random() * 2
            name = "final" if step == STEPS else f"step_{step:06d}"
            log.append(f"checkpoint: saved ckpt/{name} (0.99 GB, model only) in {ckpt_s:.1f}s")
            elapsed += ckpt_s

    n_correct = sum(correct)
    acc = round(n_correct / N_ITEMS, 4)
    stderr = math.sqrt(acc * (1 - acc) / (N_ITEMS - 1))
    mmlu_s = 405.0 + rng.random() * 15
    elapsed += mmlu_s
    log.extend(
        [
            f"mmlu: 5-shot | 57 subjects | {N_ITEMS} items (fixed subsample, seed {TRAIN_SEED})",
            "|Tasks|Version|Filter|n-shot|Metric|Value |   |Stderr|",
            "|-----|------:|------|-----:|------|-----:|---|-----:|",
            f"|mmlu |      2|none  |     5|acc   |{acc:.4f}|+/-|{stderr:.4f}|",
            f"mmlu: acc {acc:.4f} ({n_correct}/{N_ITEMS}) in {mmlu_s:.1f}s"
            f" | per-item results -> eval_items.jsonl",
            f"final | step {STEPS} | mmlu_acc {acc:.4f} | holdout_ppl {ppl:.2f}",
            f"training finished | {STEPS} steps | wall {fmt_duration(elapsed)} | exit 0",
        ]
    )
    metrics.append({"step": STEPS, "mmlu_acc": acc, "holdout_ppl": ppl})
    result.mmlu_acc, result.n_correct, result.final_ppl = acc, n_correct, ppl
    result.ended_at = plan.start + timedelta(seconds=round(elapsed))
    return result


# ---------------------------------------------------------------------------------------------
# Writers


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def write_json(path: Path, obj: Any, indent: int = 2) -> None:
    write_text(path, json.dumps(obj, indent=indent) + "\n")


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    write_text(path, "".join(json.dumps(row) + "\n" for row in rows))


def iso(ts: datetime) -> str:
    return ts.isoformat()


def write_run(root: Path, result: RunResult, doc_ids: list[int], correct: list[int]) -> None:
    plan, c = result.plan, result.plan.config
    run_dir = root / "runs" / c.run_id
    spec = {
        "run_id": c.run_id,
        "sweep": SWEEP_NAME,
        "config": {
            "rank": c.rank,
            "scheduler": c.scheduler,
            "weight_decay": c.weight_decay,
            "lr": LR,
            "steps": STEPS,
            "seed": TRAIN_SEED,
        },
        "command": command_for(c),
        "host": plan.host,
        "gpus": [plan.gpu],
        "timeout_s": TIMEOUT_S,
    }
    provenance = {
        "git_commit": plan.git_commit,
        "git_dirty": False,
        "python": "3.11.9",
        "torch": "2.5.1+cu124",
        "cuda": "12.4",
        "hostname": plan.host,
        "started_at": iso(plan.start),
        "ended_at": iso(result.ended_at),
    }
    write_json(run_dir / "spec.json", spec)
    write_json(run_dir / "provenance.json", provenance)
    write_text(run_dir / "out.log", "\n".join(result.log_lines) + "\n")
    write_jsonl(run_dir / "metrics.jsonl", result.metrics)
    write_jsonl(
        run_dir / "eval_items.jsonl",
        [{"task": "mmlu", "doc_id": d, "acc": a} for d, a in zip(doc_ids, correct, strict=True)],
    )
    write_text(run_dir / "exit_code", "0\n")


def sweep_doc(configs: list[Config]) -> dict[str, Any]:
    baseline = Config(*(levels[0] for levels in FACTORS.values()))
    return {
        "name": SWEEP_NAME,
        "description": (
            f"2^3 full factorial over GaLore rank, LR scheduler and weight decay for"
            f" continual fine-tuning of {MODEL} on conversation data ({STEPS} steps each)."
            " Forgetting is measured by 5-shot MMLU on a fixed 2000-item subsample"
            f" (base model: {100 * BASE_MODEL_MMLU:.2f}%) and by held-out perplexity on general"
            " text. Runs are blocked over hosts demo-a/demo-b on the three-way interaction."
        ),
        "factors": FACTORS,
        "baseline": baseline.run_id,
        "primary_metric": "mmlu_acc",
        "thresholds": {"mmlu_acc": {"max_drop": 0.05}},
        "runs": [c.run_id for c in configs],
    }


# ---------------------------------------------------------------------------------------------
# ideas.json (AI-Scientist shape)

IDEAS: list[dict[str, Any]] = [
    {
        "Name": "galore_rank_scaling",
        "Title": "A Rank Scaling Rule for Forgetting-Aware GaLore Fine-Tuning",
        "Experiment": "Repeat the rank ablation (rank 256/128/64/32/16) on 0.5B, 1.1B, 2.6B and"
        " 8B models with the same conversation data and step budget. For each size find the"
        " largest rank whose MMLU drop stays within 5 points, and fit rank against parameter"
        " count on a log-log scale to test whether rank scales like 1/sqrt(params).",
        "Interestingness": 8,
        "Feasibility": 6,
        "Novelty": 7,
        "novel": True,
    },
    {
        "Name": "pretraining_replay_buffer",
        "Title": "Mixing a Small Pretraining Replay Buffer into Conversational Fine-Tuning",
        "Experiment": "Interleave 1%, 5% and 10% of each batch with samples from a general text"
        " corpus (replay buffer) while fine-tuning with GaLore rank 128. Compare MMLU, held-out"
        " perplexity and conversation loss against the no-replay baseline at equal token budget.",
        "Interestingness": 6,
        "Feasibility": 9,
        "Novelty": 3,
        "novel": False,
    },
    {
        "Name": "lora_vs_galore_knowledge",
        "Title": "Do Adapters Learn or Patch? LoRA versus GaLore on Knowledge Integration",
        "Experiment": "Fine-tune the same model on conversations containing new facts with LoRA"
        " and with GaLore at matched rank and steps. Measure held-out perplexity, MMLU and a"
        " probe set of paraphrased questions about the injected facts to separate memorisation"
        " from integration.",
        "Interestingness": 8,
        "Feasibility": 7,
        "Novelty": 6,
        "novel": True,
    },
    {
        "Name": "adaptive_galore_rank",
        "Title": "Per-Layer Adaptive GaLore Rank from Gradient Spectra",
        "Experiment": "At each projection refresh, choose the rank of every layer as the number"
        " of singular values needed to keep 90% of the gradient energy, instead of one global"
        " rank. Compare forgetting and memory use against fixed ranks 64 and 128.",
        "Interestingness": 7,
        "Feasibility": 6,
        "Novelty": 4,
        "novel": False,
    },
    {
        "Name": "forgetting_probe_early_stop",
        "Title": "Early Stopping on a Forgetting Probe",
        "Experiment": "Evaluate a 200-item MMLU subsample every 100 steps and stop training when"
        " its accuracy falls more than 2 points below the base model, or roll back to the best"
        " checkpoint. Compare final conversation loss and full-MMLU accuracy against fixed-length"
        " training.",
        "Interestingness": 6,
        "Feasibility": 9,
        "Novelty": 5,
        "novel": True,
    },
    {
        "Name": "ewc_in_projected_subspace",
        "Title": "Elastic Weight Consolidation in the GaLore Projected Subspace",
        "Experiment": "Estimate a diagonal Fisher information of the base model on general text,"
        " project it with the current GaLore projection matrices and add the EWC penalty in the"
        " low-rank space. Compare forgetting against plain GaLore and against full-space EWC"
        " at equal compute.",
        "Interestingness": 9,
        "Feasibility": 5,
        "Novelty": 8,
        "novel": True,
    },
    {
        "Name": "schedule_consolidation",
        "Title": "Does Cosine Decay Consolidate or Overwrite? LR Schedules and Forgetting",
        "Experiment": "Hold rank and weight decay fixed and compare constant, cosine, linear and"
        " warmup-stable-decay schedules, evaluating MMLU every 250 steps to see whether the"
        " annealing phase recovers general knowledge lost earlier in training.",
        "Interestingness": 5,
        "Feasibility": 9,
        "Novelty": 3,
        "novel": False,
    },
]


# ---------------------------------------------------------------------------------------------
# Paper drafts
#
# Three versions of one short paper. v1 predates the sweep (pilot numbers only), v2 adds the
# results the morning after but quotes one stale number, v3 fixes it and adds the statistics.
# Every sweep number quoted is computed from the generated results, so a claim checker can
# verify the drafts against metrics.jsonl.

BASELINE_KEY = (128, "none", 0.1)


@dataclass(frozen=True)
class ResultRow:
    config: Config
    mmlu_pct: float
    holdout_ppl: float
    late_loss: float  # mean train loss over the last 100 steps: less noisy than one step


@dataclass(frozen=True)
class PaperNumbers:
    rows: list[ResultRow]
    effects: dict[str, float]  # main effects in MMLU points, keyed by factor
    tests: dict[str, tuple[int, int, float]]  # factor -> McNemar (b, c, p) vs the baseline

    def row(self, key: tuple[int, str, float]) -> ResultRow:
        return next(r for r in self.rows if r.config.key == key)

    @property
    def best(self) -> ResultRow:
        return max(self.rows, key=lambda r: r.mmlu_pct)


def late_loss(result: RunResult) -> float:
    losses = [
        m["train_loss"] for m in result.metrics if m["step"] > STEPS - 100 and "train_loss" in m
    ]
    return sum(losses) / len(losses)


def paper_numbers(results: list[RunResult], correct: dict[str, list[int]]) -> PaperNumbers:
    rows = [ResultRow(r.plan.config, 100 * r.mmlu_acc, r.final_ppl, late_loss(r)) for r in results]
    effects = {}
    for index, name in enumerate(FACTORS):
        high = [r.mmlu_pct for r in rows if r.config.signs()[index] > 0]
        low = [r.mmlu_pct for r in rows if r.config.signs()[index] < 0]
        effects[name] = sum(high) / len(high) - sum(low) / len(low)
    # The one-factor-at-a-time comparisons against the baseline that the paper tests.
    one_change = {
        "rank": Config(64, "none", 0.1),
        "scheduler": Config(128, "cosine", 0.1),
        "weight_decay": Config(128, "none", 0.2),
    }
    baseline_items = correct[Config(*BASELINE_KEY).run_id]
    tests = {name: mcnemar(baseline_items, correct[c.run_id]) for name, c in one_change.items()}
    return PaperNumbers(rows, effects, tests)


def fill(template: str, values: dict[str, str]) -> str:
    """Replace @@name@@ placeholders; LaTeX braces make str.format impractical."""
    for name, value in values.items():
        template = template.replace(f"@@{name}@@", value)
    if "@@" in template:
        start = template.index("@@")
        raise KeyError(f"unfilled placeholder near {template[start : start + 40]!r}")
    return template


def fmt_p(p: float) -> str:
    return f"{p:.4f}" if p >= 1e-4 else "<0.0001"


def table_rows(nums: PaperNumbers, version: int) -> str:
    baseline_pct = nums.row(BASELINE_KEY).mmlu_pct
    lines = []
    for row in nums.rows:
        c, pct = row.config, row.mmlu_pct
        if version == 2 and c.key == STALE_RUN_CONFIG:
            pct += STALE_OFFSET_PCT  # copied from the step-2250 checkpoint eval; fixed in v3
        cells = [
            f"\\texttt{{{c.run_id}}}",
            str(c.rank),
            "cosine" if c.scheduler == "cosine" else "constant",
            str(c.weight_decay),
            f"{pct:.2f}",
            "---" if c.key == BASELINE_KEY else f"{pct - baseline_pct:+.2f}",
        ]
        if version >= 3:
            cells.append(f"{row.holdout_ppl:.2f}")
        lines.append("    " + " & ".join(cells) + " \\\\\n")
    return "".join(lines)


def effect_rows(nums: PaperNumbers) -> str:
    labels = {
        "rank": "Rank 128 $\\to$ 64",
        "scheduler": "Constant $\\to$ cosine",
        "weight_decay": "Weight decay 0.1 $\\to$ 0.2",
    }
    lines = []
    for name, label in labels.items():
        only_base, only_other, p = nums.tests[name]
        lines.append(
            f"    {label} & {nums.effects[name]:+.2f} & {only_base} / {only_other}"
            f" & {fmt_p(p)} \\\\\n"
        )
    return "".join(lines)


def paper_values(nums: PaperNumbers, version: int) -> dict[str, str]:
    base, best = nums.row(BASELINE_KEY), nums.best
    rank64 = [r for r in nums.rows if r.config.rank == 64]
    rank128 = [r for r in nums.rows if r.config.rank == 128]
    loss_cost = sum(r.late_loss for r in rank64) / 4 - sum(r.late_loss for r in rank128) / 4
    ppls = [r.holdout_ppl for r in nums.rows]
    return {
        "base_mmlu": f"{100 * BASE_MODEL_MMLU:.2f}",
        "base_ppl": f"{BASE_HOLDOUT_PPL:.2f}",
        "rank_effect": f"{nums.effects['rank']:+.2f}",
        "rank_effect_round": f"{nums.effects['rank']:.1f}",
        "sched_effect": f"{nums.effects['scheduler']:+.2f}",
        "wd_effect": f"{nums.effects['weight_decay']:+.2f}",
        "rank_p": fmt_p(nums.tests["rank"][2]),
        "best_run": f"\\texttt{{{best.config.run_id}}}",
        "best_pct": f"{best.mmlu_pct:.2f}",
        "best_drop": f"{100 * BASE_MODEL_MMLU - best.mmlu_pct:.2f}",
        "baseline_drop": f"{100 * BASE_MODEL_MMLU - base.mmlu_pct:.2f}",
        "loss_cost": f"{loss_cost:.3f}",
        "ppl_lo": f"{min(ppls):.2f}",
        "ppl_hi": f"{max(ppls):.2f}",
        "table_rows": table_rows(nums, version),
        "effect_rows": effect_rows(nums),
    }


PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[margin=1in]{geometry}
\usepackage{amsmath,amssymb}
\usepackage{booktabs}
\usepackage{graphicx}
\usepackage{hyperref}
% \usepackage{natbib}  % switch on for the camera-ready version

\title{@@title@@}
\author{Anonymous Authors}
\date{}

\begin{document}
\maketitle
"""

TITLE_V1 = "Learning from Conversations without Forgetting: A GaLore Study"
TITLE_V2 = (
    "Forgetting Less by Projecting Less: Gradient Low-Rank Projection for Continual Learning"
    " from Conversations"
)

METHOD = r"""
\section{Method}
\label{sec:method}

\paragraph{Gradient low-rank projection.}
For a weight matrix $W \in \mathbb{R}^{m \times n}$ with gradient $G_t$, GaLore
\cite{zhao2024galore} keeps a projection $P_t \in \mathbb{R}^{m \times r}$ built from the top-$r$
left singular vectors of $G_t$, refreshed every $T$ steps. The optimizer state lives in the
projected space,
\begin{equation}
  \tilde{G}_t = P_t^\top G_t, \qquad
  W_{t+1} = W_t - \eta_t \, \alpha \, P_t \, \rho(\tilde{G}_t),
  \label{eq:galore}
\end{equation}
where $\rho$ is the Adam update and $\alpha$ a scale. Unlike LoRA \cite{hu2022lora}, every
weight is updated; the rank $r$ only limits the subspace each update can move in.
@@method_extra@@
\paragraph{Forgetting.}
We measure forgetting as the drop in 5-shot MMLU accuracy \cite{hendrycks2021mmlu} relative to
the base model, and as the rise in perplexity on a held-out general-text corpus that shares no
documents with the conversation data.
"""

METHOD_EXTRA_V2 = r"""
The projection is recomputed by an SVD every $T$ steps. Between two refreshes the update of a
matrix has rank at most $r$, so a smaller $r$ lets each step disturb fewer directions of the
pretrained weights. The optimizer state shrinks from $2mn$ to $2rn$ values per matrix.
"""

DATA = r"""
\paragraph{Data.} The conversation corpus (\texttt{convos\_v3}) holds 184{,}312 multi-turn
conversations between users and an assistant, deduplicated and filtered for personal data,
392M tokens after chat templating; 1{,}000 conversations are held out for validation. The
forgetting probe is a separate corpus of 2{,}000 documents (4.1M tokens) from WikiText-103 and
C4 that the conversations never quote.
"""

RELATED_V1 = r"""
\section{Related Work}
\paragraph{Catastrophic forgetting.} Networks trained on one task after another lose
performance on the earlier tasks \cite{kirkpatrick2017ewc}. Remedies either penalise changes
to weights that matter for old tasks, or replay old data. % TODO: cite a replay paper
\paragraph{Forgetting in LLM fine-tuning.} General knowledge, reading comprehension and
reasoning all degrade during continual instruction tuning \cite{luo2023forgetting}.
% check: do they report MMLU?
\paragraph{Memory-efficient fine-tuning.} LoRA \cite{hu2022lora} trains low-rank adapters next
to frozen weights; GaLore \cite{zhao2024galore} trains all weights with low-rank optimizer
states. Neither was designed with forgetting in mind.
"""

RELATED_V2 = r"""
\section{Related Work}
Networks trained on one task after another lose performance on the earlier ones
\cite{kirkpatrick2017ewc}; in language models, general knowledge and reasoning degrade during
continual instruction tuning \cite{luo2023forgetting}. LoRA \cite{hu2022lora} trains low-rank
adapters next to frozen weights, GaLore \cite{zhao2024galore} trains all weights with low-rank
optimizer states. Neither was designed with forgetting in mind, and we know of no study of how
GaLore's hyperparameters affect it.
"""

FIGURE = r"""
\begin{figure}[t]
  \centering
  \includegraphics[width=0.9\linewidth]{fig/doe_loss_curves.pdf}
  \caption{Training loss of the eight runs, smoothed over 50 steps. The runs share the data
  order, so their curves move together; the cosine runs separate from the constant ones after
  step 1500, and the rank-64 runs stay slightly above the rank-128 runs throughout.}
  \label{fig:loss}
\end{figure}
"""

V1_BODY = r"""
\begin{abstract}
Language models deployed as assistants see a stream of conversations that could, in principle,
be used to keep them up to date. Fine-tuning on such data, however, tends to erode what the
model already knows. We study continual fine-tuning of a 0.5B-parameter model on conversation
data with GaLore, a memory-efficient optimizer that projects gradients onto a low-rank
subspace. In a pilot run the model lost 4.8 MMLU points. We hypothesise that the projection
rank controls how much of the pretrained knowledge is overwritten, and outline a factorial
study of rank, learning-rate schedule and weight decay.
% TODO: rewrite once the DOE is in
\end{abstract}

\section{Introduction}
Every conversation an assistant has is potential training data. Using it is attractive: the
model would learn new facts, new user preferences and new styles of interaction without a
full retraining cycle. The obstacle is catastrophic forgetting \cite{kirkpatrick2017ewc}:
gradient updates that fit the new data move the weights away from the solution that encoded
the old knowledge, and general benchmarks degrade \cite{luo2023forgetting}.

Parameter-efficient methods such as LoRA \cite{hu2022lora} limit how far the weights can move,
but they also limit what can be learned. GaLore \cite{zhao2024galore} takes a different route:
it updates all weights, but each update lies in a low-rank subspace of the gradient. This makes
the rank a natural knob between plasticity and stability.

This draft reports a pilot experiment and the design of the main study.
% NOTE(agent): pilot numbers are from exp001, 500 steps, rank 256
@@related@@@@method@@
\section{Experimental Setup}
\label{sec:setup}
We fine-tune Qwen2.5-0.5B for 2500 steps of 114,688 tokens, with GaLore applied to all
attention and MLP matrices (168 matrices). The learning rate is $10^{-4}$ after a 100-step
linear warmup. MMLU is evaluated 5-shot on a fixed subsample of 2000 items so that every model
is scored on the same questions. Held-out perplexity is computed on the forgetting probe.
@@data@@
\section{Pilot Results}
\label{sec:pilot}
\begin{table}[t]
  \centering
  \begin{tabular}{lcc}
    \toprule
    Model & MMLU (\%) & Held-out ppl \\
    \midrule
    Base (Qwen2.5-0.5B) & @@base_mmlu@@ & @@base_ppl@@ \\
    Pilot, rank 256, 500 steps & 43.45 & 13.51 \\
    \bottomrule
  \end{tabular}
  \caption{Pilot run. The fine-tuned model loses 4.8 MMLU points and its held-out perplexity
  rises by 14\%.}
  \label{tab:pilot}
\end{table}

Table~\ref{tab:pilot} shows the problem: a short run already costs almost five MMLU points.
The training loss, meanwhile, decreased smoothly, so the loss curve alone would not have
revealed the damage.
% \begin{figure}[t]
%   \includegraphics[width=\linewidth]{fig/pilot_loss.pdf}
%   \caption{Training loss and MMLU of the pilot run.}
% \end{figure}

\section{Planned Study}
We will run a $2^3$ full factorial design over the GaLore rank $r \in \{128, 64\}$, the
learning-rate schedule (constant or cosine) and the weight decay $\lambda \in \{0.1, 0.2\}$,
one run per configuration on a single A100 each.

\paragraph{Hypotheses.}
\begin{itemize}
  \item[H1] A lower projection rank reduces forgetting, because each update can move the
    weights in fewer directions.
  \item[H2] A decaying learning rate reduces forgetting late in training.
  \item[H3] Stronger weight decay pulls the weights towards zero, not towards the pretrained
    solution, and should therefore not help.
\end{itemize}
% TODO: table with all eight configs
% TODO: decide on significance test (paired t-test over items?)

\section{Conclusion}
Continual learning from conversations needs a way to trade plasticity for stability. The rank
of GaLore's projection is a promising candidate; the factorial study will tell.
"""

V2_BODY = r"""
\begin{abstract}
Assistants see a stream of conversations that could keep them up to date, but fine-tuning on
that stream erodes what the model already knows. We fine-tune Qwen2.5-0.5B on conversation data
with GaLore and run a $2^3$ factorial experiment over projection rank, learning-rate schedule
and weight decay. The projection rank is the dominant factor: lowering it from 128 to 64
reduces forgetting by about @@rank_effect_round@@ MMLU points, while the schedule matters less
and weight decay not at all.
\end{abstract}

\section{Introduction}
Every conversation an assistant has is potential training data: new facts, new preferences,
new styles of interaction. Learning from it without a full retraining cycle is attractive, but
fine-tuning causes catastrophic forgetting \cite{kirkpatrick2017ewc}: the updates that fit the
new data overwrite the old knowledge, and general benchmarks degrade \cite{luo2023forgetting}.

Adapters such as LoRA \cite{hu2022lora} restrict how far the weights move. GaLore
\cite{zhao2024galore} instead updates all weights but confines every update to a low-rank
subspace of the gradient, which makes the rank a direct knob between plasticity and stability.
We ask which training hyperparameters control forgetting under GaLore, and answer with a
factorial experiment rather than one-at-a-time ablations.
@@related@@@@method@@
\section{Experimental Setup}
\label{sec:setup}
We fine-tune Qwen2.5-0.5B for 2500 steps of 114,688 tokens (287M tokens), with GaLore on all
168 attention and MLP matrices, projections refreshed every 200 steps, and a peak learning
rate of $10^{-4}$ after 100 warmup steps. MMLU is evaluated 5-shot on a fixed subsample of
2000 items; held-out perplexity on the forgetting probe.
@@data@@
\subsection{Factorial design}
We vary three factors at two levels each (Table~\ref{tab:doe}): rank $r \in \{128, 64\}$,
schedule (constant or cosine decay to $10^{-5}$ \cite{loshchilov2017sgdr}) and weight decay
$\lambda \in \{0.1, 0.2\}$, giving eight runs that share seed and data order. Runs were split
over two 4-GPU hosts in blocks confounded with the three-way interaction
\cite{montgomery2017doe}. The baseline is $r{=}128$, constant schedule, $\lambda{=}0.1$.

\section{Results}
\begin{table}[t]
  \centering
  \begin{tabular}{lccccc}
    \toprule
    Run & Rank & Schedule & WD & MMLU (\%) & $\Delta$ vs.\ baseline \\
    \midrule
@@table_rows@@    \bottomrule
  \end{tabular}
  \caption{MMLU (5-shot, 2000 items) after 2500 steps. Base model: @@base_mmlu@@\%.}
  \label{tab:doe}
\end{table}

Table~\ref{tab:doe} lists all eight runs. Every rank-64 run beats every rank-128 run. The main
effect of rank is @@rank_effect@@ points, that of the cosine schedule @@sched_effect@@ points
and that of weight decay @@wd_effect@@ points. Interactions are negligible.
@@figure@@
\paragraph{Training dynamics.} Figure~\ref{fig:loss} shows the price of a lower rank: over the
last 100 steps the rank-64 runs average a training loss @@loss_cost@@ higher than the rank-128
runs. The cosine runs end lower than the constant ones, as expected from annealing.

% TODO(agent): significance test
% TODO: held-out perplexity column

\section{Discussion}
Why would a smaller rank forget less? Between two projection refreshes, the update to a matrix
lies in an $r$-dimensional subspace, so halving $r$ halves the number of directions in which
the pretrained weights can drift per refresh interval. The schedule acts on the step size
instead, and only late in training; weight decay pulls towards zero rather than towards the
pretrained weights, so it was never likely to help (H3 in the plan).
% TODO: is the effect monotone in r? try rank 32

\section{Conclusion}
Under GaLore, the projection rank, not the schedule or the regularisation, decides how much a
model forgets while learning from conversations. A lower rank forgets less at a small cost in
training loss.
"""

V3_BODY = r"""
\begin{abstract}
Assistants see a stream of conversations that could keep them up to date, but fine-tuning on
that stream erodes what the model already knows. We fine-tune Qwen2.5-0.5B on conversation data
with GaLore and run a $2^3$ factorial experiment over projection rank, learning-rate schedule
and weight decay. The projection rank is the only factor with a significant effect: lowering
it from 128 to 64 improves MMLU by @@rank_effect@@ points (paired McNemar test,
$p=@@rank_p@@$) and slows the rise of held-out perplexity. The cosine schedule adds
@@sched_effect@@ points, which is not significant, and weight decay has no effect.
\end{abstract}

\section{Introduction}
Every conversation an assistant has is potential training data: new facts, new preferences,
new styles of interaction. Learning from it without a full retraining cycle is attractive, but
fine-tuning causes catastrophic forgetting \cite{kirkpatrick2017ewc,luo2023forgetting}: the
updates that fit the new data overwrite old knowledge.

Adapters such as LoRA \cite{hu2022lora} restrict how far the weights move, and forget less
partly because they learn less \cite{biderman2024lora}. GaLore \cite{zhao2024galore} updates
all weights but confines every update to a low-rank subspace of the gradient, which makes the
rank a direct knob between plasticity and stability. We ask which training hyperparameters
control forgetting under GaLore and answer with a factorial experiment, analysed with paired
tests on the same benchmark items.

Our contributions: (i) a $2^3$ design showing that rank dominates forgetting; (ii) evidence
that the schedule and weight decay, often tuned first, do not matter at this scale; (iii) an
item-level analysis that makes a one-point difference on 2000 questions testable.

\section{Related Work}
Continual learning methods regularise important weights \cite{kirkpatrick2017ewc} or replay
old data \cite{rolnick2019replay}. For language models, forgetting during instruction tuning
grows with model scale and training length \cite{luo2023forgetting}. Low-rank methods trade
capacity for stability \cite{hu2022lora,biderman2024lora}; GaLore \cite{zhao2024galore} was
designed for memory efficiency, and its effect on forgetting has not been studied.
@@method@@
\section{Experimental Setup}
\label{sec:setup}
We fine-tune Qwen2.5-0.5B for 2500 steps of 114,688 tokens (287M tokens), with GaLore on all
168 attention and MLP matrices, projections refreshed every $T=200$ steps, and a peak learning
rate of $10^{-4}$ after 100 warmup steps. MMLU is evaluated 5-shot on a fixed subsample of 2000
items; held-out perplexity on the forgetting probe (base model: @@base_ppl@@).
@@data@@
\subsection{Factorial design}
We vary three factors at two levels each: rank $r \in \{128, 64\}$, schedule (constant, or
cosine decay to $10^{-5}$ \cite{loshchilov2017sgdr}) and weight decay
$\lambda \in \{0.1, 0.2\}$. The eight runs share seed and data order and were split over two
4-GPU hosts in blocks confounded with the three-way interaction \cite{montgomery2017doe}. The
baseline is $r{=}128$, constant schedule, $\lambda{=}0.1$.

\subsection{Statistical analysis}
All runs answer the same 2000 items, so we compare two runs with the exact McNemar test on
the items where exactly one of them is correct \cite{mcnemar1947}, and correct for the three
factor comparisons with Holm's method. Main effects are the difference between the mean MMLU
of the four runs at the high and at the low level of a factor.

\section{Results}
% fixed in v3: the r64/cosine/0.1 row used to quote the step-2250 checkpoint
\begin{table}[t]
  \centering
  \begin{tabular}{lcccccc}
    \toprule
    Run & Rank & Schedule & WD & MMLU (\%) & $\Delta$ vs.\ baseline & Held-out ppl \\
    \midrule
@@table_rows@@    \bottomrule
  \end{tabular}
  \caption{MMLU (5-shot, 2000 items) and held-out perplexity after 2500 steps. Base model:
  @@base_mmlu@@\% MMLU, perplexity @@base_ppl@@.}
  \label{tab:doe}
\end{table}

Table~\ref{tab:doe} lists all eight runs; the best is @@best_run@@ with @@best_pct@@\%, a
drop of @@best_drop@@ points from the base model, against @@baseline_drop@@ for the baseline.
Every rank-64 run beats every rank-128 run, and held-out perplexity, which rises from
@@base_ppl@@ to between @@ppl_lo@@ and @@ppl_hi@@, separates the two ranks just as cleanly.

\begin{table}[t]
  \centering
  \begin{tabular}{lccc}
    \toprule
    Factor & Main effect (pts) & Discordant items (b / c) & $p$ (McNemar) \\
    \midrule
@@effect_rows@@    \bottomrule
  \end{tabular}
  \caption{Main effects on MMLU, and a McNemar test of the baseline against the run that
  changes only that factor ($b$: only the baseline correct, $c$: only the other run).}
  \label{tab:effects}
\end{table}

Table~\ref{tab:effects} separates the factors. Only the rank effect survives the Holm
correction. The cosine schedule moves MMLU by @@sched_effect@@ points and weight decay by
@@wd_effect@@; neither is distinguishable from noise on 2000 items, so we report
\emph{no significant difference} for both.
@@figure@@
\paragraph{Training dynamics.} The lower rank has a price (Figure~\ref{fig:loss}): over the
last 100 steps the rank-64 runs average a training loss @@loss_cost@@ higher than the rank-128
runs. Annealing lowers the final loss of the cosine runs without a significant MMLU gain.

\section{Discussion}
Between two projection refreshes the update to a matrix lies in an $r$-dimensional subspace;
halving $r$ halves the directions in which the pretrained weights can drift per refresh
interval, which is consistent with both the MMLU and the perplexity results. Weight decay pulls
towards zero rather than towards the pretrained weights, so its null effect is unsurprising.
% reviewer-style note: an EWC penalty in the projected space would pull towards the base model

\paragraph{Limitations.} One seed per configuration, one model size and one data set. The
held-out perplexity tracks MMLU, but we did not test whether the trend holds at 1B and beyond,
nor whether the effect is monotone below rank 64.

\section{Conclusion}
Under GaLore, the projection rank, not the schedule or the regularisation, decides how much a
model forgets while learning from conversations. Halving the rank from 128 to 64 recovers
@@rank_effect@@ MMLU points at a cost of @@loss_cost@@ in training loss.
"""

BIB_COMMON = r"""
\begin{thebibliography}{9}
\bibitem{zhao2024galore} J.~Zhao, Z.~Zhang, B.~Chen, Z.~Wang, A.~Anandkumar, Y.~Tian.
  GaLore: Memory-efficient LLM training by gradient low-rank projection. ICML, 2024.
\bibitem{hu2022lora} E.~J.~Hu et al. LoRA: Low-rank adaptation of large language models.
  ICLR, 2022.
\bibitem{hendrycks2021mmlu} D.~Hendrycks et al. Measuring massive multitask language
  understanding. ICLR, 2021.
\bibitem{kirkpatrick2017ewc} J.~Kirkpatrick et al. Overcoming catastrophic forgetting in
  neural networks. PNAS, 2017.
\bibitem{luo2023forgetting} Y.~Luo et al. An empirical study of catastrophic forgetting in
  large language models during continual fine-tuning. arXiv:2308.08747, 2023.
"""

BIB_V2 = r"""\bibitem{loshchilov2017sgdr} I.~Loshchilov, F.~Hutter. SGDR: Stochastic gradient
  descent with warm restarts. ICLR, 2017.
\bibitem{montgomery2017doe} D.~C.~Montgomery. Design and Analysis of Experiments. Wiley, 2017.
"""

BIB_V3 = r"""\bibitem{biderman2024lora} D.~Biderman et al. LoRA learns less and forgets less.
  TMLR, 2024.
\bibitem{rolnick2019replay} D.~Rolnick et al. Experience replay for continual learning.
  NeurIPS, 2019.
\bibitem{mcnemar1947} Q.~McNemar. Note on the sampling error of the difference between
  correlated proportions or percentages. Psychometrika, 1947.
"""

END = r"""\end{thebibliography}

\end{document}
"""


@dataclass(frozen=True)
class DraftVersionSpec:
    version: int
    message: str
    created_at: datetime
    title: str
    body: str
    related: str
    method_extra: str
    bibliography: str


PAPER_VERSIONS = [
    DraftVersionSpec(
        1,
        "Initial draft: intro, GaLore method, pilot results, planned 2^3 study",
        datetime(2026, 11, 18, 15, 42, 10, tzinfo=UTC),
        TITLE_V1,
        V1_BODY,
        RELATED_V1,
        "",
        BIB_COMMON,
    ),
    DraftVersionSpec(
        2,
        "Add DOE results table, main effects and discussion from the overnight sweep",
        datetime(2026, 11, 22, 9, 12, 37, tzinfo=UTC),
        TITLE_V2,
        V2_BODY,
        RELATED_V2,
        METHOD_EXTRA_V2,
        BIB_COMMON + BIB_V2,
    ),
    DraftVersionSpec(
        3,
        "Fix stale r64/cosine/wd0.1 number, add McNemar analysis, related work, ppl column",
        datetime(2026, 11, 23, 16, 47, 2, tzinfo=UTC),
        TITLE_V2,
        V3_BODY,
        "",  # v3 has its own, longer related-work section in the body
        METHOD_EXTRA_V2,
        BIB_COMMON + BIB_V2 + BIB_V3,
    ),
]


def render_paper(spec: DraftVersionSpec, nums: PaperNumbers) -> str:
    values = paper_values(nums, spec.version)
    values |= {
        "title": spec.title,
        "related": spec.related,
        "method": fill(METHOD, {"method_extra": spec.method_extra}),
        "data": DATA,
        "figure": FIGURE,
    }
    # Section chunks are substituted first so their own placeholders get filled too.
    text = PREAMBLE + spec.body + spec.bibliography + END
    for chunk in ("related", "method", "data", "figure"):
        text = text.replace(f"@@{chunk}@@", values[chunk])
    return fill(text, values)


def write_paper(root: Path, results: list[RunResult], correct: dict[str, list[int]]) -> None:
    nums = paper_numbers(results, correct)
    versions = []
    for spec in PAPER_VERSIONS:
        name = f"draft_v{spec.version}.tex"
        write_text(root / "paper" / name, render_paper(spec, nums))
        versions.append(
            {
                "version": spec.version,
                "file": name,
                "message": spec.message,
                "created_at": iso(spec.created_at),
            }
        )
    write_json(root / "paper" / "versions.json", versions)


# ---------------------------------------------------------------------------------------------


def generate(root: Path) -> list[RunResult]:
    configs = yates_order()
    plans = plan_runs(configs)
    doc_ids, correct = make_eval_items(configs)
    noise = batch_noise()
    results = []
    for plan in plans:
        run_correct = correct[plan.config.run_id]
        result = simulate_run(plan, noise, run_correct)
        write_run(root, result, doc_ids, run_correct)
        results.append(result)
    write_json(root / "sweep.json", sweep_doc(configs))
    write_json(root / "ideas.json", IDEAS, indent=4)
    write_paper(root, results, correct)
    return results


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    results = generate(root)
    for r in results:
        print(
            f"{r.plan.config.run_id:<24} {r.plan.host}:{r.plan.gpu} mmlu_acc {r.mmlu_acc:.4f}"
            f" holdout_ppl {r.final_ppl:.2f} ended {iso(r.ended_at)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

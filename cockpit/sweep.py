"""Sweep specs (TOML) into runs: parsing with one-line errors that name the field, and the
expansion of factors x seeds into RunSpecs whose commands quote every value.

A value from the spec reaches the command only through shlex.quote, so spaces, quotes,
`$()`, backticks, `;` and newlines arrive in the script byte for byte and never run.
"""

from __future__ import annotations

import itertools
import math
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cockpit.metric_names import SEED_KEYS
from cockpit.models import RunSpec, Sweep
from cockpit.stats import threshold_for
from cockpit.validate import (
    ValidationError,
    read_input_text,
    valid_env_name,
    valid_gpus,
    valid_name,
    valid_time_limit,
    valid_workdir,
)

FIELDS = (
    "name",
    "command",
    "factors",
    "seeds",
    "gpus",
    "time_limit",
    "hosts",
    "workdir",
    "env",
    "baseline",
    "primary_metric",
    "direction",
    "thresholds",
)
# {name} in the command is a placeholder; ${NAME} (the shell's own) is not.
PLACEHOLDER = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
Level = str | int | float | bool
# Every run of a sweep is planned, recorded and sent at once: a spec whose factors multiply
# past this (2^20 configs) is a mistake, and would hold the cockpit for minutes.
MAX_RUNS = 10_000


class SpecError(ValidationError):
    """A sweep spec that cannot be launched: one line naming the file and the field."""


@dataclass(frozen=True)
class SweepSpec:
    name: str
    command: str
    factors: dict[str, list[Level]]
    seeds: tuple[int, ...] = ()
    gpus: int = 1
    time_limit_s: int | None = None
    hosts: tuple[str, ...] = ()  # empty: any host that can run
    workdir: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    baseline: dict[str, Level] | None = None
    primary_metric: str | None = None
    higher_is_better: bool | None = None
    thresholds: dict[str, Any] = field(default_factory=dict)


def load_spec(path: str | Path) -> SweepSpec:
    try:
        text = read_input_text(path, "sweep spec")
    except ValidationError as exc:
        raise SpecError(str(exc)) from None
    return parse_spec_text(text, str(Path(path).expanduser()))


def parse_spec_text(text: str, source: str) -> SweepSpec:
    """A spec from its TOML text; `source` (a path, or what proposed it) starts any error."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{source}: not valid TOML: {exc}") from None
    try:
        return parse_spec(data)
    except ValidationError as exc:
        raise SpecError(f"{source}: {exc}") from None


def _level(value: Any, where: str) -> Level:
    if not isinstance(value, str | int | float | bool):
        raise ValidationError(f"{where}: levels must be strings, numbers or booleans")
    return value


def parse_spec(data: dict[str, Any]) -> SweepSpec:
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r} (fields: {', '.join(FIELDS)})")
    name = data.get("name")
    if not isinstance(name, str):
        raise ValidationError("name: required, a string")
    valid_name(name, "name")
    command = data.get("command")
    if not isinstance(command, str) or not command.strip():
        raise ValidationError("command: required, a non-empty string")

    raw_factors = data.get("factors", {})
    if not isinstance(raw_factors, dict):
        raise ValidationError("factors: must be a table of factor = [levels]")
    factors: dict[str, list[Level]] = {}
    for factor, levels in raw_factors.items():
        if not ENV_NAME.match(factor):
            raise ValidationError(f"factors.{factor}: a factor name is letters, digits and _")
        if not isinstance(levels, list) or not levels:
            raise ValidationError(f"factors.{factor}: levels must be a non-empty list")
        parsed = [_level(v, f"factors.{factor}") for v in levels]
        if len({repr(v) for v in parsed}) != len(parsed):
            raise ValidationError(f"factors.{factor}: a level is repeated")
        factors[factor] = parsed

    seeds_raw = data.get("seeds", [])
    if not isinstance(seeds_raw, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) for s in seeds_raw
    ):
        raise ValidationError("seeds: must be a list of integers")
    if len(set(seeds_raw)) != len(seeds_raw):
        raise ValidationError("seeds: a seed is repeated")
    if seeds_raw and any(k in factors for k in SEED_KEYS):
        raise ValidationError("seeds: the factors already have a seed; use one or the other")
    runs = math.prod(len(levels) for levels in factors.values()) * max(1, len(seeds_raw))
    if runs > MAX_RUNS:
        raise ValidationError(
            f"factors: {runs} runs (levels multiplied, times the seeds); at most {MAX_RUNS}"
        )

    allowed = set(factors) | ({"seed"} if seeds_raw else set())
    for placeholder in PLACEHOLDER.findall(command):
        if placeholder not in allowed:
            raise ValidationError(
                f"command: placeholder {{{placeholder}}} is not a factor"
                + (" (add seeds = [...] for {seed})" if placeholder == "seed" else "")
            )

    gpus = valid_gpus(data.get("gpus", 1))
    time_limit = data.get("time_limit")
    limit_s = None if time_limit is None else valid_time_limit(time_limit)

    hosts_raw = data.get("hosts", "any")
    if hosts_raw == "any":
        hosts: tuple[str, ...] = ()
    elif isinstance(hosts_raw, list) and hosts_raw and all(isinstance(h, str) for h in hosts_raw):
        hosts = tuple(valid_name(h, "hosts entry") for h in hosts_raw)
    else:
        raise ValidationError('hosts: must be "any" or a list of host names')

    workdir = data.get("workdir")
    if workdir is not None:
        valid_workdir(workdir)
    env_raw = data.get("env", {})
    if not isinstance(env_raw, dict):
        raise ValidationError("env: must be a table of NAME = value")
    env: dict[str, str] = {}
    for key, value in env_raw.items():
        valid_env_name(key, f"env.{key}")
        if not isinstance(value, str | int | float | bool):
            raise ValidationError(f"env.{key}: must be a string or a number")
        env[key] = str(value)

    baseline_raw = data.get("baseline")
    baseline: dict[str, Level] | None = None
    if baseline_raw is not None:
        if not isinstance(baseline_raw, dict):
            raise ValidationError("baseline: must be a table of factor = level")
        for factor, level in baseline_raw.items():
            if factor not in factors:
                raise ValidationError(f"baseline.{factor}: not a factor")
            if level not in factors[factor]:
                raise ValidationError(f"baseline.{factor}: {level!r} is not one of its levels")
        missing = sorted(set(factors) - set(baseline_raw))
        if missing:
            raise ValidationError(f"baseline: gives no level for factor {missing[0]!r}")
        baseline = dict(baseline_raw)

    primary = data.get("primary_metric")
    if primary is not None and (not isinstance(primary, str) or not primary.strip()):
        raise ValidationError("primary_metric: must be a metric name")
    direction = data.get("direction")
    if direction not in (None, "max", "min"):
        raise ValidationError('direction: must be "max" (higher is better) or "min"')
    if direction is not None and primary is None:
        raise ValidationError("direction: needs a primary_metric")
    thresholds = data.get("thresholds", {})
    if not isinstance(thresholds, dict) or not all(
        isinstance(v, dict) for v in thresholds.values()
    ):
        raise ValidationError("thresholds: must be a table like {acc = {max_drop = 0.05}}")
    for metric, limits in thresholds.items():
        # Checked as `cockpit results` reads them (its keys), so a bad one fails here and
        # not, later, every results view of the database.
        ok = all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in limits.values()
        )
        try:
            threshold_for(metric, thresholds)
        except ValueError:
            ok = False
        if not ok:
            raise ValidationError(
                f"thresholds.{metric}: use max_drop, min or max, each a finite number"
            )
    return SweepSpec(
        name=name,
        command=command,
        factors=factors,
        seeds=tuple(seeds_raw),
        gpus=gpus,
        time_limit_s=limit_s,
        hosts=hosts,
        workdir=workdir,
        env=env,
        baseline=baseline,
        primary_metric=primary,
        higher_is_better=None if direction is None else direction == "max",
        thresholds=thresholds,
    )


def render_command(template: str, values: dict[str, Level]) -> str:
    """The template with each placeholder replaced by its value, shell-quoted."""

    def word(value: Level) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return shlex.quote(str(value))

    return PLACEHOLDER.sub(lambda m: word(values[m.group(1)]), template)


def _label(value: Level) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def expand(spec: SweepSpec) -> list[RunSpec]:
    """One RunSpec per config (the product of the factors' levels) and seed, in order."""
    names = list(spec.factors)
    seeds: list[int | None] = list(spec.seeds) or [None]
    out: list[RunSpec] = []
    for combo in itertools.product(*(spec.factors[n] for n in names)):
        config: dict[str, Any] = dict(zip(names, combo, strict=True))
        for seed in seeds:
            values = dict(config)
            if seed is not None:
                values["seed"] = seed
            label = "-".join(f"{k}={_label(v)}" for k, v in values.items())
            out.append(
                RunSpec(
                    name=f"{spec.name}-{label}" if label else spec.name,
                    command=render_command(spec.command, values),
                    config=values,
                    sweep=spec.name,
                    gpus=spec.gpus,
                    timeout_s=spec.time_limit_s,
                    env=dict(spec.env),
                    workdir=spec.workdir,
                )
            )
    return out


def is_baseline(spec: SweepSpec, run: RunSpec) -> bool:
    return spec.baseline is not None and all(
        run.config.get(k) == v for k, v in spec.baseline.items()
    )


def sweep_record(spec: SweepSpec, baseline_run: str | None, created_at: float) -> Sweep:
    return Sweep(
        name=spec.name,
        factors={k: list(v) for k, v in spec.factors.items()},
        baseline=baseline_run,
        primary_metric=spec.primary_metric,
        thresholds=dict(spec.thresholds),
        created_at=created_at,
    )

"""Small text renderers shared by the panes: bars, sparklines, sizes, durations."""

from __future__ import annotations

from collections.abc import Iterable

from cockpit.render.text import duration

__all__ = ["duration"]  # re-exported: the panes format durations from here

SPARK_CHARS = "▁▂▃▄▅▆▇█"
BAR_FULL = "█"
BAR_PARTIALS = " ▏▎▍▌▋▊▉"


def bar(pct: float | None, width: int = 8) -> str:
    """A horizontal bar with eighth-cell resolution; blank-padded to `width`."""
    if pct is None:
        return "·" * width
    pct = max(0.0, min(100.0, pct))
    eighths = round(pct / 100.0 * width * 8)
    full, part = divmod(eighths, 8)
    text = BAR_FULL * full + (BAR_PARTIALS[part] if part and full < width else "")
    return text.ljust(width)


def sparkline(values: Iterable[float | None], width: int, top: float = 100.0) -> str:
    """The last `width` values as block characters, scaled to 0..top."""
    vals = list(values)[-width:]
    chars = []
    for v in vals:
        if v is None:
            chars.append(" ")
            continue
        level = int(max(0.0, min(1.0, v / top)) * (len(SPARK_CHARS) - 1) + 0.5)
        chars.append(SPARK_CHARS[level])
    return "".join(chars).rjust(width)


def gib(mib: float | None) -> str:
    return "?" if mib is None else f"{mib / 1024:.0f}"


SHORT_KEYS = {"rank": "r", "weight_decay": "wd", "scheduler": "", "learning_rate": "lr", "lr": "lr"}


def config_label(config: dict[str, object], keys: Iterable[str] | None = None) -> str:
    """'rank=64 scheduler=cosine weight_decay=0.1' -> 'r64 cosine wd0.1'."""
    wanted = list(config) if keys is None else [k for k in keys if k in config]
    return " ".join(f"{SHORT_KEYS.get(k, k + '=')}{config[k]}" for k in wanted)


def varying_keys(configs: Iterable[dict[str, object]]) -> list[str]:
    """Config keys whose value differs between runs: the constant ones say nothing."""
    configs = list(configs)
    keys: list[str] = []
    for cfg in configs:
        for k in cfg:
            if k not in keys:
                keys.append(k)
    return (
        [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1]
        if len(configs) > 1
        else keys
    )


def number(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "—"
    return (
        f"{value:.{digits}g}"
        if abs(value) >= 1000
        else f"{value:.{digits}f}".rstrip("0").rstrip(".")
    )

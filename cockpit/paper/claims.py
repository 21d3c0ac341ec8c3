"""The claim check: every number of a draft matched to a recorded result, and the draft's
statements of significance and of its setup checked against the tests and the provenance.

A number is matched when the recorded value rounds to it at the precision it is written
with (0.434 matches 0.43425, 43.4\\% matches 0.434, "2.1 points" a delta of 0.021, 3e-4 and
3 \\times 10^{-4} the same value). Numbers in tables and decimal numbers in prose are result
claims: matching nothing recorded is a problem (possibly invented). Numbers after a setup
word (batch size, learning rate, steps, seeds) are checked against the runs' configs and
provenance where those record the value, and otherwise listed as unchecked. A number that
matched a result at an earlier check and no longer matches it is stale."""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import math
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cockpit.models import Claim, ClaimReport, ClaimSource, Run
from cockpit.models.results import ResultsMatrix
from cockpit.paper.latex import strip_comments
from cockpit.paper.macros import MACRO_DEFINITION, matrix_macros
from cockpit.store import Store

_NUMBER = re.compile(
    r"(?<![\w.\\{])"
    r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?"
    r"(?:\s*(?:[eE](?P<exp>[-+]?\d+)|\\times\s*10\^\{?(?P<exp2>[-\u2212]?\d+)\}?))?"
    r"(?P<pct>\s*\\%|\s*percent\b)?"
    r"(?P<pts>\s*(?:percentage\s+)?points?\b|\s*pp\b)?"
)
# Spans whose digits are not claims: math displays, commands' arguments that are keys,
# sizes or file names, and the preamble's settings.
_SKIP = re.compile(
    r"\\begin\{(equation|align|gather|multline|eqnarray)\*?\}.*?\\end\{\1\*?\}"
    r"|\\\[.*?\\\]|\$\$.*?\$\$"
    r"|\\[a-zA-Z]*(?:cite|ref|label|graphics|url|href|input|include|vspace|hspace|setlength"
    r"|bibliography|bibliographystyle|usepackage|documentclass|color|Watermark[a-zA-Z]*)"
    r"[a-zA-Z]*\*?(?:\s*\[[^\]]*\])*(?:\s*\{[^}]*\})*"
    r"|\\begin\{(?:tabular\*?|table\*?|figure\*?|minipage|wrapfigure)\}(?:\s*\[[^\]]*\])*(?:\s*\{[^}]*\})*"
    r"|\\(?:multicolumn|multirow)\{[^}]*\}(?:\{[^}]*\})?"
    r"|\\(?:newcommand|renewcommand|def)\b[^\n]*"
    r"|\d+(?:\.\d+)?\s*(?:pt|cm|mm|em|ex|in)\b"
    r"|\\[a-zA-Z]+\d*",  # command names (\section, \mathbf, \\2D-like macros)
    re.DOTALL,
)
_INLINE_MATH = re.compile(r"\$(?:\\.|[^$\\])+\$")
_TABULAR = re.compile(r"\\begin\{tabular\*?\}.*?\\end\{tabular\*?\}", re.DOTALL)
_DOCUMENT = re.compile(r"\\begin\{document\}")
_SECTION = re.compile(r"\\(?:sub)*section\*?\{([^}]*)\}")

# Words that make the number after them a setup fact, and the config/provenance keys that
# record it.
SETUP_KEYS: dict[str, tuple[str, ...]] = {
    "learning rate": ("lr", "learning_rate"),
    "batch size": ("batch_size", "train_batch_size", "per_device_train_batch_size"),
    "steps": ("steps", "max_steps", "num_train_steps", "train_steps", "num_steps"),
    "iterations": ("iterations", "max_iters", "num_iterations"),
    "epochs": ("epochs", "num_epochs", "num_train_epochs"),
    "seeds": (),  # counted from the runs
    "warmup": ("warmup", "warmup_steps"),
    "weight decay": ("weight_decay", "wd"),
    "hidden": ("hidden_size", "hidden_dim", "d_model"),
    "dimension": ("embedding_dim", "embed_dim", "dim"),
    "layers": ("layers", "num_layers", "n_layer"),
    "timesteps": ("timesteps", "num_timesteps"),
    "samples": ("num_samples", "n_samples", "dataset_size"),
    "dropout": ("dropout",),
    "rank": ("rank", "lora_r", "r"),
}
_SETUP_WORD = re.compile(
    r"(learning rates?|batch sizes?|steps|iterations|epochs|seeds|warmup|weight decay|hidden|"
    r"dimension|layers|timesteps|samples|dropout|rank)",
    re.IGNORECASE,
)
_SIGNIFICANCE = re.compile(
    r"statistically\s+significant\w*"
    r"|significantly\s+(?:better|worse|higher|lower|outperform\w*|improv\w*|reduc\w*|"
    r"increas\w*|decreas\w*|faster|slower|more|less|larger|smaller)"
    r"|\$?p\s*\$?\s*(?:<|\\leq?|\\le|=|≤)\s*\$?\s*0?\.\d+",
    re.IGNORECASE,
)
GPU_MODEL = re.compile(
    r"\b(?:NVIDIA\s+)?(?:(?:Tesla|GeForce|Quadro)\s+)?"
    r"(?P<model>[AHVPKLT]\d{2,3}[A-Z]?|GH200|GB200|B200|RTX\s?\d{4}(?:\s?Ti)?|A\d{4}|L40S?|MI\d{3}X?)\b"
)
# "PyTorch 2.1", "CUDA 12.1", "Python 3.11", "Transformers 4.40": provenance keys to compare.
_LIBRARY = re.compile(
    r"\b(?P<lib>PyTorch|torch|CUDA|Python|JAX|TensorFlow|Transformers|NumPy)\s+(?:version\s+)?"
    r"v?(?P<version>\d+(?:\.\d+){1,2})\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class WrittenNumber:
    text: str
    value: float  # as written, exponent applied, percent sign not applied
    half_unit: float  # half the last written digit: the rounding it allows
    percent: bool
    points: bool
    offset: int


def parse_numbers(text: str) -> Iterator[WrittenNumber]:
    for m in _NUMBER.finditer(text):
        whole = m.group("int").replace(",", "")
        frac = m.group("frac") or ""
        exp_text = m.group("exp") or (m.group("exp2") or "").replace("\u2212", "-")
        exponent = int(exp_text) if exp_text else 0
        value = float(f"{whole}.{frac}" if frac else whole) * 10.0**exponent
        half = 0.5 * 10.0 ** (exponent - len(frac))
        yield WrittenNumber(
            m.group(0).strip(),
            value,
            half,
            bool(m.group("pct")),
            bool(m.group("pts")),
            m.start(),
        )


# -- what is recorded ------------------------------------------------------------------------


@dataclass
class RecordedIndex:
    """Recorded values sorted by magnitude, so a written number finds its candidates by
    bisection rather than by a scan of every result."""

    values: list[float]
    sources: list[ClaimSource]
    configs: dict[str, set[float]]  # setup key -> recorded values
    seed_counts: set[int]
    gpu_models: set[str]
    libraries: dict[str, set[str]]  # lower-case library -> versions
    significant: bool  # at least one comparison is significant after Holm correction
    tested: bool  # at least one corrected test was made
    macros: dict[str, ClaimSource] = field(default_factory=dict)  # `cockpit paper macros`

    @classmethod
    def build(cls, entries: Iterable[tuple[float, ClaimSource]]) -> RecordedIndex:
        pairs = sorted(
            ((abs(v), s) for v, s in entries if v is not None and math.isfinite(v)),
            key=lambda p: p[0],
        )
        return cls([p[0] for p in pairs], [p[1] for p in pairs], {}, set(), set(), {}, False, False)

    def find(self, value: float, half_unit: float) -> list[ClaimSource]:
        """The recorded values that round to `value` at its written precision, nearest
        first (at most MAX_CANDIDATES: a number that common says little about its source)."""
        tolerance = half_unit * (1 + 1e-9) + 1e-12
        lo = bisect.bisect_left(self.values, abs(value) - tolerance)
        hi = bisect.bisect_right(self.values, abs(value) + tolerance)
        ranked = sorted(
            range(lo, min(hi, lo + MAX_CANDIDATES)), key=lambda i: abs(self.values[i] - abs(value))
        )
        return [self.sources[i] for i in ranked]


MAX_CANDIDATES = 64


def _matrix_entries(matrix: ResultsMatrix) -> Iterator[tuple[float, ClaimSource]]:
    for sweep in matrix.sweeps:
        for config in sweep.configs:
            for run_id, finals in zip(config.run_ids, config.run_values, strict=False):
                for metric, value in finals.items():
                    yield value, ClaimSource(run_id, metric, value, "value")
            for metric, s in config.summaries.items():
                for what, v in (
                    ("mean", s.mean),
                    ("se", s.se),
                    ("ci_low", s.ci_low),
                    ("ci_high", s.ci_high),
                    ("ci_half", (s.ci_high - s.ci_low) / 2),
                ):
                    yield v, ClaimSource(config.key, metric, v, what)
            for metric, c in config.comparisons.items():
                for what, v in (
                    ("delta", c.delta),
                    ("delta_ci_low", c.ci_low),
                    ("delta_ci_high", c.ci_high),
                    ("p", c.p_value),
                    ("p_holm", c.p_adjusted),
                ):
                    if v is not None:
                        yield v, ClaimSource(config.key, metric, v, what)


def _strings(value: Any) -> Iterator[tuple[str, str]]:
    """(key, text) of every string in a nested provenance record."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            for key, text in _strings(v):
                yield (key or str(k)), text
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield "", value


def _provenance(index: RecordedIndex, runs: Iterable[Run]) -> None:
    seeds: dict[tuple[Any, ...], set[Any]] = {}
    for run in runs:
        prov = run.provenance or {}
        for _key, text in _strings(prov.get("gpu_models", [])):
            for m in GPU_MODEL.finditer(text):
                index.gpu_models.add(m.group("model").replace(" ", "").upper())
        for key in ("gpu_name", "gpu", "gpu_model"):
            if isinstance(prov.get(key), str):
                for m in GPU_MODEL.finditer(prov[key]):
                    index.gpu_models.add(m.group("model").replace(" ", "").upper())
        packages = prov.get("packages") if isinstance(prov.get("packages"), Mapping) else {}
        for lib, version in {
            **{str(k).lower(): v for k, v in packages.items()},
            "python": prov.get("python"),
            "cuda": prov.get("cuda_version"),
        }.items():
            if isinstance(version, str) and version:
                index.libraries.setdefault(lib, set()).add(version)
        config = dict(run.spec.config or {})
        for keys in SETUP_KEYS.values():
            for key in keys:
                if isinstance(config.get(key), int | float) and not isinstance(
                    config.get(key), bool
                ):
                    index.configs.setdefault(key, set()).add(float(config[key]))
        seed = config.pop("seed", None)
        if seed is not None:
            seeds.setdefault(tuple(sorted(map(str, config.items()))), set()).add(seed)
    index.seed_counts = {len(s) for s in seeds.values()}


def recorded_index(store: Store, sweep: str | None = None) -> RecordedIndex:
    from cockpit.results import results_matrix

    matrix = results_matrix(store, sweep=sweep, all_metrics=True)
    index = RecordedIndex.build(_matrix_entries(matrix))
    index.macros = dict(matrix_macros(matrix))
    comparisons = [c for s in matrix.sweeps for cfg in s.configs for c in cfg.comparisons.values()]
    index.tested = any(c.p_adjusted is not None for c in comparisons)
    index.significant = any(
        c.p_adjusted is not None and c.p_adjusted < c.alpha for c in comparisons
    )
    runs = [r for r in store.list_runs() if sweep is None or r.spec.sweep == sweep]
    _provenance(index, runs)
    return index


# -- the check -------------------------------------------------------------------------------


def _blank(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """The text with the spans replaced by spaces: offsets (and so line numbers) are kept."""
    chars = list(text)
    for start, end in spans:
        for i in range(start, end):
            if chars[i] != "\n":
                chars[i] = " "
    return "".join(chars)


def _claim_key(section: str, context: str) -> str:
    """A number's identity across versions of the draft: where it stands, not its value."""
    return hashlib.sha1(f"{section}\x00{context}".encode()).hexdigest()[:16]


def check_claims(
    store: Store,
    text: str,
    *,
    draft: str = "",
    sweep: str | None = None,
    index: RecordedIndex | None = None,
    remember: bool = True,
    now: float | None = None,
) -> ClaimReport:
    if index is None:
        index = recorded_index(store, sweep)
    text = strip_comments(text)
    begin = _DOCUMENT.search(text)
    body_start = begin.end() if begin else 0
    macros = index.macros
    claims: list[Claim] = []
    line_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    sections = [(m.start(), m.group(1)) for m in _SECTION.finditer(text)]
    section_starts = [s for s, _ in sections]

    def where(offset: int) -> tuple[int, str]:
        line = bisect.bisect_right(line_starts, offset)
        i = bisect.bisect_right(section_starts, offset) - 1
        return line, sections[i][1] if i >= 0 else "front matter"

    # Macros of `cockpit paper macros` used in the text: matched by name; their definitions
    # in an included results.tex are checked as numbers (a stale file shows as stale).
    for m in re.finditer(r"\\(res[A-Za-z]+)\b", text[body_start:]):
        name = m.group(1)
        offset = body_start + m.start()
        line, section = where(offset)
        if name in macros:
            source = macros[name]
            claims.append(Claim("\\" + name, line, section, "", "matched", source.value, source))
        elif not text[max(0, offset - 12) : offset].rstrip().endswith("newcommand{"):
            claims.append(
                Claim("\\" + name, line, section, "", "unmatched", note="no such result macro")
            )
    for m in MACRO_DEFINITION.finditer(text):
        name, written = m.group(1), m.group(2)
        line, section = where(m.start())
        source = macros.get(name)
        if source is not None and source.what not in ("text",):
            number = next(parse_numbers(written), None)
            if number is not None and abs(number.value - abs(source.value)) > number.half_unit * (
                1 + 1e-9
            ):
                claims.append(
                    Claim(
                        "\\" + name,
                        line,
                        section,
                        written,
                        "stale",
                        number.value,
                        source,
                        f"defined as {written}; the result is now {source.value:.6g}",
                    )
                )

    tables = [(m.start(), m.end()) for m in _TABULAR.finditer(text)]
    table_starts = [s for s, _ in tables]
    skipped = _blank(text, [(0, body_start)] + [(m.start(), m.end()) for m in _SKIP.finditer(text)])
    # Inline math is read for its numbers ($0.43 \pm 0.01$, $3 \times 10^{-4}$) once the
    # dollar signs are gone; what else is in it (x_0, \beta_t) holds no claims of ours.
    scan = _INLINE_MATH.sub(lambda m: " " + m.group(0)[1:-1] + " ", skipped)
    previous = store.claim_sources(draft) if draft and remember else {}
    matched_now: dict[str, ClaimSource] = {}
    # A table's numbers come from one run (or a few): when 0.665 is both run_0's and
    # run_2's value, the run the section's other numbers point to is its source.
    votes: dict[str, dict[str, float]] = {}
    ambiguous: list[tuple[int, str, list[ClaimSource]]] = []
    for number in parse_numbers(scan):
        offset = number.offset
        i = bisect.bisect_right(table_starts, offset) - 1
        in_table = i >= 0 and offset < tables[i][1]
        line, section = where(offset)
        line_text = text[line_starts[line - 1] : text.find("\n", offset)].strip()
        setup = None if in_table else _setup_word(scan, offset, len(number.text))
        context = " ".join(text[max(0, offset - 40) : offset + 40].split())
        key = _claim_key(section, " ".join(line_text.split()))
        if setup is not None:
            claims.append(_setup_claim(index, number, setup, line, section, context))
            continue
        is_result = in_table or number.percent or number.points or "." in number.text
        if not is_result:
            continue  # counts, years, run numbers: not results
        found = _match(index, number)
        if found:
            # The nearest value for now; the section's other numbers pick among equals below.
            claims.append(
                Claim(number.text, line, section, context, "matched", number.value, found[0])
            )
            matched_now[f"{key}:{number.text}"] = found[0]
            runs = {src.run for src in found}
            for run in runs:
                votes.setdefault(section, {}).setdefault(run, 0.0)
                votes[section][run] += 1 / len(runs)
            if len(runs) > 1:
                ambiguous.append((len(claims) - 1, f"{key}:{number.text}", found))
            continue
        earlier = previous.get(f"{key}:{number.text}")
        if earlier is not None:
            claims.append(
                Claim(
                    number.text,
                    line,
                    section,
                    context,
                    "stale",
                    number.value,
                    earlier,
                    f"matched {earlier.value:.6g} at the last check; that result changed",
                )
            )
        else:
            claims.append(
                Claim(
                    number.text,
                    line,
                    section,
                    context,
                    "unmatched",
                    number.value,
                    note="matches no recorded result (possibly invented)",
                )
            )
    for position, claim_key, found in ambiguous:
        claim = claims[position]
        weight = votes.get(claim.section, {})
        best = max(found, key=lambda src: weight.get(src.run, 0.0))  # max keeps the nearest
        claims[position] = dataclasses.replace(claim, source=best)
        matched_now[claim_key] = best
    claims.extend(_significance(index, text, body_start, where))
    claims.extend(_setup_facts(index, text, body_start, where))
    claims.sort(key=lambda c: c.line)
    if draft and remember and matched_now and not store.read_only:
        store.remember_claim_sources(draft, matched_now, time.time() if now is None else now)
    return ClaimReport(draft or "(file)", tuple(claims))


def _setup_word(text: str, offset: int, length: int) -> str | None:
    """The setup word a number belongs to: right after it ("10,000 training steps"), or the
    nearest before it in the same clause ("a learning rate of 3e-4")."""
    after = re.split(r"[,.;:()]", text[offset + length : offset + length + 30])[0]
    found = _SETUP_WORD.search(" ".join(after.split()[:2]))
    if found:
        return found.group(1)
    before = re.split(r"[,.;:()]", text[max(0, offset - 60) : offset])[-1]
    words = list(_SETUP_WORD.finditer(before))
    return words[-1].group(1) if words else None


def _match(index: RecordedIndex, number: WrittenNumber) -> list[ClaimSource]:
    """Percent and points are hundredths; a number without a sign may still be a fraction
    written as a percentage in a table headed "(%)", or a percentage written as a fraction."""
    candidates = []
    if number.percent or number.points:
        candidates = [
            (number.value / 100, number.half_unit / 100),
            (number.value, number.half_unit),
        ]
    else:
        candidates = [
            (number.value, number.half_unit),
            (number.value / 100, number.half_unit / 100),
            (number.value * 100, number.half_unit * 100),
        ]
    for value, half in candidates:
        found = index.find(value, half)
        if found:
            return found
    return []


def _setup_claim(
    index: RecordedIndex, number: WrittenNumber, word: str, line: int, section: str, context: str
) -> Claim:
    word = word.lower().rstrip("s") if word.lower() not in ("steps", "seeds") else word.lower()
    keys = next((v for k, v in SETUP_KEYS.items() if k.startswith(word[:5])), ())
    recorded: set[float] = set()
    for key in keys:
        recorded |= index.configs.get(key, set())
    if word == "seeds":
        recorded = {float(n) for n in index.seed_counts}
    if not recorded:
        return Claim(
            number.text,
            line,
            section,
            context,
            "unchecked",
            number.value,
            note=f"{word}: nothing recorded to compare with",
        )
    for value in sorted(recorded):
        if abs(value - number.value) <= number.half_unit * (1 + 1e-9):
            return Claim(
                number.text,
                line,
                section,
                context,
                "matched",
                number.value,
                ClaimSource("(runs)", word, value, "provenance"),
            )
    shown = ", ".join(f"{v:g}" for v in sorted(recorded))
    return Claim(
        number.text,
        line,
        section,
        context,
        "contradicts",
        number.value,
        note=f"{word}: the runs recorded {shown}",
    )


def _significance(index: RecordedIndex, text: str, start: int, where: Any) -> Iterator[Claim]:
    for m in _SIGNIFICANCE.finditer(text, start):
        line, section = where(m.start())
        phrase = " ".join(m.group(0).split())
        if index.significant:
            yield Claim(
                phrase,
                line,
                section,
                "",
                "matched",
                note="a comparison is significant after Holm correction",
            )
        else:
            why = (
                "no comparison is significant after Holm correction"
                if index.tested
                else "no corrected test in the results backs it"
            )
            yield Claim(phrase, line, section, "", "unbacked", note=why)


def _setup_facts(index: RecordedIndex, text: str, start: int, where: Any) -> Iterator[Claim]:
    def fact(m: re.Match[str], agrees: bool, note: str) -> Claim:
        line, section = where(m.start())
        status = "matched" if agrees else "contradicts"
        return Claim(m.group(0), line, section, "", status, note=note)

    if index.gpu_models:
        recorded = ", ".join(sorted(index.gpu_models))
        for m in GPU_MODEL.finditer(text, start):
            model = m.group("model").replace(" ", "").upper()
            yield fact(m, model in index.gpu_models, f"the runs ran on {recorded}")
    for m in _LIBRARY.finditer(text, start):
        lib = m.group("lib").lower()
        lib = "torch" if lib == "pytorch" else lib
        versions = index.libraries.get(lib)
        if versions:
            written = m.group("version")
            agrees = any(v == written or v.startswith(written + ".") for v in versions)
            yield fact(m, agrees, f"the runs used {lib} {', '.join(sorted(versions))}")

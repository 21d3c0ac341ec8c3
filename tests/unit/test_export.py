"""Exports of a results view: CSV, LaTeX, figures (PDF/PNG with legends apart) and the snippet.

Files are checked by their bytes (PDF and PNG magic numbers) and parsed back (CSV, the
snippet's \\includegraphics targets); matplotlib must only load when figures are drawn.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.cli.main import main
from cockpit.export import export_sweep
from cockpit.export.tables import best_significant, latex_escape, to_csv, to_latex
from cockpit.results import results_matrix
from cockpit.store import Store
from tests.unit.test_results import BASELINE, R64, SWEEP, complete_demo

ROOT = Path(__file__).resolve().parents[2]
PDF_MAGIC = b"%PDF-"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def demo(store: Store) -> Store:
    return complete_demo(store)


def test_csv_has_a_row_per_config_and_metric(demo: Store) -> None:
    matrix = results_matrix(demo, sweep=SWEEP, metric=["mmlu_acc", "holdout_ppl"])
    rows = list(csv.DictReader(io.StringIO(to_csv(matrix))))
    assert len(rows) == 8 * 2
    base = next(r for r in rows if r["config"] == BASELINE and r["metric"] == "mmlu_acc")
    assert base["verdict"] == "baseline" and base["test"] == "" and base["is_baseline"] == "1"
    r64 = next(r for r in rows if r["config"] == R64[0] and r["metric"] == "mmlu_acc")
    assert r64["test"] == "McNemar exact" and r64["verdict"] == "better"
    assert float(r64["p_value"]) <= float(r64["p_holm"]) <= 0.05
    assert float(r64["delta_ci_low"]) > 0 and r64["ci_method"] == "wilson"
    ppl = next(r for r in rows if r["config"] == R64[0] and r["metric"] == "holdout_ppl")
    assert ppl["verdict"] == "single run, no test possible" and ppl["p_value"] == ""


def test_latex_bolds_the_best_significant_value_and_marks_the_baseline(demo: Store) -> None:
    matrix = results_matrix(demo, sweep=SWEEP, metric=["mmlu_acc", "holdout_ppl"])
    tex = to_latex(matrix)
    for rule in ("\\toprule", "\\midrule", "\\bottomrule", "\\begin{tabular}{lllrr}"):
        assert rule in tex
    bold = re.findall(r"\\textbf\{([\d.]+)\}", tex)
    # mmlu: r64 cosine wd0.2 (0.4585) is the best of the significantly better configs;
    # holdout_ppl has no test at all, so nothing there may be bold.
    assert bold == ["0.4585"]
    assert "64 & cosine & 0.2 & \\textbf{0.4585} {\\scriptsize [0.43" in tex
    assert "128$^\\dagger$ & none & 0.1 & 0.4415" in tex
    assert "mmlu\\_acc $\\uparrow$" in tex and "holdout\\_ppl $\\downarrow$" in tex
    for line in tex.splitlines():
        if not line.startswith("%"):
            assert re.search(r"(?<!\\)%", line) is None, line  # a bare % would eat the line


def test_nothing_bold_without_a_significant_win(demo: Store) -> None:
    matrix = results_matrix(demo, sweep=SWEEP, metric="mmlu_acc", baseline=R64[3])
    group = matrix.sweeps[0]
    # Against the best config, r128 configs are worse but other r64s are not: no winner.
    assert best_significant(group, "mmlu_acc", True) is None
    assert "\\textbf" not in to_latex(matrix)


def test_latex_escape() -> None:
    assert latex_escape("a_b & 5% #1 {x}") == "a\\_b \\& 5\\% \\#1 \\{x\\}"


def test_export_writes_table_figures_legends_and_snippet(demo: Store, tmp_path: Path) -> None:
    out = tmp_path / "paper"
    written = export_sweep(demo, out, sweep=SWEEP)
    names = {p.name for p in written}
    assert {"results.csv", "results.json", "results.tex", "figures.tex"} <= names
    for stem in ("values_mmlu-acc", "effects_mmlu-acc", "curves_train-loss"):
        assert (out / f"{stem}.pdf").read_bytes().startswith(PDF_MAGIC)
        assert (out / f"{stem}.png").read_bytes().startswith(PNG_MAGIC)
    for legend in ("values_mmlu-acc_legend", "curves_train-loss_legend"):
        assert (out / f"{legend}.pdf").read_bytes().startswith(PDF_MAGIC)
        assert (out / f"{legend}.png").read_bytes().startswith(PNG_MAGIC)
    snippet = (out / "figures.tex").read_text()
    included = re.findall(r"\\includegraphics\[[^]]*\]\{([^}]+)\}", snippet)
    assert "values_mmlu-acc.pdf" in included and "effects_mmlu-acc.pdf" in included
    assert all((out / name).is_file() for name in included)
    assert snippet.count("\\begin{figure}") == snippet.count("\\end{figure}") == len(included)
    assert len(set(re.findall(r"\\label\{([^}]+)\}", snippet))) == len(included)


def test_export_of_an_unknown_sweep_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "demo.db"
    with Store.open(db) as s:
        complete_demo(s)
    out = tmp_path / "out"
    code = main(["--db", str(db), "export", "--sweep", "nope", "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "no sweep 'nope'" in err
    assert not out.exists()
    code = main(["--db", str(db), "export", "--sweep", SWEEP, "--metric", "x", "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 2 and "no metric 'x'" in err and not out.exists()
    code = main(["--db", str(db), "export", "--sweep", SWEEP, "--out", str(out / "a" / "b")])
    _, err = capsys.readouterr()
    assert code == 2 and "does not exist" in err


def test_cli_export(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    with Store.open(db) as s:
        complete_demo(s)
    out = tmp_path / "out"
    code = main(
        ["--db", str(db), "export", "--sweep", SWEEP, "--metric", "mmlu_acc", "--out", str(out)]
    )
    printed, _ = capsys.readouterr()
    assert code == 0 and f"files to {out}" in printed
    assert (out / "values_mmlu-acc.pdf").read_bytes().startswith(PDF_MAGIC)
    assert "mmlu\\_acc" in (out / "results.tex").read_text()


def test_matplotlib_loads_only_when_figures_are_drawn() -> None:
    code = (
        "import sys, cockpit.export, cockpit.results, cockpit.triage\n"
        "print('matplotlib' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def _pdf_fonts_and_width(path: Path) -> tuple[set[str], float]:
    """The font subtypes a PDF declares (its own font dictionaries) and its page width."""
    from pypdf import PdfReader

    reader = PdfReader(path)
    subtypes: set[str] = set()
    for page in reader.pages:
        fonts = page["/Resources"].get_object().get("/Font")
        for ref in (fonts.get_object() if fonts else {}).values():
            subtypes.add(str(ref.get_object()["/Subtype"]))
    box = reader.pages[0].mediabox
    return subtypes, float(box.width)


def test_figures_are_paper_ready(demo: Store, tmp_path: Path) -> None:
    out = tmp_path / "paper"
    written = export_sweep(demo, out, sweep=SWEEP, metrics=["mmlu_acc"])
    pdfs = [p for p in written if p.suffix == ".pdf"]
    assert pdfs
    for pdf in pdfs:
        subtypes, width = _pdf_fonts_and_width(pdf)
        # TrueType (fonttype 42), never Type 3, which IEEE and ACM checkers reject.
        assert subtypes and "/Type3" not in subtypes, (pdf.name, subtypes)
        assert subtypes <= {"/TrueType", "/Type0"}, subtypes
        if pdf.stem.endswith("_legend"):
            continue
        # One column (3.25 in) and text wide (6.75 in), exactly: 72 pt per inch.
        expected = 6.75 if pdf.stem.endswith("_wide") else 3.25
        assert width == pytest.approx(expected * 72, abs=0.5), pdf.name
    for stem in ("values_mmlu-acc", "effects_mmlu-acc", "curves_train-loss"):
        assert (out / f"{stem}_wide.pdf").is_file()


def test_figure_text_names_factors_levels_and_intervals(demo: Store, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from cockpit.export import figures

    matrix = results_matrix(demo, sweep=SWEEP, metric="mmlu_acc")
    group = matrix.sweeps[0]
    drawn: list[object] = []
    import matplotlib.pyplot as plt

    real_close = plt.close

    def keep(fig: object = None) -> None:  # look at each figure before it is closed
        if fig is not None:
            drawn.append(fig)
        real_close(fig)

    plt.close = keep  # type: ignore[assignment]
    try:
        _, captions = figures.write_figures(matrix, group, "mmlu_acc", {}, tmp_path)
    finally:
        plt.close = real_close  # type: ignore[assignment]
    values_fig = next(f for f in drawn if f.axes and "mmlu_acc (higher" in f.axes[0].get_xlabel())  # type: ignore[attr-defined]
    ticks = [t.get_text() for t in values_fig.axes[0].get_yticklabels()]  # type: ignore[attr-defined]
    # factor=value, every factor named.
    assert all(all(f"{k}=" in t for k in group.label_keys) for t in ticks)
    # The legend lies outside the axes: its box does not meet the data area.
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = values_fig
    FigureCanvasAgg(fig)  # type: ignore[arg-type]  # closed figures lose their canvas
    fig.canvas.draw()  # type: ignore[attr-defined]
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    (legend,) = fig.legends  # type: ignore[attr-defined]
    lb = legend.get_window_extent(renderer)
    ab = fig.axes[0].get_window_extent(renderer)  # type: ignore[attr-defined]
    assert lb.y1 <= ab.y0 + 1
    # The effects name both levels of each factor.
    effects_fig = next(f for f in drawn if f.axes and "effect on" in f.axes[0].get_xlabel())  # type: ignore[attr-defined]
    labels = [t.get_text() for t in effects_fig.axes[0].get_yticklabels()]  # type: ignore[attr-defined]
    for factor, levels in group.sweep.factors.items():
        assert any(f"{factor} ({levels[0]} \u2192 {levels[1]})" in label for label in labels)
    # A caption says CIs only where there are some.
    assert "CIs" in captions[0][1]


def test_smoothing_keeps_level_and_reduces_noise() -> None:
    import random

    from cockpit.export.figures import OKABE_ITO, smooth

    rng = random.Random(0)
    raw = [1.0 + rng.gauss(0, 0.2) for _ in range(400)]
    smoothed = smooth(raw)
    assert smoothed[0] == raw[0]  # debiased: the start is not pulled to 0
    tail = smoothed[100:]
    assert max(tail) - min(tail) < (max(raw) - min(raw)) / 3
    assert abs(sum(tail) / len(tail) - 1.0) < 0.05
    # Okabe-Ito: the colour-blind-safe palette, eight distinct colours.
    assert len(set(OKABE_ITO)) == 8 and OKABE_ITO[0] == "#0072B2"


ADDPLOT = re.compile(
    r"\\addplot\+\[(?P<options>[^\n]*)\] table\[(?P<columns>[^\]]*)\] \{(?P<body>.*?)\};",
    re.DOTALL,
)


def assert_compiles_structurally(tex: str) -> None:
    """What LaTeX would trip on first: environments that do not nest, unbalanced braces
    (escaped ones aside), an \\addplot without its closing semicolon."""
    stack: list[str] = []
    for m in re.finditer(r"\\(begin|end)\{([^}]+)\}", tex):
        if m.group(1) == "begin":
            stack.append(m.group(2))
        else:
            assert stack and stack.pop() == m.group(2), m.group(0)
    assert not stack, stack
    depth = 0
    for line in tex.splitlines():
        line = re.sub(r"(?<!\\)%.*", "", line.replace("\\{", "").replace("\\}", ""))
        for ch in line:
            depth += {"{": 1, "}": -1}.get(ch, 0)
            assert depth >= 0, line
    assert depth == 0
    assert tex.count("\\addplot") == len(ADDPLOT.findall(tex))


def pgf_tables(tex: str, folder: Path) -> list[tuple[str, list[dict[str, float]]]]:
    """Each \\addplot's table options and rows, read inline or from its .dat file."""
    out = []
    for m in ADDPLOT.finditer(tex):
        body = m.group("body")
        text = body if "\n" in body else (folder / body).read_text()
        header, *rows = [line.split() for line in text.strip().splitlines()]
        out.append(
            (m.group("columns"), [dict(zip(header, map(float, r), strict=True)) for r in rows])
        )
    return out


@pytest.mark.parametrize("data", ["inline", "dat"])
def test_pgfplots_figures_hold_the_data_and_compile_structurally(
    demo: Store, tmp_path: Path, data: str
) -> None:
    out = tmp_path / "paper"
    written = export_sweep(demo, out, sweep=SWEEP, metrics=["mmlu_acc"], pgfplots=data)
    names = {p.name for p in written}
    assert {"values_mmlu-acc.pdf", "values_mmlu-acc_pgfplots.tex"} <= names  # beside the PDF
    assert any(n.endswith(".dat") for n in names) is (data == "dat")
    snippet = (out / "figures_pgfplots.tex").read_text()
    assert_compiles_structurally(snippet)
    inputs = re.findall(r"\\input\{([^}]+)\}", snippet)
    assert set(inputs) == {n for n in names if n.endswith("_pgfplots.tex")} - {
        "figures_pgfplots.tex"
    }
    assert len(inputs) >= 3  # values, a learning curve, effects
    for name in inputs:
        figure = (out / name).read_text()
        assert_compiles_structurally(figure)
        assert "\\begin{axis}" in figure and ADDPLOT.search(figure)

    # The values figure: each config's mean and CI, at its tick, as the results say.
    matrix = results_matrix(demo, sweep=SWEEP, metric=["mmlu_acc"])
    configs = [c for c in matrix.sweeps[0].configs if "mmlu_acc" in c.summaries]
    tex = (out / "values_mmlu-acc_pgfplots.tex").read_text()
    points = {int(row["y"]): row for _, rows in pgf_tables(tex, out) for row in rows}
    assert sorted(points) == list(range(len(configs)))
    for y, config in enumerate(configs):
        s = config.summaries["mmlu_acc"]
        assert points[y]["mean"] == pytest.approx(s.mean, rel=1e-12)
        assert points[y]["mean"] - points[y]["below"] == pytest.approx(s.ci_low, rel=1e-9)
        assert points[y]["mean"] + points[y]["above"] == pytest.approx(s.ci_high, rel=1e-9)
    ticks = re.search(r"yticklabels=\{(.*)\},\n", tex)
    assert ticks is not None and ticks.group(1).count("},{") == len(configs) - 1

    # A learning curve: the logged (step, value) pairs of each drawn run, every one.
    tex = (out / "curves_train-loss_pgfplots.tex").read_text()
    tables = pgf_tables(tex, out)
    raw = [rows for columns, rows in tables if "y=value" in columns]
    logged = demo.metric_series_for_runs([c.run_ids[0] for c in configs], ["train_loss"])
    expected = sorted(
        [(float(s), v) for s, v in series["train_loss"]]
        for series in logged.values()
        if len(series.get("train_loss", ())) > 1
    )
    assert sorted([(r["step"], r["value"]) for r in rows] for rows in raw) == expected

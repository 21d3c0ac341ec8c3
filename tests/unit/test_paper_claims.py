"""The claim check on the AI-Scientist gan_diffusion paper against its own imported runs: the
paper's table numbers are the rounded means of run_*/final_info.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cockpit import ingest
from cockpit.cli.main import main
from cockpit.paper.claims import check_claims, parse_numbers
from cockpit.store import Store

DATA = Path(__file__).resolve().parents[1] / "data/formats/ai-scientist-gan_diffusion"
ORIGINAL = (DATA / "latex/template.tex").read_text()
SWEEP = "ai-scientist-gan_diffusion"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "c.db"
    with Store.open(path) as store:
        ingest.record_imported_runs(store, ingest.import_path(DATA), source=DATA)
    return path


def check(db: Path, tmp_path: Path, text: str, *args: str) -> tuple[int, dict]:
    draft = tmp_path / "draft.tex"
    draft.write_text(text)
    import io
    from contextlib import redirect_stdout

    out = io.StringIO()
    with redirect_stdout(out):
        rc = main(["--db", str(db), "paper", "check", str(draft), "--json", *args])
    return rc, json.loads(out.getvalue())


def table_numbers(text: str) -> list[str]:
    rows = re.findall(r"^\s+(?:Circle|Dino|Line|Moons) & (.*) \\\\$", text, re.MULTILINE)
    return [n.strip() for row in rows for n in row.split("&")]


def test_every_table_number_of_the_original_matches_its_run(db: Path, tmp_path: Path) -> None:
    rc, report = check(db, tmp_path, ORIGINAL, "--sweep", SWEEP)
    assert rc == 0 and report["problems"] == 0
    matched = [c for c in report["claims"] if c["status"] == "matched" and c["source"]]
    assert sorted(c["text"] for c in matched) == sorted(table_numbers(ORIGINAL))
    # Independent reference: each matched number is its source's value rounded as written.
    runs = {
        f"run_{i}": json.loads((DATA / f"run_{i}/final_info.json").read_text()) for i in range(6)
    }
    for claim in matched:
        source = claim["source"]
        dataset, metric = source["metric"].split("/")
        recorded = runs[source["run"]][dataset]["means"][metric]
        decimals = len(claim["text"].split(".")[1])
        assert f"{recorded:.{decimals}f}" == claim["text"]


def test_one_altered_number_is_flagged_and_the_check_fails(db: Path, tmp_path: Path) -> None:
    altered = ORIGINAL.replace("Dino & 243.75 & 0.665", "Dino & 243.75 & 0.675", 1)
    rc, report = check(db, tmp_path, altered)
    problems = [
        c for c in report["claims"] if c["status"] != "matched" and c["status"] != "unchecked"
    ]
    assert rc == 1
    assert [(c["status"], c["text"], c["section"]) for c in problems] == [
        ("unmatched", "0.675", "Results with Gradient Penalty")
    ]


def test_gpu_model_against_provenance(db: Path, tmp_path: Path) -> None:
    with Store.open(db) as store:
        for run in store.list_runs():
            run.provenance["gpu_models"] = ["NVIDIA H100 80GB HBM3"]
            store.upsert_run(run)
    setup = "trained on a single GPU."
    assert setup in ORIGINAL
    rc, _ = check(db, tmp_path, ORIGINAL.replace(setup, "trained on a single NVIDIA H100 GPU."))
    assert rc == 0
    rc, report = check(db, tmp_path, ORIGINAL.replace(setup, "trained on a single NVIDIA V100."))
    assert rc == 1
    (bad,) = [c for c in report["claims"] if c["status"] == "contradicts"]
    assert "V100" in bad["text"] and "H100" in bad["note"]


def test_significance_without_a_corrected_test_is_unbacked(db: Path, tmp_path: Path) -> None:
    claim = "The GAN variant is significantly better than the baseline (p < 0.05)."
    text = ORIGINAL.replace("\\subsection{Limitations}", claim + "\n\n\\subsection{Limitations}")
    rc, report = check(db, tmp_path, text)
    unbacked = [c["text"] for c in report["claims"] if c["status"] == "unbacked"]
    assert rc == 1 and unbacked == ["significantly better", "p < 0.05"]


def test_macros_are_accepted_and_a_stale_number_is_reported(db: Path, tmp_path: Path) -> None:
    import io
    from contextlib import redirect_stdout

    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["--db", str(db), "paper", "macros", "--sweep", SWEEP]) == 0
    macros = out.getvalue()
    assert "\\newcommand{\\resRunTwoDinoEvalLossMean}{0.6652}" in macros
    text = ORIGINAL.replace("\\begin{document}", macros + "\\begin{document}", 1).replace(
        "Dino & 243.75 & 0.665", "Dino & 243.75 & \\resRunTwoDinoEvalLossMean", 1
    )
    rc, report = check(db, tmp_path, text)
    assert rc == 0
    (macro,) = [c for c in report["claims"] if c["text"] == "\\resRunTwoDinoEvalLossMean"]
    assert macro["source"]["run"] == "run_2" and macro["source"]["metric"] == "dino/eval_loss"

    # The draft is registered and checked; then the run's result changes (re-imported).
    draft = tmp_path / "main.tex"
    draft.write_text(ORIGINAL)
    assert main(["--db", str(db), "paper", "add", "gan", str(draft)]) == 0
    assert main(["--db", str(db), "paper", "check", "gan"]) == 0
    with Store.open(db) as store, store.write() as conn:
        conn.execute(
            "UPDATE metrics SET value = 0.19 WHERE run_id = 'run_2' AND name = 'line/kl_divergence'"
        )
    with redirect_stdout(io.StringIO()) as out:
        assert main(["--db", str(db), "paper", "check", "gan", "--json"]) == 1
    report = json.loads(out.getvalue())
    stale = [c for c in report["claims"] if c["status"] == "stale"]
    assert [(c["text"], c["source"]["run"]) for c in stale] == [("0.145", "run_2")]


@pytest.mark.parametrize(
    "written, value, half, percent, points",
    [
        ("0.434", 0.434, 0.0005, False, False),
        ("43.4\\%", 43.4, 0.05, True, False),
        ("2.1 points", 2.1, 0.05, False, True),
        ("3e-4", 3e-4, 0.5e-4, False, False),
        ("1.5 \\times 10^{-4}", 1.5e-4, 0.05e-4, False, False),
        ("10,000", 10000, 0.5, False, False),
    ],
)
def test_written_numbers_parse_with_their_precision(
    written: str, value: float, half: float, percent: bool, points: bool
) -> None:
    (number,) = parse_numbers(written)
    assert number.value == pytest.approx(value)
    assert number.half_unit == pytest.approx(half)
    assert (number.percent, number.points) == (percent, points)


def test_percent_and_plus_minus_match_fractions_and_spreads(tmp_path: Path) -> None:
    from cockpit.models import ClaimSource
    from cockpit.paper.claims import RecordedIndex

    index = RecordedIndex.build(
        [
            (0.4342, ClaimSource("r", "acc", 0.4342, "mean")),
            (0.0123, ClaimSource("r", "acc", 0.0123, "ci_half")),
            (0.021, ClaimSource("r", "acc", 0.021, "delta")),
        ]
    )
    text = "\\begin{document}We reach 43.4\\% $\\pm$ 1.2\\%, up 2.1 points, not 44.1\\%."
    with Store.open(tmp_path / "c.db") as store:
        report = check_claims(store, text, index=index, remember=False)
    assert [(c.text, c.status) for c in report.claims] == [
        ("43.4\\%", "matched"),
        ("1.2\\%", "matched"),
        ("2.1 points", "matched"),
        ("44.1\\%", "unmatched"),
    ]


def test_each_table_is_attributed_to_its_own_run(db: Path, tmp_path: Path) -> None:
    """0.665 is the dino eval loss of run_0 and of run_2: the table it stands in decides."""
    _, report = check(db, tmp_path, ORIGINAL)
    runs_by_section: dict[str, set[str]] = {}
    for claim in report["claims"]:
        tables = ("Baseline Results", "Results with")
        if claim["source"] and claim["section"].startswith(tables):
            runs_by_section.setdefault(claim["section"], set()).add(claim["source"]["run"])
    # notes.txt: run_0 baseline, run_2 gradient penalty, run_3 tuned, run_4 quadratic
    assert runs_by_section == {
        "Baseline Results": {"run_0"},
        "Results with Gradient Penalty": {"run_2"},
        "Results with Fine-Tuned Hyperparameters": {"run_3"},
        "Results with Quadratic Beta Schedule": {"run_4"},
    }

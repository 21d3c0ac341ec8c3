"""The LaTeX-aware diff on the AI-Scientist gan_diffusion paper: re-flowed text is unchanged,
moved sections are moved, and math, citations and numbers change as whole tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cockpit.cli.main import main
from cockpit.paper.diff import diff_drafts, word_ops

TEX = Path(__file__).resolve().parents[1] / "data/formats/ai-scientist-gan_diffusion/latex"
ORIGINAL = (TEX / "template.tex").read_text()
RELATED = "Generative models have seen significant advancements in recent years"


def paragraph(text: str, start: str) -> tuple[int, int]:
    i = text.index(start)
    return i, text.index("\n\n", i)


def test_identical_and_reflowed_drafts_have_no_changes() -> None:
    assert diff_drafts(ORIGINAL, ORIGINAL).changes == ()
    i, j = paragraph(ORIGINAL, RELATED)
    words = ORIGINAL[i:j].split(" ")
    # re-wrapped at 8 words a line, with doubled spaces and an indent: LaTeX reads the same
    reflowed = "\n".join("  ".join(words[k : k + 8]) for k in range(0, len(words), 8))
    assert reflowed != ORIGINAL[i:j]
    new = ORIGINAL[:i] + "   " + reflowed + ORIGINAL[j:]
    assert diff_drafts(ORIGINAL, new).changes == ()


def test_a_moved_section_is_shown_as_moved_not_as_removed_and_added() -> None:
    start = ORIGINAL.index("\\section{Related Work}")
    end = ORIGINAL.index("\\section{Background}")
    related = ORIGINAL[start:end]
    without = ORIGINAL[:start] + ORIGINAL[end:]
    before_conclusions = without.index("\\section{Conclusions and Future Work}")
    moved = without[:before_conclusions] + related + without[before_conclusions:]
    diff = diff_drafts(ORIGINAL, moved)
    assert [(c.kind, c.section) for c in diff.changes] == [("moved", "Related Work")]


def test_math_and_citations_change_as_single_tokens() -> None:
    new = ORIGINAL.replace(
        "denoiser network $f_\\theta$ and", "denoiser network $f_{\\theta}(x)$ and", 1
    ).replace("\\citep{yang2023diffusion}", "\\citep{yang2023diffusion,ddpm}", 1)
    diff = diff_drafts(ORIGINAL, new)
    edits = [[w for w in c.words if w[0] != "="] for c in diff.changes]
    assert diff.summary.citations_added == ()  # ddpm was cited elsewhere already
    assert [("-", "$f_\\theta$"), ("+", "$f_{\\theta}(x)$")] in edits
    assert [("-", "\\citep{yang2023diffusion}"), ("+", "\\citep{yang2023diffusion,ddpm}")] in (
        edits
    )
    assert {c.section for c in diff.changes} == {"Problem Setting", "Introduction"}


def test_summary_lists_numbers_citations_and_figure_references() -> None:
    new = (
        ORIGINAL.replace("Circle & 52.93 & 0.434", "Circle & 52.93 & 0.431", 1)
        .replace("\\citep{Gulrajani2017ImprovedTO}", "\\citep{miyato2018spectral}")
        .replace("\\label{fig:generated_samples}", "\\label{fig:samples}")
    )
    summary = diff_drafts(ORIGINAL, new).summary
    assert summary.numbers_removed == ("0.434",) and summary.numbers_added == ("0.431",)
    assert summary.citations_added == ("miyato2018spectral",)
    assert summary.citations_removed == ("Gulrajani2017ImprovedTO",)
    assert summary.refs_added == ("fig:samples",)
    assert "fig:generated_samples" not in summary.refs_removed  # still \ref'd in the text


def test_word_ops_keep_commands_with_their_arguments() -> None:
    ops = word_ops("see \\ref{fig:a} and $x^2$ here", "see \\ref{fig:b} and $x^2$ here")
    assert ops == (
        ("=", "see"),
        ("-", "\\ref{fig:a}"),
        ("+", "\\ref{fig:b}"),
        ("=", "and $x^2$ here"),
    )


def test_renamed_section_added_and_removed_paragraphs(tmp_path: Path) -> None:
    new = ORIGINAL.replace("\\subsection{Limitations}", "\\subsection{Threats to Validity}")
    i, j = paragraph(new, RELATED)
    new = new[:i] + "A brand new paragraph about nothing in particular." + new[j:]
    kinds = [(c.kind, c.section) for c in diff_drafts(ORIGINAL, new).changes]
    assert ("renamed", "Threats to Validity") in kinds
    assert ("removed", "Related Work") in kinds and ("added", "Related Work") in kinds


def test_cli_json_lists_changes_with_kind_section_old_new(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = tmp_path / "a.tex", tmp_path / "b.tex"
    old.write_text(ORIGINAL)
    new.write_text(ORIGINAL.replace("0.614 & 0.110 & 0.086", "0.614 & 0.110 & 0.081"))
    assert (
        main(["--db", str(tmp_path / "c.db"), "paper", "diff", str(old), str(new), "--json"]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    (change,) = out["changes"]
    assert change["kind"] == "changed" and change["section"] == "Baseline Results"
    assert "0.086" in change["old"] and "0.081" in change["new"]
    assert out["summary"]["numbers_added"] == ["0.081"]
    # the text report shows the change at 80 columns with the removed and added number
    assert main(["--db", str(tmp_path / "c.db"), "paper", "diff", str(old), str(new)]) == 0
    text = capsys.readouterr().out
    assert "0.086" in text and "0.081" in text and "Baseline Results" in text

"""Drafts: registration with includes followed, versions from snapshots and git history,
version references, and the schema step that brought them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from cockpit.cli.main import main
from cockpit.models import DraftVersion
from cockpit.paper import drafts
from cockpit.store import SCHEMA_VERSION, Store

PAPER = Path(__file__).resolve().parents[1] / "data/formats/ai-scientist-gan_diffusion/latex"


def git(folder: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.org", "-c", "user.name=t", *args],
        cwd=folder,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "paper"
    (folder / "sections").mkdir(parents=True)
    (folder / "main.tex").write_text(
        "\\documentclass{article}\n\\begin{document}\n\\section{Intro}\nHello.\n"
        "% \\input{sections/ignored}\n\\input{sections/results}\n\\end{document}\n"
    )
    (folder / "sections/results.tex").write_text("\\section{Results}\nWe get 0.42.\n")
    git(folder, "init", "-q")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "first draft")
    return folder


def run_cli(db: Path, *args: str) -> int:
    return main(["--db", str(db), *args])


def test_add_follows_includes_and_versions_come_from_snapshots_and_git(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "c.db"
    assert run_cli(db, "paper", "add", "p", str(repo / "main.tex")) == 0
    with Store.open(db) as store:
        first = store.list_draft_versions("p")[0]
    assert "We get 0.42." in first.text  # the included file's text is in the version
    assert "\\input{sections/results}" not in first.text
    assert "% \\input{sections/ignored}" in first.text  # a commented include is not read

    # A change on disk in an included file becomes a new version when the cockpit looks.
    (repo / "sections/results.tex").write_text("\\section{Results}\nWe get 0.43.\n")
    git(repo, "commit", "-qam", "new number")
    capsys.readouterr()
    assert run_cli(db, "paper", "versions", "p") == 0
    out = capsys.readouterr().out
    assert "p@1" in out and "p@2" in out and "changed on disk" in out
    assert "first draft" in out and "new number" in out  # the git commits
    # Looking again without a change takes no new snapshot.
    assert run_cli(db, "paper", "versions", "p", "--json") == 0
    with Store.open(db) as store:
        assert [v.version for v in store.list_draft_versions("p")] == [1, 2]
        # git revisions resolve with the includes of that revision
        old = drafts.resolve(store, "p@HEAD~1")
        assert "We get 0.42." in old.text
        assert "We get 0.43." in drafts.resolve(store, "p").text
        assert drafts.resolve(store, "p@1").version == 1


def test_the_file_of_a_draft_given_as_a_path_is_that_draft_snapshotted(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "c.db"
    assert run_cli(db, "paper", "add", "p", str(repo / "main.tex")) == 0
    (repo / "sections/results.tex").write_text("\\section{Results}\nWe get 0.43.\n")
    capsys.readouterr()
    run_cli(db, "paper", "check", str(repo / "main.tex"), "--json")
    assert json.loads(capsys.readouterr().out)["draft"] == "p@2"
    with Store.open(db) as store:
        (first, second) = store.list_draft_versions("p")
        assert "0.42" in first.text and "0.43" in second.text
    # A file no draft owns is read as it is, and stored nowhere.
    other = tmp_path / "other.tex"
    other.write_text("We get 0.5.\n")
    run_cli(db, "paper", "check", str(other), "--json")
    assert json.loads(capsys.readouterr().out)["draft"] == str(other)
    with Store.open(db) as store:
        assert len(store.list_draft_versions("p")) == 2


@pytest.mark.parametrize(
    "ref, message",
    [
        ("nosuch", "neither a file nor a draft"),
        ("p@7", "has no version 7"),
        ("p@--output=/tmp/x", "not a git revision"),
        ("p@deadbeef", "does not exist at git revision"),
    ],
)
def test_bad_references_are_one_line_and_exit_2(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], ref: str, message: str
) -> None:
    db = tmp_path / "c.db"
    assert run_cli(db, "paper", "add", "p", str(repo / "main.tex")) == 0
    capsys.readouterr()
    assert run_cli(db, "paper", "diff", ref, "p") == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_add_refuses_a_missing_file_and_a_bad_name(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    assert run_cli(db, "paper", "add", "p", str(tmp_path / "none.tex")) == 2
    assert run_cli(db, "paper", "add", "bad name", str(PAPER / "template.tex")) == 2
    with Store.open(db) as store:
        assert store.list_drafts() == []


def test_migration_keeps_drafts_of_version_4(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = Store.open(path, migrate=False)
    old.migrate(target=4)
    with old.write() as conn:
        conn.execute("INSERT INTO drafts(name, title, created_at) VALUES ('d', '', 1.0)")
        conn.execute(
            "INSERT INTO draft_versions(draft, version, text, message, created_at)"
            " VALUES ('d', 1, 'text', 'm', 1.0)"
        )
    old.close()
    with Store.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.list_draft_versions("d") == [DraftVersion("d", 1, "text", "m", 1.0, "")]
        assert store.get_draft("d").path == ""
        assert store.claim_sources("d") == {}
        assert store.list_reviews("d") == []

"""A test that needs sshd fails in CI when sshd is missing; elsewhere it skips."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import sshd_server


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", None)])
def test_missing_sshd_fails_in_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str, outcome: type | None
) -> None:
    monkeypatch.setattr(sshd_server, "SSHD", tmp_path / "no-sshd")
    monkeypatch.setenv("CI", ci)
    expected = outcome or pytest.skip.Exception
    with pytest.raises(expected, match="OpenSSH server not installed"):
        sshd_server.require_openssh()


def test_ci_flag_spellings() -> None:
    assert sshd_server.ci_requires_everything({"CI": "true"})
    assert sshd_server.ci_requires_everything({"CI": "1"})
    assert not sshd_server.ci_requires_everything({})
    assert not sshd_server.ci_requires_everything({"CI": "false"})

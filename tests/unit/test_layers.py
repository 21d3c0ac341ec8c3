"""The house's layering: the import contracts hold, cover every core module, and would catch
a violation."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
SHELL = {"app", "cli"}


def contracts() -> dict[str, dict[str, list[str]]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["name"]: c for c in config["contracts"]}


def core_modules() -> set[str]:
    """Every top-level module and package of cockpit/ except the shell and the CLI."""
    names = set()
    for path in (ROOT / "cockpit").iterdir():
        if path.name.startswith(("_", ".")):
            continue
        if path.suffix == ".py":
            names.add(path.stem)
        elif path.is_dir() and (path / "__init__.py").exists():
            names.add(path.name)
    return {f"cockpit.{n}" for n in names - SHELL}


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_contracts_hold_on_the_tree() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_every_core_module_is_under_contract() -> None:
    core = core_modules()
    by_name = list(contracts().values())
    core_contract, backend_contract, widget_contract = by_name
    assert set(core_contract["source_modules"]) == core
    # Backends see the core only through models and ports; widgets only models and renderers.
    backend_forbidden = set(backend_contract["forbidden_modules"])
    assert core - {"cockpit.models", "cockpit.ports"} <= backend_forbidden
    assert {"cockpit.models", "cockpit.ports"}.isdisjoint(backend_forbidden)
    widget_forbidden = set(widget_contract["forbidden_modules"])
    assert core - {"cockpit.models", "cockpit.render"} <= widget_forbidden
    assert {"backends", "cockpit.app", "cockpit.cli"} <= widget_forbidden


def test_a_violation_of_each_contract_fails_the_lint(tmp_path: Path) -> None:
    for package in ("cockpit", "widgets", "backends"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")

    def inject(module: str, line: str) -> None:
        path = tmp_path / module
        path.write_text(path.read_text() + f"\n{line}\n")

    inject("cockpit/registry.py", "import textual.app")  # core reaching for Textual
    inject("backends/gpu/simulated.py", "from cockpit.store import Store")  # a backend in the store
    inject("widgets/ideas.py", "from cockpit.bus import CommandBus")  # a widget doing I/O

    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "0 kept, 3 broken" in result.stdout
    for importer, imported in (
        ("cockpit.registry", "textual"),
        ("backends.gpu.simulated", "cockpit.store"),
        ("widgets.ideas", "cockpit.bus"),
    ):
        assert f"{importer} -> {imported}" in result.stdout

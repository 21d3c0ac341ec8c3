"""Themes are data: one TOML file each in themes/, and the choice is remembered in the store."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from textual.theme import Theme

import themes

DEFAULT_THEME = "cockpit-dark"
THEME_SETTING = "ui.theme"


def themes_dir() -> Path:
    # The package's own folder: themes ship as plain files in the wheel (never zipped), and
    # importlib.resources would add zipfile and friends to start-up.
    return Path(themes.__file__).parent


def load_themes(folder: Path | None = None) -> list[Theme]:
    loaded = []
    for path in sorted((folder or themes_dir()).glob("*.toml")):
        spec: dict[str, Any] = tomllib.loads(path.read_text())
        loaded.append(Theme(**spec))
    return loaded

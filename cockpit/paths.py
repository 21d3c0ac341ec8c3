"""Where the cockpit keeps its files on this machine: the user data dir and its databases.

Core, so the shell and the CLI share one answer (the app's local runs live under it too).
"""

from __future__ import annotations

from pathlib import Path


def data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("lab-cockpit", appauthor=False))


def default_db_path(demo: bool = False) -> Path:
    return data_dir() / ("demo.db" if demo else "cockpit.db")

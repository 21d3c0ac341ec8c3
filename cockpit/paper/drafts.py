"""Drafts on disk: the flattened text (\\input/\\include followed), versions from git history
and from snapshots, references to a version ("NAME@3", "NAME@HEAD~1", a file), and edits
written atomically with a snapshot first."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cockpit.models import Draft, DraftVersion, GitVersion
from cockpit.store import NotFoundError, Store
from cockpit.validate import ValidationError

# \input{x} and \include{x}, not after an unescaped % (a commented-out include is not read).
_INCLUDE = re.compile(r"\\(?:input|include)\s*\{([^}\n]+)\}")
_COMMENT = re.compile(r"(?<!\\)%.*")
_MAX_DEPTH = 16
# A git revision as a user types it; never an option (no leading "-"), never a shell word.
_GIT_REV = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/~^@{}-]{0,99}$")

Reader = Callable[[str], str | None]  # path relative to the main file's folder -> text


class DraftError(ValidationError):
    """A draft, file or version that cannot be read: one line for the user."""


def flatten(main_name: str, read: Reader) -> str:
    """The main file with every \\input/\\include replaced by the included file's text,
    recursively; includes that leave the main file's folder, loop or are missing stay as
    they are (LaTeX would fail on them too, and the diff then shows the line)."""

    def expand(name: str, depth: int, seen: frozenset[str]) -> str:
        text = read(name)
        if text is None:
            raise DraftError(f"cannot read {name}")

        def include(match: re.Match[str]) -> str:
            line_start = text.rfind("\n", 0, match.start()) + 1
            if _COMMENT.search(text[line_start : match.start()]):
                return match.group(0)
            target = match.group(1).strip()
            if not target.endswith(".tex"):
                target += ".tex"
            # LaTeX resolves every include against the main file's folder.
            target = os.path.normpath(target)
            if target.startswith("..") or os.path.isabs(target):
                return match.group(0)
            if depth >= _MAX_DEPTH or target in seen or read(target) is None:
                return match.group(0)
            return expand(target, depth + 1, seen | {target}).rstrip("\n")

        return _INCLUDE.sub(include, text)

    return expand(main_name, 0, frozenset({main_name}))


def disk_reader(folder: Path) -> Reader:
    def read(name: str) -> str | None:
        try:
            return (folder / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    return read


def draft_files(path: Path) -> list[Path]:
    """The main file and every file it includes (those an edit may have to change)."""
    path = path.expanduser().resolve()
    found: list[Path] = []

    def read(name: str) -> str | None:
        text = disk_reader(path.parent)(name)
        if text is not None and (path.parent / name).resolve() not in found:
            found.append((path.parent / name).resolve())
        return text

    flatten(path.name, read)
    return found


def read_draft_file(path: Path) -> str:
    path = path.expanduser()
    if not path.is_file():
        raise DraftError(f"{path}: no such file")
    return flatten(path.name, disk_reader(path.parent))


# -- git -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GitPlace:
    top: Path  # the repository's work tree
    folder: str  # the main file's folder, relative to top (posix), "" at the top
    name: str  # the main file's name


def _git(top: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(top), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def git_place(path: Path) -> GitPlace | None:
    """Where the file sits in a git repository, or None when it is in none."""
    path = path.expanduser().resolve()
    top = _git(path.parent, "rev-parse", "--show-toplevel")
    if not top:
        return None
    root = Path(top.strip()).resolve()
    folder = path.parent.relative_to(root).as_posix()
    return GitPlace(root, "" if folder == "." else folder, path.name)


def git_versions(path: Path) -> list[GitVersion]:
    """Commits that touched the draft's folder (the main file or a file it includes), newest
    first."""
    place = git_place(path)
    if place is None:
        return []
    out = _git(place.top, "log", "--format=%H%x09%ct%x09%s", "--", place.folder or ".") or ""
    versions = []
    for line in out.splitlines():
        rev, _, rest = line.partition("\t")
        stamp, _, message = rest.partition("\t")
        versions.append(GitVersion(rev, float(stamp or 0), message))
    return versions


def read_git_version(path: Path, rev: str) -> str:
    if not _GIT_REV.match(rev):
        raise DraftError(f"{rev!r} is not a git revision")
    place = git_place(path)
    if place is None:
        raise DraftError(f"{path} is not in a git repository, so it has no revision {rev!r}")

    def read(name: str) -> str | None:
        rel = f"{place.folder}/{name}" if place.folder else name
        return _git(place.top, "show", f"{rev}:{rel}")

    if read(place.name) is None:
        raise DraftError(f"{path.name} does not exist at git revision {rev!r}")
    return flatten(place.name, read)


# -- snapshots and references ----------------------------------------------------------------


def register(store: Store, name: str, path: Path, now: float | None = None) -> DraftVersion:
    path = path.expanduser().resolve()
    text = read_draft_file(path)
    stamp = time.time() if now is None else now
    store.add_draft(Draft(name, str(path), created_at=stamp))
    version = store.append_draft_version(name, text, "added", "snapshot", stamp)
    return version or store.list_draft_versions(name)[-1]


def snapshot_if_changed(store: Store, draft: Draft) -> DraftVersion | None:
    """A new version when the file on disk differs from the last stored one."""
    if not draft.path or store.read_only:
        return None  # a read-only database shows the versions it has
    try:
        text = read_draft_file(Path(draft.path))
    except DraftError:
        return None  # moved or deleted: the stored versions stay, nothing new to take
    return store.append_draft_version(draft.name, text, "changed on disk", "snapshot", time.time())


@dataclass(frozen=True)
class ResolvedVersion:
    label: str
    text: str
    draft: str | None = None  # the registered draft it belongs to
    version: int | None = None  # a stored version number


def draft_of_file(store: Store, path: Path) -> Draft | None:
    """The registered draft whose file this is, if any."""
    real = path.resolve()
    for draft in store.list_drafts():
        if draft.path and Path(draft.path).expanduser().resolve() == real:
            return draft
    return None


def resolve(store: Store, ref: str) -> ResolvedVersion:
    """A file path, NAME (its current text), NAME@N (stored version), NAME@REV (git). The
    file of a registered draft is that draft: snapshotted when it changed, as NAME is."""
    path = Path(ref).expanduser()
    if path.is_file():
        own = draft_of_file(store, path)
        if own is None:
            return ResolvedVersion(ref, read_draft_file(path))
        ref = own.name
    name, at, which = ref.partition("@")
    try:
        draft = store.get_draft(name)
    except NotFoundError:
        if not store.list_draft_versions(name):
            raise DraftError(
                f"{ref!r} is neither a file nor a draft (`cockpit paper list`)"
            ) from None
        draft = Draft(name, "")
    snapshot_if_changed(store, draft)
    versions = store.list_draft_versions(name)
    if not at:
        if not versions:
            raise DraftError(f"draft {name!r} has no versions")
        last = versions[-1]
        return ResolvedVersion(f"{name}@{last.version}", last.text, name, last.version)
    number = which[1:] if which[:1] in "vV" and which[1:].isdigit() else which
    if number.isdigit():
        found = next((v for v in versions if v.version == int(number)), None)
        if found is None:
            known = ", ".join(str(v.version) for v in versions) or "none"
            raise DraftError(f"draft {name!r} has no version {number} (versions: {known})")
        return ResolvedVersion(ref, found.text, name, found.version)
    if not draft.path:
        raise DraftError(f"draft {name!r} has no file, so no git history")
    return ResolvedVersion(ref, read_git_version(Path(draft.path), which), name)


# -- writing ---------------------------------------------------------------------------------


def write_with_snapshot(
    store: Store,
    draft: Draft,
    file: Path,
    new_text: str,
    *,
    after_snapshot: Callable[[], None] | None = None,
) -> DraftVersion | None:
    """Write an edited file of the draft: first a snapshot of the draft as it is now, then the
    new file through a temporary file and one rename, so a crash at any point leaves either
    the old file or the new one on disk, and the old text in the store. Returns the version
    of the draft after the edit."""
    store.append_draft_version(
        draft.name, read_draft_file(Path(draft.path)), "before edit", "before edit", time.time()
    )
    if after_snapshot is not None:
        after_snapshot()  # the tests kill the process here
    file = file.resolve()
    mode = file.stat().st_mode & 0o7777 if file.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".tmp", dir=file.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new_text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # The rename is durable only once the folder's entry is on disk.
    dir_fd = os.open(file.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return store.append_draft_version(
        draft.name, read_draft_file(Path(draft.path)), "edit accepted", "snapshot", time.time()
    )

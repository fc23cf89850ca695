"""Atomic writes: a file or folder appears under its final name complete, or not at all.

Folder writes also decide what an existing target may be: absent, an empty folder or an earlier
folder of the same kind are replaced; anything else (user files, a file, a link) only with
``overwrite``; the input itself, or a folder holding it or the current folder, never.
Temporaries are named ``.NAME.XXXXXXXX-PID.tmp`` and ``.NAME.old-PID`` beside the target, so an
interrupted write's leftovers are recognised and removed by the next write of that target.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gankit.core.errors import OutputExistsError

OVERWRITE_REMEDY = "choose another output, or pass --overwrite to replace it"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it over ``dest`` only if the block succeeds.

    The temporary name keeps ``dest``'s suffix so that writers choosing a format by extension work.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{dest.stem}.", suffix=f".tmp{dest.suffix}", dir=dest.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, dest)
        _fsync_dir(dest.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def atomic_write_bytes(dest: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(dest: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(dest, text.encode("utf-8"))


@dataclass(frozen=True)
class FolderKind:
    """A kind of folder gankit writes, and how to recognise an earlier one it may replace."""

    name: str
    is_one: Callable[[Path], bool]


def _within(inner: str, outer: str) -> bool:
    return inner == outer or os.path.commonpath([inner, outer]) == outer


def _describe(path: Path) -> str:
    if path.is_symlink():
        return "a symbolic link"
    if not path.is_dir():
        return "a file"
    names = sorted(p.name for p in path.iterdir())
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return f"a folder holding {len(names)} entr{'y' if len(names) == 1 else 'ies'} ({shown})"


def check_output_dir(
    dest: str | os.PathLike[str],
    kind: FolderKind | None = None,
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
    remedy: str = OVERWRITE_REMEDY,
) -> Path:
    """``dest`` as an absolute path if a folder may be written there; else OutputExistsError.

    Free targets: nothing, an empty folder, or an earlier folder of ``kind``. Anything else is
    replaced only with ``overwrite``. A target that is, or holds, one of ``inputs`` or the
    current folder is refused even then: replacing it would delete what the command reads, or
    pull the folder from under the shell.
    """
    target = Path(os.path.abspath(dest))
    real = os.path.realpath(target)
    if _within(os.path.realpath(os.getcwd()), real):
        raise OutputExistsError(f"{dest}: is the current folder or holds it; write to a new folder")
    for inp in inputs:
        if os.path.lexists(inp) and _within(os.path.realpath(inp), real):
            raise OutputExistsError(
                f"{dest}: is or holds the input {inp}; writing the output there would delete "
                "the input (also with --overwrite); choose another output"
            )
    if overwrite or not os.path.lexists(target):
        return target
    if target.is_dir() and not target.is_symlink():
        if not any(target.iterdir()) or (kind is not None and kind.is_one(target)):
            return target
    expected = f"an empty folder or an earlier {kind.name}" if kind else "an empty folder"
    raise OutputExistsError(f"{dest}: exists and is {_describe(target)}, not {expected}; {remedy}")


def check_not_input(
    outputs: Iterable[str | os.PathLike[str]],
    inputs: Iterable[str | os.PathLike[str]],
    *,
    overwrite: bool = False,
) -> None:
    """Refuse writing an output file over one of the command's input files unless ``overwrite``.

    Paths are compared as files (:func:`os.path.samefile`: links and other spellings of one
    file match); an output that does not exist yet cannot be an input.
    """
    existing = [Path(p) for p in inputs if os.path.isfile(p)]
    for out in outputs:
        if overwrite or not os.path.isfile(out):
            continue
        for inp in existing:
            if os.path.samefile(out, inp):
                raise OutputExistsError(
                    f"{out}: is the input {inp}; writing there would replace the input; "
                    "choose another output, or pass --overwrite to replace it"
                )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def _remove_stale(dest: Path, which: str) -> None:
    """Remove ``dest``'s temporaries (``which``: ``tmp`` or ``old``) left by dead writers.

    Only exact names of :func:`atomic_dir` count; ``.NAME.XXXXXXXX.tmp`` without a PID
    counts as the same thing.
    """
    prefix = re.escape(f".{dest.name}.")
    pattern = (
        re.compile(prefix + r"[a-z0-9_]{8}(?:-(\d+))?\.tmp")
        if which == "tmp"
        else re.compile(prefix + r"old-(\d+)")
    )
    with contextlib.suppress(OSError):
        for entry in list(dest.parent.iterdir()):
            match = pattern.fullmatch(entry.name)
            if match and not (match.group(1) and _alive(int(match.group(1)))):
                _remove(entry)


@contextlib.contextmanager
def atomic_dir(
    dest: str | os.PathLike[str],
    kind: FolderKind | None = None,
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
    remedy: str = OVERWRITE_REMEDY,
) -> Iterator[Path]:
    """Yield a temporary folder beside ``dest``; it replaces ``dest`` only if the block succeeds.

    What ``dest`` may be is :func:`check_output_dir`'s rule (checked before and again at the
    swap). An existing ``dest`` is moved aside first and deleted after the swap, so at every
    moment either the old or the new folder is complete under its name (or, briefly, under the
    aside name); the leftovers of a writer killed in between are removed by the next write.
    """
    check = functools.partial(
        check_output_dir, dest, kind, overwrite=overwrite, inputs=list(inputs), remedy=remedy
    )
    dest = check()
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(dest, "tmp")
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=f"-{os.getpid()}.tmp", dir=dest.parent)
    )
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        for f in tmp.rglob("*"):
            if f.is_file():
                with open(f, "rb+") as fh:
                    os.fsync(fh.fileno())
        check()
        old = None
        if os.path.lexists(dest):
            old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
            _remove(old)
            os.replace(dest, old)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
        if old is not None:
            _remove(old)
        _remove_stale(dest, "old")
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)

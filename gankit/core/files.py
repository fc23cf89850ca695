"""Opening files that arrive inside a folder someone else made (a model folder): safely.

A folder is input like any other, so its files are opened only when they are regular files of a
bounded size that stay inside the folder: a ``config.json`` that is a symlink to ``/dev/zero``,
a FIFO, a 1 GB file, a link to a file elsewhere on the disk or JSON nested 100,000 deep is one
:class:`~gankit.core.errors.BadInputError`, never a filled memory, a hang or a traceback.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO

from gankit.core.errors import BadInputError


def inside(path: Path, root: Path) -> Path:
    """``path`` with every symlink resolved, refused unless it stays under ``root``."""
    real, base = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    if real != base and base not in real.parents:
        raise BadInputError(
            f"{path}: a link to {real}, outside its folder {root}; refusing to follow it"
        )
    return real


def open_regular(path: Path, root: Path, limit: int | None) -> BinaryIO:
    """``path`` opened for reading: inside ``root``, a regular file, at most ``limit`` bytes
    (``None``: any size, for files read in part such as a safetensors header).

    ``O_NONBLOCK`` keeps a FIFO from blocking the open and ``O_NOFOLLOW`` a link swapped in after
    :func:`inside` from being followed; the type and size are checked on the open descriptor.
    """
    real = inside(path, root)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(real, flags)
    except FileNotFoundError:
        raise BadInputError(f"{path}: no such file") from None
    except OSError as err:
        raise BadInputError(f"{path}: cannot open it ({err.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise BadInputError(f"{path}: not a regular file (a device, FIFO, socket or folder)")
    if limit is not None and info.st_size > limit:
        os.close(fd)
        raise BadInputError(
            f"{path}: {info.st_size:,} bytes, more than the {limit:,} bytes such a file may have"
        )
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_json(path: Path, root: Path, limit: int) -> Any:
    """The JSON value in ``path`` (opened with :func:`open_regular`); every failure is one line."""
    with open_regular(path, root, limit) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise BadInputError(f"{path}: grew past {limit:,} bytes while being read")
    try:
        return json.loads(data)
    except RecursionError:
        raise BadInputError(f"{path}: JSON nested too deeply to be a config") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadInputError(f"{path}: not valid JSON ({err})") from None

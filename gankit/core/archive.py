"""Safe extraction of downloaded dataset archives (tar, tar.gz, zip).

Members that would land outside the destination (absolute paths, ``..``, links pointing out),
device files, and archives that expand beyond a size or member budget (zip bombs) are refused with
a :class:`BadInputError` before anything is written. Extraction goes to a temporary folder that is
renamed into place only when complete.
"""

from __future__ import annotations

import os
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from gankit.core.atomic import atomic_dir
from gankit.core.errors import BadInputError

MAX_BYTES = 64 * 1024**3
MAX_MEMBERS = 2_000_000


def _check_name(name: str, archive: Path) -> None:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or (p.parts and p.parts[0].endswith(":")):
        raise BadInputError(f"{archive}: unsafe member path {name!r} (outside the destination)")


def _check_tar(tf: tarfile.TarFile, archive: Path, max_bytes: int, max_members: int) -> None:
    total = 0
    for i, m in enumerate(tf):
        if i >= max_members:
            raise BadInputError(f"{archive}: more than {max_members} members")
        _check_name(m.name, archive)
        if m.issym() or m.islnk():
            target = PurePosixPath(m.name).parent / m.linkname if m.issym() else m.linkname
            _check_name(str(target), archive)
        elif not (m.isfile() or m.isdir()):
            raise BadInputError(f"{archive}: member {m.name!r} is not a file or folder")
        total += m.size
        if total > max_bytes:
            raise BadInputError(f"{archive}: expands beyond {max_bytes} bytes (refused)")


def _check_zip(zf: zipfile.ZipFile, archive: Path, max_bytes: int, max_members: int) -> None:
    infos = zf.infolist()
    if len(infos) > max_members:
        raise BadInputError(f"{archive}: more than {max_members} members")
    total = 0
    for info in infos:
        _check_name(info.filename, archive)
        total += info.file_size
        if info.compress_size and info.file_size / info.compress_size > 1000:
            raise BadInputError(f"{archive}: member {info.filename!r} has a bomb-like ratio")
    if total > max_bytes:
        raise BadInputError(f"{archive}: expands beyond {max_bytes} bytes (refused)")


def safe_extract(
    archive: str | os.PathLike[str], dest: str | os.PathLike[str],
    max_bytes: int = MAX_BYTES, max_members: int = MAX_MEMBERS,
) -> Path:
    """Extract ``archive`` into ``dest`` (created atomically) after checking every member."""
    archive, dest = Path(archive), Path(dest)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                _check_zip(zf, archive, max_bytes, max_members)
                with atomic_dir(dest, inputs=[archive]) as tmp:
                    zf.extractall(tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                _check_tar(tf, archive, max_bytes, max_members)
                with atomic_dir(dest, inputs=[archive]) as tmp:
                    tf.extractall(tmp, filter="data")
        else:
            raise BadInputError(f"{archive}: not a zip or tar archive")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as err:
        raise BadInputError(f"{archive}: corrupt archive ({err})") from None
    return dest

"""Safe extraction of downloaded dataset archives (tar, tar.gz, zip).

Members that would land outside the destination (absolute paths, ``..``, links pointing out),
device files, and archives that expand beyond a size or member budget are refused with a
:class:`BadInputError` before anything is written. One bomb rule holds for zip and tar: an
archive (or a zip member) may not expand to more than :data:`MAX_RATIO` times its compressed size
once the expansion passes :data:`RATIO_FLOOR` bytes (image datasets compress about 1:1; deflate
and gzip top out near 1000:1 on zeros). Tar headers are read as the stream decompresses, and the
check stops at the first member that breaks a rule, so a bomb is never expanded in full.
Extraction goes to a temporary folder that is renamed into place only when complete.
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
MAX_RATIO = 100
RATIO_FLOOR = 16 * 1024**2


def _check_name(name: str, archive: Path) -> None:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or (p.parts and p.parts[0].endswith(":")):
        raise BadInputError(f"{archive}: unsafe member path {name!r} (outside the destination)")


def _check_expansion(expanded: int, compressed: int, what: str, max_bytes: int) -> None:
    if expanded > max_bytes:
        raise BadInputError(f"{what}: expands beyond {max_bytes} bytes (refused)")
    if expanded > RATIO_FLOOR and expanded > MAX_RATIO * max(compressed, 1):
        raise BadInputError(
            f"{what}: expands to over {expanded} bytes from {compressed}, a "
            f"bomb-like ratio above {MAX_RATIO}:1 (refused)"
        )


def _check_tar(tf: tarfile.TarFile, archive: Path, max_bytes: int, max_members: int) -> None:
    compressed = archive.stat().st_size
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
        _check_expansion(total, compressed, str(archive), max_bytes)


def _check_zip(zf: zipfile.ZipFile, archive: Path, max_bytes: int, max_members: int) -> None:
    infos = zf.infolist()
    if len(infos) > max_members:
        raise BadInputError(f"{archive}: more than {max_members} members")
    total = 0
    for info in infos:
        _check_name(info.filename, archive)
        _check_expansion(
            info.file_size, info.compress_size, f"{archive}: member {info.filename!r}", max_bytes
        )
        total += info.file_size
    _check_expansion(total, archive.stat().st_size, str(archive), max_bytes)


def safe_extract(
    archive: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    max_bytes: int = MAX_BYTES,
    max_members: int = MAX_MEMBERS,
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

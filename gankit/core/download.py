"""Downloads into the cache with a progress bar, checksum verification and atomic rename."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from gankit.core.atomic import atomic_path
from gankit.core.errors import BadInputError, MissingWeightsError


def _is_loopback(host: str | None) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def check_url(url: str) -> None:
    """Only HTTPS (or plain HTTP to loopback, or file://) URLs are fetched."""
    parts = urllib.parse.urlparse(url)
    if parts.scheme == "https" or parts.scheme == "file":
        return
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return
    raise BadInputError(
        f"{url}: refusing to download over {parts.scheme or 'no scheme'}; use https"
    )


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_file(
    url: str, dest: str | os.PathLike[str], sha256: str | None = None, progress: bool = True
) -> Path:
    """Fetch ``url`` to ``dest`` unless a verified copy is already there."""
    dest = Path(dest)
    if dest.exists() and (sha256 is None or sha256_file(dest) == sha256):
        return dest
    check_url(url)
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, atomic_path(dest) as tmp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with open(tmp, "wb") as out:
                if progress and total and total > (1 << 20):
                    from rich.progress import Progress

                    with Progress(transient=True) as bar:
                        task = bar.add_task(f"downloading {dest.name}", total=total)
                        for chunk in iter(lambda: resp.read(1 << 20), b""):
                            out.write(chunk)
                            bar.advance(task, len(chunk))
                else:
                    shutil.copyfileobj(resp, out)
            if sha256 is not None:
                got = sha256_file(tmp)
                if got != sha256:
                    raise MissingWeightsError(
                        f"{url}: checksum mismatch (got {got[:12]}..., expected {sha256[:12]}...)"
                    )
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise MissingWeightsError(
            f"cannot download {url} ({reason}); check the network or place the file at {dest}"
        ) from None
    return dest

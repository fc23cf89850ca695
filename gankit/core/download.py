"""Downloads into the cache: bounded in size and time, complete or absent, checksum-verified.

Every download (``from_pretrained`` URLs, the ``download`` commands, datasets, metric weights)
goes through :func:`download_file`, which

- fetches only HTTPS (plain HTTP to loopback, or a regular local file via ``file://``), on every
  redirect hop, and follows at most :data:`MAX_REDIRECTS` hops;
- refuses a file larger than its kind's cap (:data:`MAX_BYTES`, ``GANKIT_DOWNLOAD_MAX_BYTES``)
  or than the free disk space, before writing when the size is declared and as soon as the cap is
  passed when it is not;
- stops at an overall deadline (``GANKIT_DOWNLOAD_DEADLINE``) and when the rate over a window
  falls below a minimum (``GANKIT_DOWNLOAD_MIN_RATE``), so a trickle cannot hang a command;
- writes under a temporary name and keeps the file only if it has the declared length;
- records the SHA-256 of each complete download beside it (``<file>.sha256``) and reuses a cached
  file only if it matches that record or a pinned checksum: the publishers of most GAN weights
  give no checksums, so the first download is trusted and every later use is checked against it
  (trust on first use).
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import os
import shutil
import string
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gankit.core.atomic import atomic_path, atomic_write_text
from gankit.core.errors import BadInputError, ConfigError, MissingWeightsError

MAX_BYTES = {"config": 4 * 1024**2, "weights": 16 * 1024**3, "dataset": 64 * 1024**3}
"""Per-kind size cap in bytes; ``GANKIT_DOWNLOAD_MAX_BYTES`` replaces it for every kind."""
DEADLINE_S = 6 * 3600.0
MIN_RATE = 10 * 1024.0
RATE_WINDOW_S = 30.0
MAX_REDIRECTS = 10
DISK_RESERVE = 64 * 1024**2
"""Free space a download must leave on the cache's disk."""
_CHUNK = 1 << 20


@dataclass(frozen=True)
class DownloadLimits:
    """Size cap (bytes), overall deadline (s), minimum rate (bytes/s, 0: none) over a window."""

    max_bytes: int
    deadline_s: float = DEADLINE_S
    min_rate: float = MIN_RATE
    rate_window_s: float = RATE_WINDOW_S

    @classmethod
    def for_kind(cls, kind: str) -> DownloadLimits:
        """The defaults for ``kind`` (a key of :data:`MAX_BYTES`), overridden by the environment."""
        return cls(
            max_bytes=int(_env_number("GANKIT_DOWNLOAD_MAX_BYTES", MAX_BYTES[kind])),
            deadline_s=_env_number("GANKIT_DOWNLOAD_DEADLINE", DEADLINE_S, positive=True),
            min_rate=_env_number("GANKIT_DOWNLOAD_MIN_RATE", MIN_RATE),
        )


def _env_number(name: str, default: float, positive: bool = False) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf") or (positive and value == 0):
        kind = "positive" if positive else "non-negative"
        raise ConfigError(f"{name}={raw!r}: expected a {kind} number")
    return value


def _is_loopback(host: str | None) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _is_loopback_http(url: str) -> bool:
    parts = urllib.parse.urlparse(url)
    return parts.scheme == "http" and _is_loopback(parts.hostname)


def check_url(url: str, redirected_from: str | None = None) -> None:
    """Only HTTPS (or plain HTTP to loopback, or file://) URLs are fetched.

    A redirect hop may not lead to file://, nor to plain HTTP unless it started there: a remote
    server must not steer a download to a service on this machine.
    """
    parts = urllib.parse.urlparse(url)
    if parts.scheme == "https" or (parts.scheme == "file" and redirected_from is None):
        return
    if _is_loopback_http(url) and (redirected_from is None or _is_loopback_http(redirected_from)):
        return
    via = f" (redirected from {redirected_from})" if redirected_from else ""
    raise BadInputError(
        f"{url}{via}: refusing to download over {parts.scheme or 'no scheme'}; use https"
    )


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Applies :func:`check_url` to every hop and stops after :data:`MAX_REDIRECTS` hops."""

    max_repeats = max_redirections = MAX_REDIRECTS + 1

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        hops = getattr(req, "gankit_hops", 0) + 1
        origin = getattr(req, "gankit_origin", req.full_url)
        if hops > MAX_REDIRECTS:
            raise BadInputError(f"{origin}: more than {MAX_REDIRECTS} redirects (a loop?)")
        check_url(newurl, redirected_from=origin)
        fp.close()  # the redirect's own body is never read: it could be endless
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            new.gankit_hops, new.gankit_origin = hops, origin
        return new


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def record_path(dest: str | os.PathLike[str]) -> Path:
    """Where the SHA-256 of a complete download of ``dest`` is recorded."""
    dest = Path(dest)
    return dest.with_name(dest.name + ".sha256")


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in string.hexdigits for c in text)


def _recorded(dest: Path) -> str | None:
    try:
        text = record_path(dest).read_text().strip().lower()
    except (OSError, UnicodeDecodeError):
        return None
    return text if len(text) == 64 and _is_hex(text) else None


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    sha256: str | None = None,
    progress: bool = True,
    kind: str = "weights",
    limits: DownloadLimits | None = None,
) -> Path:
    """Fetch ``url`` to ``dest`` unless a verified copy is already there.

    ``sha256`` pins the expected digest, or a prefix of it of at least 8 hex digits (torch.hub
    file names carry one); otherwise the digest recorded at the first download is expected. A
    cached file that matches neither is fetched again. ``kind`` ("config", "weights", "dataset")
    picks the size cap; ``limits`` replaces every limit.
    """
    dest = Path(dest)
    pinned = sha256.strip().lower() if sha256 is not None else None
    if pinned is not None and (len(pinned) < 8 or len(pinned) > 64 or not _is_hex(pinned)):
        raise BadInputError(f"{sha256!r}: not a SHA-256 (64 hex digits, or a prefix of 8+)")
    expected = pinned or _recorded(dest)
    if dest.is_file() and expected is not None and sha256_file(dest).startswith(expected):
        return dest
    check_url(url)
    _check_local_file(url)
    digest = _fetch(url, dest, expected, limits or DownloadLimits.for_kind(kind), progress)
    try:
        atomic_write_text(record_path(dest), digest + "\n")
    except OSError as err:
        raise MissingWeightsError(
            f"{dest}: downloaded, but its checksum cannot be recorded "
            f"({err.strerror or err}); it will be fetched again"
        ) from None
    return dest


def _check_local_file(url: str) -> None:
    parts = urllib.parse.urlparse(url)
    if parts.scheme != "file":
        return
    path = Path(urllib.request.url2pathname(parts.path))
    if path.exists() and not path.is_file():
        raise BadInputError(f"{url}: not a regular file (a device, pipe or folder); refused")


def _declared_length(resp: object, url: str, limits: DownloadLimits) -> int | None:
    raw = resp.headers.get("Content-Length")  # type: ignore[attr-defined]
    if raw is None or not raw.strip().isdigit():
        return None
    declared = int(raw)
    if declared > limits.max_bytes:
        raise BadInputError(
            f"{url}: declares {declared} bytes, over the {limits.max_bytes}-byte limit for this "
            "kind of file (GANKIT_DOWNLOAD_MAX_BYTES raises it)"
        )
    return declared


def _disk_budget(dest: Path, declared: int | None, url: str) -> int:
    """Bytes that may be written before the disk's reserve is reached; checked before starting."""
    free = shutil.disk_usage(dest.parent).free
    budget = free - DISK_RESERVE
    if declared is not None and declared > budget:
        raise MissingWeightsError(
            f"{url}: needs {declared} bytes but {dest.parent} has {free} free "
            f"(and keeps {DISK_RESERVE} in reserve); free some space and retry"
        )
    return budget


def _fetch(
    url: str, dest: Path, expected: str | None, limits: DownloadLimits, progress: bool
) -> str:
    start = time.monotonic()
    read_timeout = max(min(limits.rate_window_s, limits.deadline_s), 0.01)
    opener = urllib.request.build_opener(_CheckedRedirects)
    try:
        with opener.open(url, timeout=read_timeout) as resp, atomic_path(dest) as tmp:
            declared = _declared_length(resp, url, limits)
            budget = _disk_budget(dest, declared, url)
            with open(tmp, "wb") as out:
                if progress and declared and declared > _CHUNK:
                    from rich.progress import Progress

                    with Progress(transient=True) as bar:
                        task = bar.add_task(f"downloading {dest.name}", total=declared)
                        received, digest = _copy(
                            resp, out, url, limits, start, budget, lambda n: bar.advance(task, n)
                        )
                else:
                    received, digest = _copy(resp, out, url, limits, start, budget, None)
            if declared is not None and received != declared:
                raise MissingWeightsError(
                    f"{url}: incomplete download ({received} of the {declared} bytes declared); "
                    "nothing was kept, try again"
                )
            if expected is not None and not digest.startswith(expected):
                raise MissingWeightsError(
                    f"{url}: checksum mismatch (got {digest[:12]}..., expected {expected[:12]}..."
                    f" pinned or recorded in {record_path(dest).name} at the first download)"
                )
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        if isinstance(reason, TimeoutError):
            reason = f"no data for {read_timeout:g} s"
        reason = str(reason).strip().splitlines()[0] if str(reason).strip() else type(err).__name__
        raise MissingWeightsError(
            f"cannot download {url} ({reason}); check the network or place the file at {dest}"
        ) from None
    return digest


def _copy(
    resp: BinaryIO,
    out: BinaryIO,
    url: str,
    limits: DownloadLimits,
    start: float,
    budget: int,
    advance: Callable[[int], None] | None,
) -> tuple[int, str]:
    """Copy ``resp`` to ``out`` within ``limits``; returns (bytes, SHA-256)."""
    read = getattr(resp, "read1", resp.read)  # read1 returns what has arrived, not a full chunk
    h = hashlib.sha256()
    received = window_bytes = 0
    window_start = start
    while chunk := read(_CHUNK):
        received += len(chunk)
        if received > limits.max_bytes:
            raise BadInputError(
                f"{url}: larger than the {limits.max_bytes}-byte limit for this "
                "kind of file; refused (GANKIT_DOWNLOAD_MAX_BYTES raises it)"
            )
        if received > budget:
            raise MissingWeightsError(
                f"{url}: the download would fill the disk; stopped after "
                f"{received} bytes, free some space and retry"
            )
        out.write(chunk)
        h.update(chunk)
        if advance is not None:
            advance(len(chunk))
        now = time.monotonic()
        if now - start > limits.deadline_s:
            raise MissingWeightsError(
                f"{url}: not finished after {limits.deadline_s:g} s "
                "(GANKIT_DOWNLOAD_DEADLINE raises the deadline)"
            )
        window_bytes += len(chunk)
        if now - window_start >= limits.rate_window_s:
            rate = window_bytes / (now - window_start)
            if rate < limits.min_rate:
                raise MissingWeightsError(
                    f"{url}: {rate:.0f} bytes/s over {limits.rate_window_s:g} s, below the "
                    f"minimum of {limits.min_rate:g} (GANKIT_DOWNLOAD_MIN_RATE lowers it)"
                )
            window_start, window_bytes = now, 0
    return received, h.hexdigest()

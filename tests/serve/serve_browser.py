"""Playwright + Debian's Chromium for the browser tests (skip, or fail under CI's variable).

The browser is ``$GANKIT_CHROMIUM`` (default ``/usr/bin/chromium``, Debian's ``chromium``
package); Playwright's own browser download is not used. With ``GANKIT_REQUIRE_BROWSER=1`` a
missing browser or Playwright fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    path = os.environ.get("GANKIT_CHROMIUM", "/usr/bin/chromium")
    return path if os.path.isfile(path) else shutil.which(path)


def _missing(reason: str) -> None:
    if os.environ.get("GANKIT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"GANKIT_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@contextmanager
def browser_page(viewport: dict[str, int] | None = None) -> Iterator[Any]:
    """A fresh headless Chromium page (offline: only loopback hosts are reachable)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install -e '.[dev]')")
    exe = chromium_path()
    if exe is None:
        _missing("no Chromium found (apt-get install chromium, or set GANKIT_CHROMIUM)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport=viewport or {"width": 1280, "height": 900})
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()

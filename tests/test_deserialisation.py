"""A package-wide rule: no file gankit reads can run code when it is loaded."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gankit"
UNPICKLING = Path("core/foreign.py")
"""The one module that unpickles, through its restricted unpickler."""


def offenders(text: str, relative: Path) -> list[str]:
    """Unsafe deserialisation in one module's source."""
    found = []
    for m in re.finditer(r"torch\.load\(", text):
        call = text[m.start() : text.find(")", m.start()) + 200]
        if "weights_only=True" not in call.split("\n\n")[0]:
            found.append(f"{relative}: torch.load without weights_only=True")
    for m in re.finditer(r"\bpickle\.(loads?|Unpickler)\b|\ballow_pickle\s*=\s*True", text):
        if relative != UNPICKLING:
            found.append(f"{relative}: {m.group(0)} outside gankit/{UNPICKLING}")
    return found


def test_no_unsafe_deserialisation_in_the_package() -> None:
    """Every torch.load passes weights_only=True; pickles are read only by core.foreign's
    restricted unpickler."""
    found = []
    for f in sorted(PACKAGE.rglob("*.py")):
        found += offenders(f.read_text(), f.relative_to(PACKAGE))
    assert not found, found


def test_the_scan_catches_planted_calls() -> None:
    planted = (
        "import pickle\nx = pickle.loads(data)\ny = torch.load(path)\n"
        "z = np.load(f, allow_pickle=True)\n"
    )
    assert len(offenders(planted, Path("families/x/convert.py"))) == 3

"""One markdown table from the JSON lines that ``vs_reference/*.py --record FILE`` appended.

.venv/bin/python benchmarks/vs_reference/table.py RESULTS.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def row(r: dict) -> str:
    mem = r.get("peak_mib") or {}
    diff = r.get("step0_max_rel_diff")
    gankit = " ".join([r["precision"], *r.get("gankit_overrides", [])])
    return (
        f"| {r['benchmark']} | {r['device']} | {gankit} "
        f"| {r['s_per_it']['reference']:.4f} | {r['s_per_it']['gankit']:.4f} "
        f"| **{r['ratio_reference_over_gankit']:.2f}x** "
        f"| {mem.get('reference') or '-'} / {mem.get('gankit') or '-'} "
        f"| {'-' if diff is None else f'{diff:.1e}'} |"
    )


def main() -> None:
    lines = Path(sys.argv[1]).read_text().splitlines()
    print(
        "| benchmark | device | gankit precision, overrides | reference s/it | gankit s/it | ratio "
        "| peak MiB ref / gankit | step-0 loss rel. diff |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for line in lines:
        if line.strip():
            print(row(json.loads(line)))


if __name__ == "__main__":
    main()

"""What every bench reports the same way: the p95 of its timings, and its outcome (the JSON in
bench/out/, the goals missed on stderr with exit status 1, or the one line saying all were met)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def p95(values: list[float]) -> float:
    """Nearest rank: the value 95% of the requests were at or under."""
    return sorted(values)[math.ceil(0.95 * len(values)) - 1]


def finish(results: dict, name: str, failures: list[str], met: str) -> dict:
    results["failures"] = failures
    OUT.mkdir(exist_ok=True)
    (OUT / name).write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten to {OUT / name}")
    if failures:
        print("GOALS MISSED:\n  " + "\n  ".join(failures), file=sys.stderr)
        sys.exit(1)
    print(met)
    return results

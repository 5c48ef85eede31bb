"""Rows too many to hold in memory, sorted on disk: written in runs of `RUN` sorted rows and
read back merged. What the database records for the cross-check (the ledger's live rows and
every recorded SHA-256, read in the dump's snapshot) and each bucket's listing of versions go
through one, so that both sides reach the cross-check (storage/backup/crosscheck.py) in
(bucket, key) order without either being in memory. Python orders str by code point, which is
the UTF-8 byte order S3 lists keys in."""

from __future__ import annotations

import heapq
import json
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

# Rows sorted in memory at a time (about 30 MB of small lists); it bounds memory, and the runs
# merged at once (100 for ten million rows).
RUN = 100_000


class SortedSpool:
    """Lists of JSON values added in any order, read back sorted (once)."""

    def __init__(self, parent: Path, run: int | None = None):
        self.directory = Path(tempfile.mkdtemp(prefix=".spool-", dir=parent))   # mode 0700
        self.run, self.rows, self.runs, self.count = run or RUN, [], [], 0

    def add(self, row: list) -> None:
        self.rows.append(row)
        self.count += 1
        if len(self.rows) >= self.run:
            self._flush()

    def extend(self, rows: Iterable[list]) -> None:
        for row in rows:
            self.add(row)

    def _flush(self) -> None:
        if not self.rows:
            return
        self.rows.sort()
        path = self.directory / f"run-{len(self.runs):05}.jsonl"
        with open(path, "w", encoding="utf-8") as out:
            out.writelines(json.dumps(row) + "\n" for row in self.rows)
        self.runs.append(path)
        self.rows = []

    def sorted(self) -> Iterator[list]:
        self._flush()
        files = [open(path, encoding="utf-8") for path in self.runs]
        try:
            yield from heapq.merge(*((json.loads(line) for line in f) for f in files))
        finally:
            for f in files:
                f.close()

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> "SortedSpool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

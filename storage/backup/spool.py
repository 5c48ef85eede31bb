"""Rows too many to hold in memory, sorted on disk: what the database records for the
cross-check (the ledger's live rows and every recorded SHA-256) is read in the dump's snapshot,
written here in runs of `RUN` sorted rows, and read back merged in (bucket, key) order, so that
the cross-check walks it beside the set's sorted list of versions (storage/backup/crosscheck.py)
without either side in memory. Python orders str by code point, which is the UTF-8 byte order
S3 lists keys in."""

from __future__ import annotations

import heapq
import json
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

RUN = 100_000       # rows sorted in memory at a time (about 30 MB of small tuples)


class SortedSpool:
    """Lists of JSON values added in any order, read back sorted (once)."""

    def __init__(self, parent: Path, run: int = RUN):
        self.directory = Path(tempfile.mkdtemp(prefix=".spool-", dir=parent))   # mode 0700
        self.run, self.rows, self.runs, self.count = run, [], [], 0

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

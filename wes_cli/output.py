"""What a command prints: a line or a table for people, one JSON document for scripts (`--json`,
on stdout, errors included), and progress bars on stderr."""

from __future__ import annotations

import json
import sys
import threading


class Output:
    def __init__(self, *, as_json: bool, progress: bool | None):
        self.as_json = as_json
        # Bars only for a person watching: not with --json, not into a pipe, unless --progress.
        self.bars = bool(progress) if progress is not None else (not as_json
                                                                 and sys.stderr.isatty())

    def say(self, text: str) -> None:
        """A line for people (stderr with --json, so stdout stays one JSON document)."""
        print(text, file=sys.stderr if self.as_json else sys.stdout, flush=True)

    def result(self, data: dict, text: str | None = None) -> None:
        if self.as_json:
            print(json.dumps(data, indent=2, default=str), flush=True)
        elif text is not None:
            print(text, flush=True)

    def error(self, code: int, message: str, details: dict | None = None) -> None:
        if self.as_json:
            print(json.dumps({"ok": False, "exit_code": code, "error": message,
                              **(details or {})}, indent=2, default=str), flush=True)
        else:
            print(f"wes: {message}", file=sys.stderr, flush=True)

    def progress(self, total: int, label: str):
        """A callable advance(bytes) and a close(); a thread-safe tqdm bar or nothing."""
        if not self.bars:
            return (lambda n: None), (lambda: None)
        from tqdm import tqdm

        bar = tqdm(total=total, desc=label, unit="B", unit_scale=True, unit_divisor=1024,
                   file=sys.stderr, dynamic_ncols=True, leave=True)
        lock = threading.Lock()

        def advance(n: int) -> None:
            with lock:
                bar.update(n)
        return advance, bar.close

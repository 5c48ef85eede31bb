"""Exit codes (the contract's) and the one exception every command raises to end with one."""

from __future__ import annotations

OK = 0
FAILED = 1          # refused by the portal (4xx other than below), a checksum mismatch, ...
USAGE = 2           # argparse's own code for bad arguments
AUTH = 3            # no token, or the portal answered 401
NOT_FOUND = 4       # 404: missing, or another lab's
NETWORK = 5         # the portal or the storage server could not be reached


class CliError(Exception):
    def __init__(self, code: int, message: str, *, details: dict | None = None):
        super().__init__(message)
        self.code, self.message, self.details = code, message, details or {}


def code_for_status(status: int) -> int:
    if status == 401:
        return AUTH
    if status == 404:
        return NOT_FOUND
    if status >= 500:
        return NETWORK
    return FAILED

"""Uploads in progress, kept on disk so that re-running `wes upload` (or `wes upload --resume`)
carries on where an interrupted run stopped instead of creating the sample again.

A local file is known by (real path, size, modification time): if any of them changes it is a new
file and is uploaded afresh."""

from __future__ import annotations

import json
import os
from pathlib import Path

from wes_cli.config import state_dir, write_private_json


def state_path() -> Path:
    return state_dir() / "uploads.json"


def file_key(path: Path) -> str:
    info = path.stat()
    return f"{os.path.realpath(path)}|{info.st_size}|{info.st_mtime_ns}"


def _load() -> dict:
    try:
        return json.loads(state_path().read_text())
    except (FileNotFoundError, ValueError):
        return {}


def remembered(url: str, lab: str, paths: list[Path]) -> dict | None:
    """The sample these local files were being uploaded to, if all of them belong to the same."""
    entries = _load()
    found = [entries.get(file_key(p)) for p in paths]
    if not all(found):
        return None
    samples = {(e["url"], e["lab"], e["sample_id"]) for e in found}
    if samples != {(url, lab, found[0]["sample_id"])}:
        return None
    return {"sample_id": found[0]["sample_id"], "sample_name": found[0].get("sample_name"),
            "files": {e["read"]: e["file_id"] for e in found}}


def by_sample(url: str, lab: str, sample_id) -> dict[int, dict]:
    """read -> entry (with its local `path`) for a sample being uploaded from this machine."""
    return {e["read"]: e for e in _load().values()
            if (e["url"], e["lab"], str(e["sample_id"])) == (url, lab, str(sample_id))}


def remember(url: str, lab: str, sample: dict, files: list[tuple[dict, Path]]) -> None:
    entries = _load()
    for file_info, path in files:
        entries[file_key(path)] = {"url": url, "lab": lab, "sample_id": sample["id"],
                                   "sample_name": sample.get("name"), "file_id": file_info["id"],
                                   "read": file_info["read"], "path": os.path.realpath(path)}
    write_private_json(state_path(), entries)


def forget(url: str, lab: str, sample_id) -> None:
    entries = {k: e for k, e in _load().items()
               if (e["url"], e["lab"], str(e["sample_id"])) != (url, lab, str(sample_id))}
    write_private_json(state_path(), entries)

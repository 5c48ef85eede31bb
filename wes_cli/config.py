"""Where the client keeps things: the token in $XDG_CONFIG_HOME/wes/config.json (mode 0600), and
the uploads in progress in $XDG_STATE_HOME/wes/uploads.json (so re-running a command resumes)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from wes_cli.errors import AUTH, CliError


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "wes"


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "wes"


def config_path() -> Path:
    return config_dir() / "config.json"


def write_private_json(path: Path, data: dict) -> None:
    """Write `data` readable by the owner only, atomically (a crash leaves the old file)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)   # whatever the umask or an older file said
        json.dump(data, handle, indent=2)
        handle.write("\n")
    os.replace(temporary, path)


def save_config(url: str, token: str, lab: str) -> Path:
    path = config_path()
    write_private_json(path, {"url": url.rstrip("/"), "token": token, "lab": lab})
    return path


def load_config() -> dict:
    """The saved login; WES_URL / WES_TOKEN / WES_LAB override it (for scripts and CI)."""
    path = config_path()
    saved: dict = {}
    if path.exists():
        try:
            saved = json.loads(path.read_text())
        except ValueError:
            raise CliError(AUTH, f"{path} is not valid JSON; run `wes login` again.") from None
    for key in ("url", "token", "lab"):
        if os.environ.get(f"WES_{key.upper()}"):
            saved[key] = os.environ[f"WES_{key.upper()}"]
    if not saved.get("url") or not saved.get("token"):
        raise CliError(AUTH, "Not logged in: run `wes login --url https://portal.example`.")
    return saved

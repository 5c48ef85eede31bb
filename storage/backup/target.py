"""Where backup sets live: a directory, or anything rclone reaches (`name:path` for a remote
configured in rclone.conf or by RCLONE_CONFIG_NAME_* variables; `s3://bucket/path` for rclone's
on-the-fly S3 remote, whose endpoint and keys come from RCLONE_S3_* variables).

A set is a folder `wes-backup-YYYYMMDDTHHMMSSZ` holding `database.dump`, `objects.jsonl`,
`blobs/` and, written last, `manifest.json`: a folder without it is an unfinished set. For a
remote, the set is assembled in a staging folder and rclone copies it (`rclone copy --checksum`,
the manifest last); a restore copies it back the same way.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from django.conf import settings

from storage.backup.database import BackupError
from storage.backup.manifest import MANIFEST

SET_NAME = re.compile(r"^wes-backup-\d{8}T\d{6}Z$")


def new_set_name(now: datetime | None = None) -> str:
    return f"wes-backup-{(now or datetime.now(timezone.utc)):%Y%m%dT%H%M%SZ}"


@dataclass(frozen=True)
class Target:
    spec: str
    remote: str | None      # the rclone path ("name:path", ":s3:bucket/path"), or None for a dir

    @classmethod
    def parse(cls, spec: str) -> "Target":
        spec = (spec or "").strip()
        if not spec:
            raise BackupError("no backup target: give one (a directory, an rclone remote "
                              "`name:path` or s3://bucket/path), or set WES_BACKUP_TARGET")
        if spec.startswith("s3://"):
            rest = spec.removeprefix("s3://").strip("/")
            if not rest:
                raise BackupError(f"{spec}: name the bucket (s3://bucket/path)")
            return cls(spec, f":s3:{rest}")
        if re.match(r"^:?[A-Za-z0-9_.,=-]+:", spec) and not re.match(r"^[A-Za-z]:[\\/]", spec):
            return cls(spec, spec.rstrip("/"))
        return cls(spec, None)

    @property
    def public(self) -> str:
        """The spec without an rclone connection string's parameters (`:s3,secret_access_key=
        ...:bucket` names keys inline), for the audit log and messages."""
        return re.sub(r"^(:?[A-Za-z0-9_.-]+),[^:]*:", r"\1:", self.spec)

    def public_where(self, name: str) -> str:
        where = self.where(name)
        return re.sub(r"^(:?[A-Za-z0-9_.-]+),[^:]*:", r"\1:", where)

    @property
    def directory(self) -> Path:
        return Path(self.spec).expanduser().resolve()

    def where(self, name: str) -> str:
        return f"{self.remote}/{name}" if self.remote else str(self.directory / name)

    # --- listing and pruning ---------------------------------------------------------------

    def sets(self) -> list[tuple[str, bool]]:
        """(name, complete) of every set, oldest first."""
        if self.remote is None:
            if not self.directory.is_dir():
                return []
            return sorted((p.name, (p / MANIFEST).exists()) for p in self.directory.iterdir()
                          if p.is_dir() and SET_NAME.match(p.name))
        listed = json.loads(rclone("lsjson", "--recursive", "--max-depth", "2",
                                   "--include", f"/*/{MANIFEST}", "--include", "/*/",
                                   self.remote, missing_ok=True) or "[]")
        names = {item["Path"] for item in listed if item.get("IsDir")
                 and SET_NAME.match(item["Path"])}
        complete = {item["Path"].split("/")[0] for item in listed
                    if item["Path"].endswith("/" + MANIFEST)}
        return sorted((name, name in complete) for name in names)

    def remove(self, name: str) -> None:
        if not SET_NAME.match(name):
            raise BackupError(f"{name!r} is not a backup set's name; not removing it")
        if self.remote is None:
            shutil.rmtree(self.directory / name)
        else:
            rclone("purge", f"{self.remote}/{name}")

    def prune(self, keep: int) -> list[str]:
        """Keep the newest `keep` complete sets; remove older sets, complete or not (a set still
        being written is newer than every complete one, so it stays)."""
        sets = self.sets()
        complete = [name for name, done in sets if done]
        if len(complete) <= keep:
            return []
        oldest_kept = complete[-keep]
        removed = [name for name, _done in sets if name < oldest_kept]
        for name in removed:
            self.remove(name)
        return removed

    # --- moving sets -----------------------------------------------------------------------

    def staging(self) -> Path:
        """Where a set is assembled: in the target directory itself, or a staging folder."""
        if self.remote is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            return self.directory
        base = settings.BACKUP_STAGING_DIR or None
        if base:
            Path(base).mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="wes-backup-staging-", dir=base))

    def send(self, set_dir: Path) -> None:
        """Copy an assembled set to the remote, manifest last, and drop the staging copy."""
        if self.remote is None:
            return
        where = f"{self.remote}/{set_dir.name}"
        rclone("copy", "--checksum", "--exclude", f"/{MANIFEST}", str(set_dir), where)
        if (set_dir / MANIFEST).exists():
            rclone("copyto", "--checksum", str(set_dir / MANIFEST), f"{where}/{MANIFEST}")
        shutil.rmtree(set_dir.parent)

    def fetch(self, name: str) -> tuple[Path, Path | None]:
        """A local folder holding the set (the set itself for a directory target), and the
        staging folder to remove afterwards (None for a directory)."""
        if name == "latest":
            complete = [n for n, done in self.sets() if done]
            if not complete:
                raise BackupError(f"{self.spec} holds no complete backup set")
            name = complete[-1]
        if not SET_NAME.match(name):
            raise BackupError(f"{name!r} is not a backup set's name (wes-backup-YYYYMMDDTHHMMSSZ, "
                              "or `latest`)")
        if self.remote is None:
            path = self.directory / name
            if not path.is_dir():
                raise BackupError(f"{path} does not exist")
            return path, None
        staging = self.staging()
        rclone("copy", "--checksum", f"{self.remote}/{name}", str(staging / name))
        return staging / name, staging


def rclone(*args: str, missing_ok: bool = False) -> str:
    command = [settings.BACKUP_RCLONE, *args]
    env = dict(os.environ)
    # rclone's AWS SDK refuses AWS_CA_BUNDLE ("LoadCustomCABundleError: unsupported transport",
    # rclone 1.60); rclone takes the same bundle as --ca-cert.
    bundle = env.pop("AWS_CA_BUNDLE", "")
    if bundle:
        command[1:1] = ["--ca-cert", bundle]
    try:
        answer = subprocess.run(command, capture_output=True, text=True, env=env)
    except FileNotFoundError as exc:
        raise BackupError(f"{settings.BACKUP_RCLONE} is not installed (Debian: apt-get install "
                          "rclone), and a remote backup target needs it") from exc
    if answer.returncode != 0:
        if missing_ok and answer.returncode == 3:      # rclone: directory not found
            return ""
        raise BackupError(f"rclone {args[0]} failed ({answer.returncode}): "
                          f"{answer.stderr.strip()[-1000:]}")
    return answer.stdout

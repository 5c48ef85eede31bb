"""The database half of a set: `pg_dump -Fc` taken in a snapshot the portal exports and keeps
open, so that what the dump holds and what the manifest checks (the ledger, the recorded digests)
are the same instant; `pg_restore` into an empty database."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from django.db import connection, transaction


class BackupError(Exception):
    """A backup or restore step that cannot go on, said in one sentence."""


def require_postgresql() -> None:
    if connection.vendor != "postgresql":
        raise BackupError(
            f"backup and restore need PostgreSQL; this portal runs on {connection.vendor} (a "
            "development database). Copy an SQLite file with `sqlite3 var/db.sqlite3 "
            "'.backup copy.sqlite3'` while nothing writes, or move to PostgreSQL (DATABASE_URL).")


def tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} is not installed (Debian: postgresql-client, the same major "
                          "version as the server or newer)")
    return found


def libpq_environment(database: dict | None = None) -> dict[str, str]:
    """PG* variables for pg_dump/pg_restore/psql from a Django database's settings (the password
    goes in the environment, never on a command line that `ps` shows)."""
    db = database or connection.settings_dict
    env = {**os.environ, "PGDATABASE": db["NAME"]}
    for variable, field in (("PGHOST", "HOST"), ("PGPORT", "PORT"), ("PGUSER", "USER"),
                            ("PGPASSWORD", "PASSWORD")):
        if db.get(field):
            env[variable] = str(db[field])
    return env


@contextlib.contextmanager
def snapshot():
    """A read-only repeatable-read transaction on the portal's connection whose snapshot is
    exported: yields its id for `pg_dump --snapshot`; ORM reads inside see the same instant."""
    require_postgresql()
    if connection.in_atomic_block:
        raise BackupError("a backup cannot start inside another transaction")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot(), now()")
            snapshot_id, taken_at = cursor.fetchone()
        yield snapshot_id, taken_at


def dump(path: Path, *, snapshot_id: str) -> None:
    """The whole database as `pg_dump -Fc` (custom format: compressed, restorable table by
    table), taken in the exported snapshot."""
    answer = subprocess.run(
        [tool("pg_dump"), "--format=custom", f"--snapshot={snapshot_id}", "--no-password",
         f"--file={path}"],
        env=libpq_environment(), capture_output=True, text=True)
    if answer.returncode != 0:
        raise BackupError(f"pg_dump failed ({answer.returncode}): {answer.stderr.strip()[-1000:]}")


def database_is_empty(database: dict | None = None) -> bool:
    """True when the database has no table of its own (only the catalogues)."""
    answer = subprocess.run(
        [tool("psql"), "--no-password", "--tuples-only", "--no-align", "--command",
         "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
         "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
         "AND n.nspname NOT LIKE 'pg_toast%'"],
        env=libpq_environment(database), capture_output=True, text=True)
    if answer.returncode != 0:
        raise BackupError(f"cannot read the database {(database or connection.settings_dict)['NAME']}: "
                          f"{answer.stderr.strip()[-500:]}")
    return int(answer.stdout.strip() or 0) == 0


def restore(path: Path, *, database: dict | None = None) -> None:
    """pg_restore the dump into the (empty) database, as the connecting role: objects belong to
    it (--no-owner); grants to roles that exist there are restored."""
    db = database or connection.settings_dict
    if not database_is_empty(db):
        raise BackupError(f"the database {db['NAME']} already has tables; restore only into an "
                          "empty database (createdb a new one, point DATABASE_URL at it)")
    answer = subprocess.run(
        [tool("pg_restore"), "--no-password", "--no-owner", "--exit-on-error",
         "--single-transaction", f"--dbname={db['NAME']}", str(path)],
        env=libpq_environment(db), capture_output=True, text=True)
    if answer.returncode != 0:
        raise BackupError(f"pg_restore failed ({answer.returncode}): "
                          f"{answer.stderr.strip()[-1000:]}")


"""Which storage key pair a piece of code uses: one key pair per role, each with only its rights.

| role | process | may |
|---|---|---|
| web | gunicorn | upload reads (presigned parts, plain form), read what it signs downloads of, write report PDFs; delete only its own kept copies |
| worker | qcluster | read reads and the reference, tag reads, write intermediate, results and logs, audit checkpoints under retention; never delete |
| records | archive, restore, purge, legal holds, reconciliation | list everything, write archives and restored results, delete, place legal holds; not read the reads |
| admin | setup_storage, load_reference, backups | everything on the six buckets |

The rights themselves are in storage/policies.py (one table, turned into the MinIO policies and
the SeaweedFS identities). Here: the process's role (`WES_STORAGE_ROLE`), each role's key pair
(`MINIO_<ROLE>_ACCESS_KEY` / `MINIO_<ROLE>_SECRET_KEY`, falling back to `MINIO_ACCESS_KEY` /
`MINIO_SECRET_KEY`, so a single-key installation keeps working), and `acting_as(role)`, which a
records or admin operation wraps around its storage calls wherever it runs.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar

from django.conf import settings

ROLES = ("web", "worker", "records", "admin")

_acting_as: ContextVar[str | None] = ContextVar("storage_role", default=None)


class UnknownRole(ValueError):
    pass


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UnknownRole(f"{role!r} is not a storage role; the roles are {', '.join(ROLES)}")
    return role


def process_role() -> str:
    """The role this process was started with (WES_STORAGE_ROLE)."""
    return check_role(settings.WES_STORAGE_ROLE)


def current_role() -> str:
    """The role of the code running now: an `acting_as` block's, else the process's."""
    return _acting_as.get() or process_role()


@contextlib.contextmanager
def acting_as(role: str):
    """Storage calls inside the block use `role`'s key pair (a legal hold placed from the admin
    in the web process uses the records key, not the web key). Also a decorator. Threads started
    inside the block do not inherit it (a ContextVar); they sign with the process's role."""
    token = _acting_as.set(check_role(role))
    try:
        yield
    finally:
        _acting_as.reset(token)


def key_pair(role: str | None = None) -> tuple[str, str]:
    """(access key, secret key) of `role` (default: the current role); a role without keys of its
    own uses MINIO_ACCESS_KEY / MINIO_SECRET_KEY."""
    role = check_role(role or current_role())
    own = settings.MINIO_ROLE_KEYS.get(role)
    if own:
        return own
    return settings.MINIO_ACCESS_KEY, settings.MINIO_SECRET_KEY


def separate_keys() -> dict[str, bool]:
    """Which roles have a key pair of their own (the others share MINIO_ACCESS_KEY)."""
    return {role: role in settings.MINIO_ROLE_KEYS for role in ROLES}

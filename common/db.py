"""Row locks that lock only what they name, and riding out a database that briefly does not answer."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.db.models import QuerySet

log = logging.getLogger(__name__)


def for_update(queryset: QuerySet) -> QuerySet:
    """Lock the queryset's own rows until the transaction ends (FOR NO KEY UPDATE OF its table).

    A plain `select_for_update()` over `select_related` also locks the joined rows, the lab
    among them, and FOR UPDATE blocks the key-share check every insert referencing that row makes at
    commit. A request holding the audit chain's advisory lock and inserting a row for the lab then
    deadlocked against one holding the lab row and waiting for the audit lock. NO KEY UPDATE of the
    own table serialises the same writers without blocking anyone's foreign keys. SQLite ignores
    row locks altogether.
    """
    return queryset.select_for_update(no_key=True, of=("self",))


def patiently(call, *, patience: float | None = None):
    """`call()`, again after a growing wait (1, 2, 4 ... 30 s) while the database does not
    answer (restarted, failed over, a network blip), for up to `patience` seconds in all
    (WES_DB_PATIENCE_SECONDS); then the error is raised. `call` must be safe to repeat: a whole
    transaction, or a read."""
    deadline = time.monotonic() + (settings.DB_PATIENCE_SECONDS if patience is None else patience)
    wait = 1.0
    while True:
        try:
            return call()
        except (OperationalError, InterfaceError) as exc:
            if time.monotonic() + wait > deadline:
                raise
            log.warning("database did not answer (%s); trying again in %.0f s", exc, wait)
            connection.close()   # the next query opens a fresh connection
            time.sleep(wait)
            wait = min(wait * 2, 30.0)


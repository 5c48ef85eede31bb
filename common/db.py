"""Row locks that lock only what they name."""

from __future__ import annotations

from django.db.models import QuerySet


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

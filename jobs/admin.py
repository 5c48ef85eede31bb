"""The jobs app's admin pages, registered by the areas that own them (Django reads this module)."""

from jobs.intake import admin as intake_admin  # noqa: F401  (samples)
from jobs.records import admin as records_admin  # noqa: F401  (jobs, legal holds, retention)
from jobs.records import usage_admin  # noqa: F401  (usage, storage dashboard, reconciliation)

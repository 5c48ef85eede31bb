"""The audit trail of the storage scrub (storage/scrub.py): a run that found objects missing,
changed or unreadable writes one event per lab whose objects they are (and one without a lab for
shared objects: reference data, audit exports), so a lab's own trail shows that its data was
damaged. Storage cannot import the audit log, so tenants listens (tenants/apps.py)."""

from __future__ import annotations

from collections import Counter, defaultdict

from tenants import audit_actions
from tenants.audit import SYSTEM, audit_record
from tenants.models import Lab

LISTED = 50


def audit_scrub_findings(run, findings) -> None:
    by_lab = defaultdict(list)
    for finding in findings:
        by_lab[finding.lab_id].append(finding)
    labs = Lab.objects.in_bulk([lab_id for lab_id in by_lab if lab_id is not None])
    for lab_id, found in by_lab.items():
        audit_record(actor=SYSTEM, action=audit_actions.STORAGE_SCRUB_FINDINGS,
                     lab=labs.get(lab_id), resource_type="scrub_run", resource_id=run.pk,
                     details={"run": run.pk, "trigger": run.trigger,
                              "kinds": dict(Counter(f.kind for f in found)),
                              "objects": [{"bucket": f.bucket, "key": f.key, "kind": f.kind}
                                          for f in found[:LISTED]],
                              "more": max(0, len(found) - LISTED)})

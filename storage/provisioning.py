"""Bring the S3 server in line with the bucket registry, and report where it differs.

`plan` reads the server and lists differences; `apply` fixes them. Both go bucket by bucket and
aspect by aspect, so that a server lacking one feature (say, lifecycle rules) is reported clearly
without stopping the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from storage import bucket_config, s3
from storage.buckets import REGISTRY, BucketRule
from storage.credentials import acting_as
from storage.metric_records import record_check


@dataclass(frozen=True)
class Drift:
    bucket: str
    aspect: str          # "bucket", "versioning", "object lock", "encryption", "lifecycle", "cors"
    expected: str
    actual: str

    def __str__(self) -> str:
        return f"{self.bucket}: {self.aspect} should be {self.expected}, server has {self.actual}"


@dataclass
class Report:
    drift: list[Drift] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)


def normalise_rule(rule: dict) -> tuple:
    """A lifecycle rule reduced to what it means; servers echo rules back in different shapes."""
    prefix = rule.get("Prefix") or rule.get("Filter", {}).get("Prefix") or ""
    return (
        rule.get("ID", ""),
        rule.get("Status", ""),
        prefix,
        rule.get("Expiration", {}).get("Days"),
        rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays"),
        rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation"),
    )


def describe_rules(rules: list[dict]) -> str:
    if not rules:
        return "no rules"
    parts = []
    for rule_id, status, prefix, days, noncurrent, _abort in sorted(map(normalise_rule, rules),
                                                                    key=str):
        text = f"{rule_id or '(unnamed)'} [{status}]"
        if prefix:
            text += f" prefix={prefix}"
        if days is not None:
            text += f" expire={days}d"
        if noncurrent is not None:
            text += f" noncurrent={noncurrent}d"
        parts.append(text)
    return "; ".join(parts)


def _bucket_drift(rule: BucketRule) -> list[Drift]:
    name = rule.name
    if not s3.bucket_exists(name):
        return [Drift(name, "bucket", "present", "missing")]
    found = []
    versioned = bucket_config.get_versioning(name)
    if versioned != rule.versioned:
        found.append(Drift(name, "versioning", _on_off(rule.versioned), _on_off(versioned)))
    if rule.object_lock and not bucket_config.get_object_lock_enabled(name):
        found.append(Drift(name, "object lock", "enabled (legal holds, audit checkpoints)", "off"))
    if rule.encrypted:
        algorithm = bucket_config.get_default_encryption(name)
        if algorithm is None:
            found.append(Drift(name, "encryption", "SSE-S3 (AES256) by default", "none"))
    wanted = rule.lifecycle_rules()
    present = bucket_config.get_lifecycle_rules(name)
    if sorted(map(normalise_rule, wanted), key=str) != sorted(map(normalise_rule, present), key=str):
        found.append(Drift(name, "lifecycle", describe_rules(wanted), describe_rules(present)))
    if rule.browser_uploads:
        wanted_cors, present_cors = rule.cors_rules(), bucket_config.get_cors_rules(name)
        if normalise_cors(wanted_cors) != normalise_cors(present_cors):
            found.append(Drift(name, "cors", describe_cors(wanted_cors), describe_cors(present_cors)))
    return found


def normalise_cors(rules: list[dict]) -> list[tuple]:
    return sorted(
        (tuple(sorted(r.get("AllowedOrigins", []))), tuple(sorted(r.get("AllowedMethods", []))),
         tuple(sorted(r.get("ExposeHeaders", []))))
        for r in rules)


def describe_cors(rules: list[dict]) -> str:
    if not rules:
        return "no CORS rules"
    return "; ".join(f"{','.join(origins)} may {','.join(methods)} (expose {','.join(exposed)})"
                     for origins, methods, exposed in normalise_cors(rules))


def _on_off(value: bool) -> str:
    return "on" if value else "off"


@acting_as("admin")
def plan(rules: tuple[BucketRule, ...] = REGISTRY) -> Report:
    report = Report()
    for rule in rules:
        try:
            report.drift.extend(_bucket_drift(rule))
        except s3.StorageNotSupported as exc:
            report.unsupported.append(f"{rule.name}: {exc}")
    if rules is REGISTRY:   # the whole configuration was compared: /metrics shows the outcome
        record_check("storage_drift", ok=not report.drift, problems=len(report.drift),
                     detail="; ".join(map(str, report.drift)))
    return report


@acting_as("admin")
def apply(rules: tuple[BucketRule, ...] = REGISTRY) -> Report:
    """Create missing buckets and fix every drifting aspect; unchanged servers see only reads."""
    report = Report()
    for rule in rules:
        for drift in _bucket_drift_or_unsupported(rule, report):
            try:
                _fix(rule, drift)
            except s3.StorageNotSupported as exc:
                report.unsupported.append(f"{rule.name}: {exc}")
                continue
            report.changes.append(_change_text(drift))
            if drift.aspect == "bucket":
                # A new bucket has none of its settings yet: look again and fix those too.
                for follow_up in _bucket_drift_or_unsupported(rule, report):
                    try:
                        _fix(rule, follow_up)
                        report.changes.append(_change_text(follow_up))
                    except s3.StorageNotSupported as exc:
                        report.unsupported.append(f"{rule.name}: {exc}")
    return report


def _bucket_drift_or_unsupported(rule: BucketRule, report: Report) -> list[Drift]:
    try:
        return _bucket_drift(rule)
    except s3.StorageNotSupported as exc:
        report.unsupported.append(f"{rule.name}: {exc}")
        return []


def _fix(rule: BucketRule, drift: Drift) -> None:
    name = rule.name
    if drift.aspect == "bucket":
        s3.create_bucket(name, object_lock=rule.object_lock)
    elif drift.aspect == "versioning":
        bucket_config.set_versioning(name, rule.versioned)
    elif drift.aspect == "object lock":
        bucket_config.enable_object_lock(name)
    elif drift.aspect == "encryption":
        bucket_config.set_default_encryption(name)
    elif drift.aspect == "lifecycle":
        bucket_config.set_lifecycle_rules(name, rule.lifecycle_rules())
    elif drift.aspect == "cors":
        bucket_config.set_cors_rules(name, rule.cors_rules())
    else:  # pragma: no cover - every aspect _bucket_drift reports is handled above
        raise ValueError(drift.aspect)


def _change_text(drift: Drift) -> str:
    if drift.aspect == "bucket":
        return f"{drift.bucket}: created"
    return f"{drift.bucket}: {drift.aspect} set to {drift.expected} (was {drift.actual})"

"""The one place that builds object keys. Every key of lab data starts with the lab's prefix.

Keys are built from database rows (a lab, a job id, a validated sample name), never from text a
user typed into a request, and every component is checked again here so that a key can never
climb out of its prefix (`../`), carry a control character or collide with another lab's.
"""

from __future__ import annotations

import re
import uuid
from datetime import date

from django.core.validators import RegexValidator

SAFE_COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

# The one rule for a sample name: the forms, the JSON API and the sample sheet validate with it,
# and the keys below check it again, so a name the forms accept always makes a key.
SAMPLE_NAME_RULE = RegexValidator(
    r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
    "Use 1-64 letters, digits, dots, hyphens and underscores, starting with a letter or digit "
    "and with no two dots in a row.")


class UnsafeKeyComponent(ValueError):
    pass


def _component(value: object) -> str:
    text = str(value)
    if not SAFE_COMPONENT.match(text) or ".." in text:
        raise UnsafeKeyComponent(f"{text!r} cannot be part of an object key")
    return text


def _sample_name(name: str) -> str:
    if not SAMPLE_NAME_RULE.regex.match(str(name)):
        raise UnsafeKeyComponent(f"{name!r} is not a valid sample name")
    return _component(name)


def lab_prefix(lab) -> str:
    # The lab's UUID, not its slug: a slug can be renamed, keys cannot, and a UUID cannot be guessed.
    return f"{_component(lab.pk)}/"


def job_prefix(lab, job_id: uuid.UUID) -> str:
    return f"{lab_prefix(lab)}{_component(job_id)}/"


def raw_fastq_key(lab, job_id: uuid.UUID, sample_name: str, read: int) -> str:
    if read not in (1, 2):
        raise UnsafeKeyComponent(f"read must be 1 or 2, not {read!r}")
    return f"{job_prefix(lab, job_id)}{_sample_name(sample_name)}_R{read}.fastq.gz"


def received_fastq_key(lab, received_id: uuid.UUID, read: int) -> str:
    """A FASTQ the no-JavaScript form received while its other fields were wrong, kept until the
    corrected form claims it (copied to its raw_fastq_key) or the raw bucket's rule expires it."""
    if read not in (1, 2):
        raise UnsafeKeyComponent(f"read must be 1 or 2, not {read!r}")
    return f"{lab_prefix(lab)}received/{_component(received_id)}_R{read}.fastq.gz"


def job_output_key(lab, job_id: uuid.UUID, relative_path: str) -> str:
    """A pipeline output under the job's prefix, keeping the pipeline's published sub-folders."""
    parts = relative_path.split("/")
    return job_prefix(lab, job_id) + "/".join(_component(part) for part in parts)


def report_key(lab, job_id: uuid.UUID, sample_name: str, version: int, *, signed: bool,
               sha256: str) -> str:
    """A report PDF. The digest is part of the key, so a new draft or a new signed version is a
    new object and nothing already stored is ever overwritten."""
    if not isinstance(version, int) or version < 1 or not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise UnsafeKeyComponent("a report key needs a version >= 1 and a SHA-256")
    kind = "signed" if signed else "draft"
    return (f"{job_prefix(lab, job_id)}report/{_component(sample_name)}_report_v{version}_"
            f"{kind}_{sha256[:16]}.pdf")


def archive_key(lab, job_id: uuid.UUID, archived_on: date) -> str:
    return f"{archived_on:%Y}/{archived_on:%m}/{lab_prefix(lab)}{_component(job_id)}.tar.gz"


def log_key(day: date, job_id: uuid.UUID, file_name: str) -> str:
    return f"{day:%Y-%m-%d}/{_component(job_id)}/{_component(file_name)}"


def audit_export_key(month: date) -> str:
    """One month of the audit log in the logs bucket: audit/2026/2026-05.jsonl.gz."""
    return f"audit/{month:%Y}/{month:%Y-%m}.jsonl.gz"


AUDIT_CHECKPOINT_PREFIX = "audit/checkpoints/"
_AUDIT_CHECKPOINT_KEY = re.compile(r"^audit/checkpoints/(\d{20})-([0-9a-f]{64})\.json$")


def audit_checkpoint_key(last_id: int, chain_value: str) -> str:
    """A checkpoint of the audit chain in the logs bucket, named by the last event it holds and
    that event's chain value (so a listing alone tells what each one vouches for)."""
    if not re.fullmatch(r"[0-9a-f]{64}", chain_value):
        raise ValueError(f"{chain_value!r} is not a chain value (64 hexadecimal characters)")
    return f"{AUDIT_CHECKPOINT_PREFIX}{last_id:020d}-{chain_value}.json"


def audit_checkpoint_of(key: str) -> tuple[int, str] | None:
    """(last event id, chain value) named by a checkpoint's key; None for any other key."""
    match = _AUDIT_CHECKPOINT_KEY.match(key)
    return (int(match[1]), match[2]) if match else None


def reference_key(build: str, file_name: str) -> str:
    return f"{_component(build)}/{_component(file_name)}"


def key_belongs_to_lab(key: str, lab) -> bool:
    return key.startswith(lab_prefix(lab))

import uuid
from datetime import date
from types import SimpleNamespace

import pytest

from storage import keys

LAB = SimpleNamespace(pk=uuid.UUID("11111111-2222-3333-4444-555555555555"))
OTHER_LAB = SimpleNamespace(pk=uuid.UUID("99999999-2222-3333-4444-555555555555"))
JOB = uuid.UUID("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")


def test_it_starts_every_lab_key_with_the_lab_prefix():
    key = keys.raw_fastq_key(LAB, JOB, "NA12878-1", 2)
    assert key == f"{LAB.pk}/{JOB}/NA12878-1_R2.fastq.gz"
    assert keys.key_belongs_to_lab(key, LAB)
    assert not keys.key_belongs_to_lab(key, OTHER_LAB)


def test_it_keeps_published_sub_folders_under_the_job():
    assert keys.job_output_key(LAB, JOB, "vcf/S1.vcf.gz") == f"{LAB.pk}/{JOB}/vcf/S1.vcf.gz"


def test_it_lays_out_archives_and_logs_by_date():
    assert keys.archive_key(LAB, JOB, date(2027, 3, 9)) == f"2027/03/{LAB.pk}/{JOB}.tar.gz"
    assert keys.log_key(date(2027, 3, 9), JOB, "trace.txt") == f"2027-03-09/{JOB}/trace.txt"


@pytest.mark.parametrize("name", [
    "../other-lab", "..", "a/../../b", "", "-leading-dash", "with space", "quote\"s",
    "<script>", "new\nline", "\u202eevil", "x" * 129, "über", ".hidden",
])
def test_it_rejects_components_that_could_escape_or_confuse_a_key(name):
    with pytest.raises(keys.UnsafeKeyComponent):
        keys.raw_fastq_key(LAB, JOB, name, 1)


def test_it_rejects_a_third_read():
    with pytest.raises(keys.UnsafeKeyComponent):
        keys.raw_fastq_key(LAB, JOB, "S1", 3)


def test_it_rejects_traversal_inside_an_output_path():
    with pytest.raises(keys.UnsafeKeyComponent):
        keys.job_output_key(LAB, JOB, "qc/../../other/x.txt")


def test_an_audit_checkpoint_is_named_by_what_it_vouches_for():
    from storage.keys import audit_checkpoint_key, audit_checkpoint_of

    chain_value = "ab" * 32
    key = audit_checkpoint_key(1234, chain_value)
    assert key == f"audit/checkpoints/00000000000000001234-{chain_value}.json"
    assert audit_checkpoint_of(key) == (1234, chain_value)
    assert audit_checkpoint_of("audit/2026/2026-05.jsonl.gz") is None
    with pytest.raises(ValueError):
        audit_checkpoint_key(1, "../../elsewhere")

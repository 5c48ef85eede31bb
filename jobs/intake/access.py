"""Who may touch which sample. Same rules as tenants/access.py: look up inside the member's lab;
another lab's sample and a sample that does not exist give the same 404."""

from django.core.exceptions import ValidationError
from django.http import Http404

from jobs.models import Sample, SampleFile
from tenants.models import Membership


def access_sample(membership: Membership, sample_id) -> Sample:
    try:
        return membership.lab.samples.prefetch_related("files").get(pk=sample_id)
    except (Sample.DoesNotExist, ValidationError):
        raise Http404("No such sample") from None


def access_sample_file(membership: Membership, sample_id, file_id) -> SampleFile:
    """A FASTQ of one of the lab's samples; the file must belong to that very sample."""
    try:
        return membership.lab.sample_files.select_related("sample", "lab").get(
            pk=file_id, sample_id=sample_id)
    except (SampleFile.DoesNotExist, ValidationError):
        raise Http404("No such file") from None


def access_file(membership: Membership, file_id) -> SampleFile:
    """A FASTQ of one of the lab's samples, by its id alone (the API's file URLs)."""
    try:
        return membership.lab.sample_files.select_related("sample", "lab").get(pk=file_id)
    except (SampleFile.DoesNotExist, ValidationError):
        raise Http404("No such file") from None

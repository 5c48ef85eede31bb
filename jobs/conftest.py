import json
import os
import shutil

import pytest
from django.core.management import call_command

from jobs.models import Sample
from tests.upload_client import DirectUploader, sample_fields


class TestClientPortal:
    """The upload client's view of the portal, through Django's test client."""

    def __init__(self, client):
        self.client = client

    @staticmethod
    def _answer(response):
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, {"raw": response.content.decode(errors="replace")[:500]}

    def post_form(self, url, data):
        return self._answer(self.client.post(url, data, HTTP_ACCEPT="application/json"))

    def post_json(self, url, data):
        return self._answer(self.client.post(url, json.dumps(data),
                                             content_type="application/json"))

    def get_json(self, url):
        return self._answer(self.client.get(url))

    def delete_json(self, url):
        return self._answer(self.client.delete(url))


def pipeline_runner() -> str:
    """The runner the pipeline tests use: WES_PIPELINE_RUNNER=nextflow runs them on the
    `nextflow` on PATH (and fails them when there is none); `auto` takes Nextflow when it is
    there; unset or `local`, bin/run-local."""
    wanted = os.environ.get("WES_PIPELINE_RUNNER") or "local"
    present = bool(shutil.which("nextflow") and shutil.which("java"))
    if wanted == "auto":
        return "nextflow" if present else "local"
    if wanted == "nextflow" and not present:
        pytest.fail("WES_PIPELINE_RUNNER=nextflow, but there is no `nextflow` (or no `java`) on "
                    "PATH", pytrace=False)
    return wanted


@pytest.hookimpl(tryfirst=True)      # before `-m pipeline` selects by marker
def pytest_collection_modifyitems(items):
    """Every test that runs the pipeline through the portal (it uses `pipeline_env`) is a
    `pipeline` test: `WES_PIPELINE_RUNNER=nextflow scripts/test -m pipeline` runs them all on
    Nextflow."""
    for item in items:
        if "pipeline_env" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.pipeline)


@pytest.fixture
def uploader_for(client_for):
    """`uploader_for(membership)`: a scripted browser signed in as that member."""

    def make(membership, lab_slug=None):
        portal = TestClientPortal(client_for(membership))
        # One thread: the test client shares the test's database transaction only on this thread.
        return DirectUploader(portal, lab_slug or membership.lab.slug, concurrency=1)

    return make


@pytest.fixture
def fastq_pair(tmp_path):
    from tests.fastq_data import write_fastq_pair

    return write_fastq_pair(tmp_path, "S1", reads=2000)


@pytest.fixture(scope="session")
def reference_built(tmp_path_factory):
    """Where load_reference keeps what it builds (.fai, bwa index, snpEff database), shared by the
    session's tests: the first load builds them, later loads of the same files find them."""
    return tmp_path_factory.mktemp("reference-built")


@pytest.fixture
def pipeline_env(provisioned_s3, sync_tasks, settings, tmp_path, testdata, reference_built):
    from django.core.cache import cache

    from tests.reference_bundle import copy_bundle

    settings.PIPELINE_WORK_DIR = tmp_path / "work"
    settings.REFERENCE_BUILD = "wes-mini"
    settings.PIPELINE_RUNNER = pipeline_runner()
    reference = copy_bundle(testdata, tmp_path / "reference")
    call_command("load_reference", "wes-mini", str(reference), "--scratch", str(reference_built),
                 verbosity=0)
    # The database cache outlives transactional tests (flush empties model tables only): what an
    # earlier test found of the reference (no HPO file, say) must not stand for this bundle.
    cache.clear()
    return testdata


def own_copy(path, name, read, directory):
    """The generated FASTQ plus one read pair named after the sample (a second gzip member), so
    each sample's files have their own SHA-256."""
    import gzip

    copy = directory / f"{name}_R{read}.fastq.gz"
    extra = f"@{name}:1:FLOW:1:1:1:1 {read}:N:0:ACGT\n{'ACGT' * 25}\n+\n{'I' * 100}\n"
    copy.write_bytes(path.read_bytes() + gzip.compress(extra.encode()))
    return copy


@pytest.fixture
def ready_sample(uploader_for, pipeline_env, tmp_path):
    """`ready_sample(member, name=...)`: the generated pair uploaded and verified as that member."""

    def make(member, name="TEST1"):
        r1, r2 = pipeline_env / "TEST1_R1.fastq.gz", pipeline_env / "TEST1_R2.fastq.gz"
        if name != "TEST1":  # the portal refuses the same reads under two samples
            r1, r2 = (own_copy(path, name, read, tmp_path) for read, path in ((1, r1), (2, r2)))
        created = uploader_for(member).upload_sample(sample_fields(name), r1, r2)
        sample = Sample.objects.get(pk=created["sample"]["id"])
        assert sample.status == "ready", sample.rejection_reason
        return sample

    return make



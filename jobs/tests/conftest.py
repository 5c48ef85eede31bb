import json

import pytest

from jobs.upload_client import DirectUploader


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
    from jobs.testdata import write_fastq_pair

    return write_fastq_pair(tmp_path, "S1", reads=2000)

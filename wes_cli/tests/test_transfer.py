"""transfer.upload_file on its own, with a portal and a storage server of the test's making (the
real ones are in test_cli_resume.py): each byte read once, the hash of the whole file, stored
parts not sent again, a part signed for another length not sent at all."""

from __future__ import annotations

import hashlib
import threading

import pytest

from wes_cli.errors import FAILED, CliError
from wes_cli.transfer import upload_file


class Portal:
    def __init__(self, size: int, part_size: int, stored: dict[int, int] | None = None,
                 signed_size=None):
        self.size, self.part_size = size, part_size
        self.stored = stored or {}
        self.signed_size = signed_size
        self.signed: list[int] = []
        self.completed = None

    def start(self, name, size):
        assert size == self.size
        return {"part_size": self.part_size, "part_count": -(-size // self.part_size),
                "parts": [{"part_number": n, "size": s, "etag": f'"kept-{n}"'}
                          for n, s in self.stored.items()]}

    def sign(self, n):
        self.signed.append(n)
        length = min(self.part_size, self.size - (n - 1) * self.part_size)
        return {"url": f"http://storage/{n}", "size": self.signed_size or length}

    def complete(self, parts, sha256):
        self.completed = (parts, sha256)
        return {"file_status": "uploaded", "sample_status": "uploading"}


class Storage:
    def __init__(self):
        self.bodies: dict[int, bytes] = {}
        self.lock = threading.Lock()

    def put(self, url, data, timeout):
        n = int(url.rsplit("/", 1)[1])
        with self.lock:
            self.bodies[n] = data
        return type("Response", (), {"status_code": 200, "headers": {"ETag": f'"sent-{n}"'},
                                     "text": ""})()


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "S1_R1.fastq.gz"
    path.write_bytes(bytes(range(256)) * 4000 + b"tail")     # 1,024,004 bytes: 10 parts + a bit
    return path


def test_it_sends_every_part_once_and_completes_with_the_whole_files_sha256(data_file):
    portal, storage, seen = Portal(data_file.stat().st_size, 100_000), Storage(), []
    outcome = upload_file(portal, data_file, parallel=3, put_session=storage, advance=seen.append)
    content = data_file.read_bytes()
    assert b"".join(storage.bodies[n] for n in sorted(storage.bodies)) == content
    assert sorted(portal.signed) == list(range(1, 12)) and sum(seen) == len(content)
    parts, sha256 = portal.completed
    assert sha256 == hashlib.sha256(content).hexdigest() == outcome.sha256
    assert parts == [{"part_number": n, "etag": f'"sent-{n}"'} for n in range(1, 12)]
    assert (outcome.parts_sent, outcome.parts_kept, outcome.bytes_sent) == (11, 0, len(content))


def test_it_reads_stored_parts_for_the_hash_but_does_not_send_them(data_file):
    size = data_file.stat().st_size
    stored = {1: 100_000, 2: 100_000, 5: 100_000, 7: 99}   # part 7 is short: sent again
    portal, storage = Portal(size, 100_000, stored), Storage()
    outcome = upload_file(portal, data_file, parallel=2, put_session=storage)
    assert sorted(storage.bodies) == [3, 4, 6, 7, 8, 9, 10, 11]
    parts, sha256 = portal.completed
    assert sha256 == hashlib.sha256(data_file.read_bytes()).hexdigest()
    assert [p["etag"] for p in parts[:2]] == ['"kept-1"', '"kept-2"']
    assert parts[6] == {"part_number": 7, "etag": '"sent-7"'}
    assert (outcome.parts_kept, outcome.parts_sent) == (3, 8)


def test_a_part_signed_for_another_length_is_not_sent(data_file):
    portal, storage = Portal(data_file.stat().st_size, 100_000, signed_size=5), Storage()
    with pytest.raises(CliError) as refused:
        upload_file(portal, data_file, parallel=2, put_session=storage)
    assert refused.value.code == FAILED and "signed part" in refused.value.message
    assert storage.bodies == {} and portal.completed is None

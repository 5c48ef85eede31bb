"""The client against the real portal (/api/v1 on live_server) and the real S3 server: log in,
upload a valid pair and see it verified, follow it, and the refusals' exit codes."""

from __future__ import annotations

import hashlib
import json

import pytest

from jobs.models import Sample
from tests.fastq_data import write_fastq_pair
from wes_cli.errors import AUTH, FAILED, NOT_FOUND, USAGE
from wes_cli.tests.conftest import api_token, run_cli, run_json

pytestmark = [pytest.mark.s3, pytest.mark.django_db(transaction=True)]

UPLOAD = ["--indication", "Early-onset epilepsy", "--hpo", "HP:0001250", "--sex", "female",
          "--consent"]


def test_login_saves_the_url_token_and_lab(portal, clinician, cli_env, tmp_path):
    token = api_token(clinician)
    answer = run_json(cli_env, "login", "--url", portal + "/", "--token", token)
    assert answer["lab"] == "lab-a" and answer["url"] == portal
    saved = json.loads((tmp_path / "config" / "wes" / "config.json").read_text())
    assert saved == {"url": portal, "token": token, "lab": "lab-a"}
    result = run_cli(cli_env, "login", "--url", portal, "--token", token + "x")
    assert result.returncode == AUTH
    result = run_cli(cli_env, "login", "--url", portal, "--token", token, "--lab", "lab-b")
    assert result.returncode == AUTH and "not for lab lab-b" in result.stderr


def test_a_pair_is_uploaded_verified_and_followed(logged_in, sync_tasks, tmp_path):
    r1, r2 = write_fastq_pair(tmp_path, "CLI1", reads=2000)
    answer = run_json(logged_in, "upload", "CLI1", str(r1), str(r2), "--external-id", "PSN-9",
                      *UPLOAD)
    sample = Sample.objects.get(name="CLI1")
    assert answer["sample_id"] == str(sample.pk) and answer["resumed"] is False
    assert (sample.external_id, sample.status) == ("PSN-9", "ready")
    for read, path in ((1, r1), (2, r2)):
        sent = answer["files"][read - 1]
        assert sent["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert sent["parts_sent"] == sent["part_count"] and sent["parts_kept"] == 0
        stored = sample.files.get(read=read)
        assert (stored.status, stored.sha256) == ("verified", sent["sha256"])
    assert answer["sample_status"] == "ready"

    status = run_json(logged_in, "status", str(sample.pk), "--wait", "--interval", "0.2")
    assert status["kind"] == "sample" and status["sample"]["status"] == "ready"
    text = run_cli(logged_in, "status", f"sample:{sample.pk}")
    assert text.returncode == 0 and "Sample CLI1" in text.stdout and "verified" in text.stdout

    again = run_cli(logged_in, "upload", "CLI1", str(r1), str(r2), *UPLOAD)
    assert again.returncode == FAILED, "the state file was cleared: a second sample is refused"
    assert "CLI1" in again.stderr


def test_refusals_have_their_exit_codes(portal, clinician, outsider, cli_env, tmp_path,
                                        sync_tasks):
    r1, r2 = write_fastq_pair(tmp_path, "CLI2", reads=200)
    run_json(cli_env, "login", "--url", portal, "--token", api_token(clinician, scope="read"))
    refused = run_json(cli_env, "upload", "CLI2", str(r1), str(r2), *UPLOAD, expect=FAILED)
    assert refused["exit_code"] == FAILED and not Sample.objects.exists()

    run_json(cli_env, "login", "--url", portal, "--token", api_token(clinician))
    bad = run_json(cli_env, "upload", "CLI2", str(r1), str(r2), "--consent", expect=FAILED)
    assert "clinical_indication" in bad["error"]
    shown = run_cli(cli_env, "upload", "CLI2", str(r1), str(r2), *UPLOAD, "--progress")
    assert shown.returncode == 0 and shown.stdout.startswith("Sample CLI2 (id ")
    assert "R1 CLI2_R1.fastq.gz: 100%" in shown.stderr, "a bar per file on stderr"

    elsewhere = run_cli(cli_env, "login", "--url", portal, "--token", api_token(outsider))
    assert elsewhere.returncode == 0
    mine = Sample.objects.get(name="CLI2")
    assert run_cli(cli_env, "status", str(mine.pk)).returncode == NOT_FOUND, \
        "another lab's sample is not found, like a missing one"
    assert run_cli(cli_env, "status", "job:not-an-id").returncode in (NOT_FOUND, FAILED)
    assert run_cli(cli_env, "status", "what:ever").returncode == USAGE
    assert run_cli(cli_env, "submit", str(mine.pk)).returncode == NOT_FOUND

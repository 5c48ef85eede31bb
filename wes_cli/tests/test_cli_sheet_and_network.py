"""`wes sheet upload` (every row, reported per row) and a storage server that cannot be reached
in the middle of an upload: exit 5, a message saying how to resume, and the resume."""

from __future__ import annotations

import pytest
from django.test import override_settings

from jobs.models import Sample
from storage.seaweed import free_port
from tests.fastq_data import write_fastq_pair
from tests.upload_client import write_random_file
from wes_cli.errors import FAILED, NETWORK, USAGE
from wes_cli.tests.conftest import run_cli, run_json

pytestmark = [pytest.mark.s3, pytest.mark.django_db(transaction=True)]

MIB = 1024 * 1024
HEADER = "sample_name,identifier,sex,clinical_indication,hpo_terms,r1,r2\n"


def test_a_sheet_uploads_every_row_and_reports_each(logged_in, tmp_path, sync_tasks):
    for name in ("SH1", "SH2"):
        write_fastq_pair(tmp_path, name, reads=200)
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(HEADER + "SH1,PSN-1,Female,Epilepsy,HP:0001250,SH1_R1.fastq.gz,"
                              "SH1_R2.fastq.gz\n"
                              "SH2,PSN-2,male,Ataxia,,SH2_R1.fastq.gz,SH2_R2.fastq.gz\n"
                              "SH3,PSN-3,robot,Ataxia,,SH1_R1.fastq.gz,SH1_R2.fastq.gz\n")
    checked = run_json(logged_in, "sheet", "upload", str(sheet), "--consent", expect=FAILED)
    assert checked["rows"] == [{"row": 4, "sample": "SH3", "errors": [
        "r1: SH1_R1.fastq.gz is also on row 2.", "r2: SH1_R2.fastq.gz is also on row 2."]}]
    assert not Sample.objects.exists(), "a sheet with problems sends nothing"

    sheet.write_text(sheet.read_text().rsplit("SH3", 1)[0] +
                     "SH3,PSN-3,robot,Ataxia,,SH3_R1.fastq.gz,SH3_R2.fastq.gz\n")
    write_fastq_pair(tmp_path, "SH3", reads=200)
    assert run_cli(logged_in, "sheet", "upload", str(sheet)).returncode == USAGE, "no --consent"
    answer = run_json(logged_in, "sheet", "upload", str(sheet), "--consent", expect=FAILED)
    assert [(r["row"], r["sample"], r["ok"]) for r in answer["rows"]] == [
        (2, "SH1", True), (3, "SH2", True), (4, "SH3", False)]
    assert "sex" in answer["rows"][2]["error"], "the portal's own sentence for the bad row"
    assert {s.name: s.status for s in Sample.objects.all()} == {"SH1": "ready", "SH2": "ready"}
    assert Sample.objects.get(name="SH2").external_id == "PSN-2"

    sheet.write_text(sheet.read_text().replace("robot", "male"))
    again = run_json(logged_in, "sheet", "upload", str(sheet), "--consent")
    assert [(r["row"], r["ok"]) for r in again["rows"]] == [(2, True), (3, True), (4, True)]
    assert [f.get("skipped") for f in again["rows"][0]["files"]] == ["already uploaded"] * 2, \
        "a re-run finds the rows already uploaded"
    assert {s.name: s.status for s in Sample.objects.all()} == {
        "SH1": "ready", "SH2": "ready", "SH3": "ready"}


def test_an_unreachable_storage_server_exits_5_and_says_how_to_resume(logged_in, tmp_path):
    r1 = write_random_file(tmp_path / "NET1_R1.fastq.gz", 12 * MIB)
    r2 = write_random_file(tmp_path / "NET1_R2.fastq.gz", 1 * MIB)
    args = ["upload", "NET1", str(r1), str(r2), "--indication", "Epilepsy", "--consent"]
    with override_settings(MINIO_PUBLIC_ENDPOINT=f"http://127.0.0.1:{free_port()}"):
        lost = run_cli({**logged_in, "WES_RETRIES": "0"}, *args)
    sample = Sample.objects.get(name="NET1")
    assert lost.returncode == NETWORK
    assert "The storage server could not be reached" in lost.stderr
    assert "R1: 0 of 3 parts are stored." in lost.stderr
    assert f"`wes upload --resume {sample.pk}`" in lost.stderr

    resumed = run_json(logged_in, "upload", "--resume", str(sample.pk))
    assert resumed["resumed"] is True and resumed["sample_id"] == str(sample.pk)
    assert [f["file_status"] for f in resumed["files"]] == ["uploaded", "uploaded"]
    assert Sample.objects.count() == 1

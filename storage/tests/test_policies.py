"""The generated MinIO policies and SeaweedFS identities (storage/policies.py): IAM shape, the
settings' bucket names, one source for both servers; and the command that writes them."""

import json
import stat

from django.core.management import call_command
from django.test import override_settings

from storage import policies
from storage.buckets import REGISTRY, bucket_name

# The S3 actions MinIO knows that the table uses; a misspelt one would be refused by
# `mc admin policy create`.
KNOWN_ACTIONS = {
    "s3:*", "s3:ListAllMyBuckets", "s3:GetBucketLocation", "s3:GetObject", "s3:GetObjectVersion",
    "s3:ListBucket", "s3:ListBucketVersions", "s3:PutObject", "s3:ListMultipartUploadParts",
    "s3:AbortMultipartUpload", "s3:ListBucketMultipartUploads", "s3:PutObjectTagging",
    "s3:GetObjectTagging", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectLegalHold",
    "s3:GetObjectLegalHold", "s3:PutObjectRetention", "s3:GetObjectRetention",
    "s3:GetBucketObjectLockConfiguration",
}


def test_each_minio_policy_is_an_iam_document_on_the_configured_buckets():
    with override_settings(MINIO_BUCKET_RAW="lab-raw"):
        documents = policies.minio_policies()
        names = {rule.name for rule in REGISTRY}
    assert set(documents) == {"wes-web", "wes-worker", "wes-records", "wes-admin"}
    for name, document in documents.items():
        assert document["Version"] == "2012-10-17" and isinstance(document["Statement"], list)
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow" and statement["Action"] and statement["Resource"]
            assert set(statement["Action"]) <= KNOWN_ACTIONS, name
            for resource in statement["Resource"]:
                assert resource.startswith("arn:aws:s3:::"), resource
    resources = {r for s in documents["wes-web"]["Statement"] for r in s["Resource"]}
    assert "arn:aws:s3:::lab-raw/*" in resources and "arn:aws:s3:::wes-raw-data/*" not in resources
    admin = {r for s in documents["wes-admin"]["Statement"] for r in s["Resource"]}
    assert {f"arn:aws:s3:::{name}" for name in names} <= admin


def test_no_role_but_admin_may_delete_reads_or_change_buckets():
    raw, logs = bucket_name("raw"), bucket_name("logs")   # as configured when the test runs
    for role in ("web", "worker", "records"):
        actions = {(a, r) for s in policies.minio_policy(role)["Statement"]
                   for a in s["Action"] for r in s["Resource"]}
        assert ("s3:DeleteObjectVersion", f"arn:aws:s3:::{raw}/*") not in actions
        assert not any(a.startswith(("s3:PutBucket", "s3:PutLifecycle", "s3:Create", "s3:*"))
                       for a, _ in actions), role
        retains = ("s3:PutObjectRetention", f"arn:aws:s3:::{logs}/audit/checkpoints/*")
        assert (retains in actions) is (role == "worker")


def test_seaweedfs_identities_carry_the_same_documents():
    pairs = {"web": ("wk", "ws"), "records": ("rk", "rs")}
    config = policies.seaweedfs_config(pairs)
    assert [i["name"] for i in config["identities"]] == ["wes-web", "wes-records"]
    assert config["identities"][0]["credentials"] == [{"accessKey": "wk", "secretKey": "ws"}]
    assert all("actions" not in i for i in config["identities"])   # Write would allow deletes
    by_name = {p["name"]: json.loads(p["content"]) for p in config["policies"]}
    assert by_name == {"wes-web": policies.minio_policy("web"),
                       "wes-records": policies.minio_policy("records")}


@override_settings(MINIO_ROLE_KEYS={"worker": ("wk", "ws")}, MINIO_ACCESS_KEY="main",
                   MINIO_SECRET_KEY="main-secret")
def test_the_command_writes_both_and_keeps_the_keys_file_private(tmp_path, capsys):
    call_command("storage_policies", "--minio", str(tmp_path / "minio"),
                 "--seaweedfs", str(tmp_path / "s3.json"))
    written = sorted(p.name for p in (tmp_path / "minio").iterdir())
    assert written == ["wes-admin.json", "wes-records.json", "wes-web.json", "wes-worker.json"]
    assert json.loads((tmp_path / "minio/wes-web.json").read_text()) == policies.minio_policy("web")
    config = json.loads((tmp_path / "s3.json").read_text())
    assert [i["name"] for i in config["identities"]] == ["wes-worker", "wes-admin"]
    assert config["identities"][1]["credentials"][0]["accessKey"] == "main"
    assert stat.S_IMODE((tmp_path / "s3.json").stat().st_mode) == 0o600
    assert "no keys of their own for web, records" in capsys.readouterr().err
    call_command("storage_policies")
    assert "worker (key: MINIO_WORKER_ACCESS_KEY)" in capsys.readouterr().out

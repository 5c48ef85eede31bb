"""Where sets live: target specs, the set listing, pruning (no S3 or database needed)."""

from pathlib import Path

import pytest

from storage.backup.database import BackupError
from storage.backup.manifest import MANIFEST
from storage.backup.target import Target, new_set_name


@pytest.mark.parametrize("spec, remote", [
    ("/srv/backups", None), ("relative/dir", None), ("./x:y", None),
    ("offsite:wes/lab", "offsite:wes/lab"), ("offsite:", "offsite:"),
    ("s3://wes-backups/lab-a/", ":s3:wes-backups/lab-a"),
    (":s3,provider=Minio:bucket/path", ":s3,provider=Minio:bucket/path"),
])
def test_a_target_is_a_directory_or_an_rclone_remote(spec, remote):
    assert Target.parse(spec).remote == remote


@pytest.mark.parametrize("spec, message", [("", "no backup target"), ("s3://", "name the bucket")])
def test_a_missing_target_is_refused_clearly(spec, message):
    with pytest.raises(BackupError, match=message):
        Target.parse(spec)


def _set(root: Path, name: str, complete: bool = True) -> None:
    (root / name / "blobs").mkdir(parents=True)
    if complete:
        (root / name / MANIFEST).write_text("{}")


def test_pruning_keeps_the_newest_complete_sets_and_an_unfinished_newer_one(tmp_path):
    names = [f"wes-backup-2026120{day}T013000Z" for day in range(1, 7)]
    for name in names:
        _set(tmp_path, name, complete=name != names[2] and name != names[5])
    (tmp_path / "notes").mkdir()                      # not a set: never touched
    target = Target.parse(str(tmp_path))
    assert [done for _name, done in target.sets()] == [True, True, False, True, True, False]

    assert target.prune(2) == names[:3]               # older than the second-newest complete set
    assert [name for name, _done in target.sets()] == names[3:]
    assert (tmp_path / "notes").is_dir()
    assert target.prune(2) == []


def test_only_set_names_are_removed(tmp_path):
    with pytest.raises(BackupError, match="not a backup set"):
        Target.parse(str(tmp_path)).remove("../etc")


def test_set_names_sort_by_time():
    from datetime import datetime, timezone

    early = new_set_name(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    assert early == "wes-backup-20260102T030405Z" and early < new_set_name()


def test_an_rclone_remote_lists_sends_fetches_and_prunes_sets(tmp_path, monkeypatch, settings):
    """Through rclone's local backend wrapped in a crypt remote (encrypted sets, as
    docs/operations.md suggests): the same listing and pruning as a directory."""
    import subprocess

    store = tmp_path / "store"
    store.mkdir()
    obscured = subprocess.run(["rclone", "obscure", "a passphrase for the test"],
                              capture_output=True, text=True, check=True).stdout.strip()
    monkeypatch.setenv("RCLONE_CONFIG_VAULT_TYPE", "crypt")
    monkeypatch.setenv("RCLONE_CONFIG_VAULT_REMOTE", str(store))
    monkeypatch.setenv("RCLONE_CONFIG_VAULT_PASSWORD", obscured)
    settings.BACKUP_STAGING_DIR = str(tmp_path / "staging")
    target = Target.parse("vault:lab")
    assert target.sets() == []
    names = [f"wes-backup-2026120{day}T013000Z" for day in range(1, 5)]
    for name in names:
        staged = target.staging() / name
        _set(staged.parent, name, complete=name != names[1])
        (staged / "blobs" / "x").write_bytes(b"patient data")
        target.send(staged)
    assert not list((tmp_path / "staging").iterdir()), "staging folders are removed"
    assert target.sets() == [(names[0], True), (names[1], False), (names[2], True),
                             (names[3], True)]
    assert b"patient data" not in b"".join(p.read_bytes() for p in store.rglob("*") if p.is_file())

    fetched, staging = target.fetch("latest")
    assert fetched.name == names[3] and (fetched / "blobs" / "x").read_bytes() == b"patient data"
    assert target.prune(2) == names[:2]
    assert [name for name, _done in target.sets()] == names[2:]

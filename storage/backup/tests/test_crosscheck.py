"""The cross-check as a sorted merge (storage/backup/crosscheck.py, spool.py): what the database
records, spooled to disk in sorted runs, walked beside the set's keys; nothing whole in memory.
The same check against a real S3 server is in test_backup_directory.py."""

from datetime import datetime, timezone

import pytest

from storage.backup.crosscheck import DIGEST, LEDGER, cross_check, key_groups
from storage.backup.database import BackupError
from storage.backup.spool import SortedSpool

SNAPSHOT = datetime(2026, 12, 5, 1, 0, tzinfo=timezone.utc)


def _version(bucket, key, position, sha256, when="2026-12-05T00:00:00+00:00", marker=False):
    return {"bucket": bucket, "key": key, "position": position, "sha256": sha256,
            "delete_marker": marker, "last_modified": when, "size": 1}


def test_the_spool_gives_back_every_row_sorted_across_its_runs(tmp_path):
    rows = [["b", f"k{n % 7}", n % 2, f"{n:03}", ""] for n in range(25)]
    with SortedSpool(tmp_path, run=4) as spool:
        spool.extend(reversed(rows))
        assert len(spool.runs) == 6, "rows beyond a run are on disk, not in memory"
        assert list(spool.sorted()) == sorted(rows)
        directory = spool.directory
    assert not directory.exists()


def test_the_merge_finds_what_is_missing_changed_or_pending(tmp_path):
    set_keys = [
        (("raw", "a"), [_version("raw", "a", 0, "A1")]),
        # changed after the snapshot: the version known at the snapshot is the one checked
        (("results", "m"), [_version("results", "m", 0, "M1"),
                            _version("results", "m", 1, "M2", when="2026-12-05T02:00:00+00:00")]),
        (("results", "x"), [_version("results", "x", 0, "X1")]),
        (("results", "z"), [_version("results", "z", 0, "Z1")]),   # not in the ledger: copied
    ]
    with SortedSpool(tmp_path, run=2) as recorded:
        recorded.extend([
            ["results", "x", DIGEST, "XX", "output 7"],         # digests come in any order
            ["results", "x", LEDGER, "X1", ""],
            ["results", "m", LEDGER, "", ""],
            ["results", "m", DIGEST, "M1", "report 3 signed"],
            ["raw", "a", LEDGER, "", ""],
            ["raw", "a", DIGEST, "A1", "FASTQ 1"],
            ["raw", "gone", LEDGER, "G", ""],
            ["raw", "uploading", LEDGER, "", ""],
            ["raw", "deleted", DIGEST, "D", "FASTQ 2"],         # not live: not checked
        ])
        check = cross_check(iter(set_keys), recorded, snapshot_at=SNAPSHOT)
    assert check.live_objects == 5 and check.digests_checked == 4
    assert check.missing == ["raw/gone"] and check.pending == ["raw/uploading"]
    assert check.mismatched == ["results/x (output 7: database XX..., stored X1...)"]
    assert not check.ok


def test_a_list_out_of_order_is_refused_not_merged_wrongly(tmp_path):
    entries = [_version("results", "b", 0, "B"), _version("results", "a", 0, "A")]
    with pytest.raises(BackupError, match="not in \\(bucket, key\\) order at results/a"):
        list(key_groups(entries, "objects.jsonl"))
    with SortedSpool(tmp_path) as recorded:     # also past the last key the database records
        recorded.add(["results", "b", LEDGER, "B", ""])
        with pytest.raises(BackupError, match="not in \\(bucket, key\\) order"):
            cross_check(key_groups(entries, "objects.jsonl"), recorded, snapshot_at=SNAPSHOT)

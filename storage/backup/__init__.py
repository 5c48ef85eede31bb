"""Backup and restore of a whole installation: the database dump, every bucket's object versions
and a manifest of keys, version ids, sizes and SHA-256s (see docs/operations.md, "Backup and
restore").

- `database`: pg_dump in an exported repeatable-read snapshot, pg_restore into an empty database;
- `objects`: every stored version copied out (content-addressed) and put back in order, with
  its Object Lock retention and legal hold;
- `manifest`: the set's description (objects.jsonl written a line at a time, manifest.json last);
- `crosscheck`, `spool`: the set held against the ledger and the digests the database records,
  as a sorted merge with what the database records spooled to disk;
- `target`: where sets live (a directory, or an rclone remote) and their pruning;
- `run`, `restore`: the backup and the restore, step by step;
- `events`: each backup and restore reported to the layers above (the audit log).
"""

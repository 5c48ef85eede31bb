import json
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from storage import credentials, policies


class Command(BaseCommand):
    help = ("Write each storage role's rights as MinIO policy documents (--minio DIR: one "
            "wes-ROLE.json per role, for `mc admin policy create`) and as a SeaweedFS identities "
            "file (--seaweedfs FILE, for `weed mini|s3 -s3.config=FILE`; it holds the keys, so it "
            "is written 0600). Without options, print the rights table.")

    def add_arguments(self, parser):
        parser.add_argument("--minio", metavar="DIR", help="directory for the MinIO policies")
        parser.add_argument("--seaweedfs", metavar="FILE", help="SeaweedFS identities file")

    def handle(self, *args, minio=None, seaweedfs=None, **options):
        if minio:
            self._write_minio(Path(minio))
        if seaweedfs:
            self._write_seaweedfs(Path(seaweedfs))
        if not (minio or seaweedfs):
            self._print_table()

    def _write_minio(self, directory: Path) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            for name, document in policies.minio_policies().items():
                path = directory / f"{name}.json"
                path.write_text(json.dumps(document, indent=2) + "\n")
                self.stdout.write(f"wrote {path}")
        except OSError as exc:
            raise CommandError(f"cannot write the MinIO policies to {directory}: {exc}") from exc

    def _write_seaweedfs(self, path: Path) -> None:
        own = credentials.separate_keys()
        # Roles without keys of their own share MINIO_ACCESS_KEY, the admin's: one identity.
        pairs = {role: credentials.key_pair(role) for role in credentials.ROLES
                 if own[role] or role == "admin"}
        shared = [role for role in credentials.ROLES if role not in pairs]
        text = json.dumps(policies.seaweedfs_config(pairs), indent=2) + "\n"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(text)
            os.chmod(path, 0o600)
        except OSError as exc:
            raise CommandError(f"cannot write the SeaweedFS identities to {path}: {exc}") from exc
        self.stdout.write(f"wrote {path}: identities {', '.join(f'wes-{r}' for r in pairs)}")
        if shared:
            self.stderr.write(self.style.WARNING(
                f"no keys of their own for {', '.join(shared)}: they use MINIO_ACCESS_KEY, the "
                "admin key (set MINIO_<ROLE>_ACCESS_KEY / MINIO_<ROLE>_SECRET_KEY)"))

    def _print_table(self) -> None:
        own = credentials.separate_keys()
        for role in credentials.ROLES:
            source = f"MINIO_{role.upper()}_ACCESS_KEY" if own[role] else "MINIO_ACCESS_KEY"
            self.stdout.write(self.style.MIGRATE_HEADING(f"{role} (key: {source})"))
            if role == "admin":
                self.stdout.write("  every bucket: " + ", ".join(policies.ADMIN_ACTIONS))
                continue
            for grant in policies.TABLE[role]:
                keys = "" if grant.keys == policies.ALL_KEYS else f" ({grant.keys})"
                self.stdout.write(f"  {grant.bucket:<13} {grant.right}{keys}")

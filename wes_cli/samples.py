"""`wes upload`: create the sample (or find the one an interrupted run created), then upload R1
and R2, each resumable (transfer.py)."""

from __future__ import annotations

import re
from pathlib import Path

from wes_cli import state
from wes_cli.api import retrying_session
from wes_cli.errors import FAILED, NETWORK, OK, USAGE, CliError
from wes_cli.transfer import FileUpload, upload_file

DONE = {"uploaded", "verified"}            # files storage holds in full
TO_SEND = {"pending", "uploading", "cancelled"}


def local_file(name: str) -> Path:
    path = Path(name).expanduser()
    if not path.is_file():
        raise CliError(USAGE, f"{name}: no such file.")
    return path


def sample_body(name: str, r1: Path, r2: Path, *, external_id=None, sex="unknown",
                indication="", hpo="", consent=False) -> dict:
    if not consent:
        raise CliError(USAGE, "Confirm with --consent that consent for genomic testing is "
                              "documented for this sample.")
    return {"name": name, "external_id": external_id or name, "sex": sex,
            "clinical_indication": indication,
            "hpo_terms": [t for t in re.split(r"[,;\s]+", hpo or "") if t],
            "consent": True,
            "r1": {"name": r1.name, "size": r1.stat().st_size},
            "r2": {"name": r2.name, "size": r2.stat().st_size}}


def find_or_create(api, body: dict, r1: Path, r2: Path) -> tuple[dict, bool]:
    """The sample an earlier run of this command created for these same files, or a new one."""
    known = state.remembered(api.url, api.lab, [r1, r2])
    if known:
        try:
            return api.get(f"samples/{known['sample_id']}"), True
        except CliError as error:
            if error.code != 4:
                raise
            state.forget(api.url, api.lab, known["sample_id"])   # deleted meanwhile
    created = api.request("POST", api.lab_path("samples"), json=body, ok=(201,))
    sample = {**created["sample"], "files": created["files"]}
    by_read = {f["read"]: f for f in created["files"]}
    state.remember(api.url, api.lab, sample, [(by_read[1], r1), (by_read[2], r2)])
    return sample, False


def upload_pair(ctx, api, sample: dict, paths: dict[int, Path], *, parallel: int,
                label: str = "") -> dict:
    """Upload each read storage does not hold yet; the per-file outcomes."""
    put_session = retrying_session(parallel)
    files = {f["read"]: f for f in sample["files"]}
    outcomes = []
    for read in (1, 2):
        info, path = files[read], paths[read]
        if info["status"] in DONE:
            outcomes.append({"read": read, "name": info["name"], "skipped": "already uploaded",
                             "file_status": info["status"]})
            continue
        if info["status"] not in TO_SEND:
            raise CliError(FAILED, f"R{read} of {sample['name']} is {info['status']}; "
                                   f"it cannot be uploaded again.")
        advance, close = ctx.out.progress(path.stat().st_size, f"{label}R{read} {path.name}")
        try:
            outcome = upload_file(FileUpload(api, info["id"]), path, parallel=parallel,
                                  put_session=put_session, advance=advance)
        except CliError as error:
            if error.code == NETWORK:
                stored = error.details.get("parts_stored")
                total = error.details.get("part_count")
                error.message += (f" R{read}: {stored} of {total} parts are stored. "
                                  if stored is not None else " ") + (
                    f"Run the same command again, or `wes upload --resume {sample['id']}`, "
                    f"to carry on.")
                error.details.update(sample_id=sample["id"], read=read)
            raise
        finally:
            close()
        outcomes.append({"read": read, "file_id": info["id"], **outcome.as_dict()})
    return {"sample_id": sample["id"], "sample_name": sample["name"], "files": outcomes}


def upload(ctx) -> int:
    args = ctx.args
    if args.parallel < 1 or args.parallel > 32:
        raise CliError(USAGE, "--parallel must be between 1 and 32.")
    api = ctx.api(pool_size=args.parallel + 2)
    resumed = True
    if args.resume:
        entries = state.by_sample(api.url, api.lab, args.resume)
        if set(entries) != {1, 2}:
            raise CliError(FAILED, f"No upload of sample {args.resume} was started from this "
                                   f"machine; give the files: wes upload NAME R1 R2.")
        paths = {read: local_file(entry["path"]) for read, entry in entries.items()}
        sample = api.get(f"samples/{args.resume}")
    else:
        if not (args.sample and args.r1 and args.r2):
            raise CliError(USAGE, "Give SAMPLE_NAME R1 R2, or --resume SAMPLE_ID.")
        paths = {1: local_file(args.r1), 2: local_file(args.r2)}
        body = sample_body(args.sample, paths[1], paths[2], external_id=args.external_id,
                           sex=args.sex, indication=args.indication, hpo=args.hpo,
                           consent=args.consent or bool(state.remembered(
                               api.url, api.lab, [paths[1], paths[2]])))
        sample, resumed = find_or_create(api, body, paths[1], paths[2])
    summary = upload_pair(ctx, api, sample, paths, parallel=args.parallel)
    state.forget(api.url, api.lab, sample["id"])
    summary["resumed"] = resumed
    last = next((f for f in reversed(summary["files"]) if "sample_status" in f), {})
    summary["sample_status"] = last.get("sample_status", sample.get("status"))
    ctx.out.result({"ok": True, **summary}, describe(summary))
    return OK


def describe(summary: dict) -> str:
    lines = [f"Sample {summary['sample_name']} (id {summary['sample_id']}): "
             f"{summary.get('sample_status') or 'uploaded'}."]
    for f in summary["files"]:
        if "skipped" in f:
            lines.append(f"  R{f['read']} {f['name']}: {f['skipped']}.")
        else:
            rate = f["bytes_sent"] / f["seconds"] / 1024**2 if f["seconds"] else 0
            lines.append(f"  R{f['read']} {f['name']}: {f['parts_sent']} parts sent, "
                         f"{f['parts_kept']} already stored, {rate:.0f} MiB/s, "
                         f"sha256 {f['sha256']}.")
    return "\n".join(lines)

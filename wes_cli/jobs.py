"""`wes submit`, `wes status [--wait]` and `wes download` (SHA-256 verified)."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import requests

from wes_cli.api import TIMEOUT, retrying_session
from wes_cli.errors import FAILED, NETWORK, NOT_FOUND, OK, USAGE, CliError

SAMPLE_SETTLED = {"ready", "rejected", "submitted"}
JOB_ENDED = {"succeeded", "failed", "cancelled", "archived", "purged"}
FAILED_STATES = {"rejected", "failed", "cancelled"}
CHUNK = 1024 * 1024


def submit(ctx) -> int:
    api = ctx.api()
    job = api.request("POST", api.lab_path(f"samples/{ctx.args.sample_id}/submit"), ok=(202,))
    ctx.out.result({"ok": True, "job": job},
                   f"Submitted: job {job['id']} is {job['status']}. "
                   f"Follow it with `wes status job:{job['id']} --wait`.")
    return OK


def fetch(api, target: str) -> tuple[str, dict]:
    """("sample"|"job", answer) for `sample:ID`, `job:ID`, or a bare id (a sample's first)."""
    kind, _, ident = target.rpartition(":")
    if kind and kind not in {"sample", "job"}:
        raise CliError(USAGE, f"{target}: use sample:ID, job:ID or a bare id.")
    if kind in {"", "sample"}:
        try:
            return "sample", api.get(f"samples/{ident}")
        except CliError as error:
            if kind or error.code != NOT_FOUND:
                raise
    return "job", api.get(f"jobs/{ident}")


def settled(kind: str, answer: dict) -> bool:
    return answer["status"] in (SAMPLE_SETTLED if kind == "sample" else JOB_ENDED)


def describe(kind: str, answer: dict) -> str:
    if kind == "sample":
        lines = [f"Sample {answer['name']} (id {answer['id']}): {answer['status']}"
                 + (f" - {answer['stage']}" if answer.get("stage") else "")]
        lines += [f"  R{f['read']} {f['name']}: {f['status']}" for f in answer.get("files", [])]
        if answer.get("job_ids"):
            lines.append(f"  jobs: {', '.join(str(j) for j in answer['job_ids'])}")
        return "\n".join(lines)
    lines = [f"Job {answer['id']} (sample {answer.get('sample_id')}): {answer['status']}"
             + (f", QC {answer['qc_verdict']}" if answer.get("qc_verdict") else "")]
    lines += [f"  {s['name']}: {s['status']}" for s in answer.get("steps", [])]
    lines += [f"  output {o['id']} {o['name']} ({o['size']} bytes)" for o in answer.get("outputs", [])]
    if answer.get("report"):
        lines.append(f"  report {answer['report']['id']}: {answer['report']['status']}")
    return "\n".join(lines)


def status(ctx) -> int:
    args, api = ctx.args, ctx.api()
    kind, answer = fetch(api, args.target)
    target = f"{kind}:{answer['id']}"
    deadline = time.monotonic() + args.timeout if args.timeout else None
    last = None
    while args.wait and not settled(kind, answer):
        if answer["status"] != last and not ctx.out.as_json:
            ctx.out.say(f"{kind} {answer['id']}: {answer['status']}")
        last = answer["status"]
        if deadline and time.monotonic() > deadline:
            ctx.out.result({"ok": False, "kind": kind, kind: answer, "timed_out": True},
                           describe(kind, answer) + "\n(still going; --timeout reached)")
            return FAILED
        time.sleep(args.interval)
        answer = fetch(api, target)[1]
    failed = answer["status"] in FAILED_STATES
    ctx.out.result({"ok": not failed, "kind": kind, kind: answer}, describe(kind, answer))
    return FAILED if failed and args.wait else OK


def reason_for(args) -> str:
    reason = (args.reason or "").strip()
    if not reason and sys.stdin.isatty():
        reason = input("Reason for the download (recorded in the audit log): ").strip()
    if not reason:
        raise CliError(USAGE, "Give the reason for the download with --reason.")
    return reason


def fetch_verified(session: requests.Session, signed: dict, directory: Path, advance) -> dict:
    """Stream the presigned URL into DIR/.NAME.part, hashing as it is written; keep it under its
    name only if its SHA-256 is the one the portal recorded."""
    name = Path(signed["file_name"]).name           # never a path from the server
    final, partial = directory / name, directory / f".{name}.part"
    digest, written = hashlib.sha256(), 0
    try:
        with session.get(signed["url"], stream=True, timeout=TIMEOUT) as response:
            if response.status_code != 200:
                raise CliError(NETWORK if response.status_code >= 500 else FAILED,
                               f"Storage refused {name}: HTTP {response.status_code}.")
            with open(partial, "wb") as handle:
                for chunk in response.iter_content(CHUNK):
                    handle.write(chunk)
                    digest.update(chunk)
                    written += len(chunk)
                    advance(len(chunk))
                handle.flush()
                os.fsync(handle.fileno())
    except requests.RequestException as exc:
        partial.unlink(missing_ok=True)
        raise CliError(NETWORK, f"The download of {name} broke off ({type(exc).__name__}); "
                                f"run the command again.") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    actual = digest.hexdigest()
    if actual != signed["sha256"] or (signed.get("size") is not None and written != signed["size"]):
        partial.unlink(missing_ok=True)
        raise CliError(FAILED, f"{name}: the downloaded bytes do not match the portal's record "
                               f"(SHA-256 {actual}, expected {signed['sha256']}; {written} bytes, "
                               f"expected {signed.get('size')}). Nothing was kept.",
                       details={"file": name, "sha256": actual, "expected": signed["sha256"]})
    os.replace(partial, final)
    return {"file": str(final), "size": written, "sha256": actual, "verified": True}


def download(ctx) -> int:
    args, api = ctx.args, ctx.api()
    job = api.get(f"jobs/{args.job_id}")
    wanted = []
    if args.report:
        report = job.get("report")
        if not report or report.get("status") != "signed_out":
            raise CliError(FAILED, f"Job {job['id']} has no signed report yet.")
        wanted.append(f"reports/{report['id']}/download")
    else:
        chosen = set(args.outputs or [])
        outputs = [o for o in job.get("outputs", [])
                   if not chosen or o["name"] in chosen or str(o["id"]) in chosen]
        if not outputs:
            raise CliError(NOT_FOUND if chosen else FAILED,
                           f"Job {job['id']} has no output{' named so' if chosen else 's'}.")
        wanted += [f"jobs/{job['id']}/outputs/{o['id']}/download" for o in outputs]
    reason = reason_for(args)
    directory = Path(args.output_dir).expanduser()
    directory.mkdir(parents=True, exist_ok=True)
    session = retrying_session()
    files = []
    for path in wanted:
        signed = api.post(path, {"reason": reason, "note": args.note or ""})
        advance, close = ctx.out.progress(int(signed.get("size") or 0), signed["file_name"])
        try:
            files.append(fetch_verified(session, signed, directory, advance))
        finally:
            close()
    ctx.out.result({"ok": True, "job_id": job["id"], "files": files},
                   "\n".join(f"{f['file']}: {f['size']} bytes, SHA-256 verified" for f in files))
    return OK

"""`wes`: arguments, the login, and the exit code every command ends with (errors.py)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from wes_cli import config
from wes_cli.api import Api
from wes_cli.errors import AUTH, FAILED, NETWORK, OK, USAGE, CliError
from wes_cli.output import Output

INTERRUPTED = 130   # the shell's own code for Ctrl-C
DEFAULT_PARALLEL = min(8, max(4, (os.cpu_count() or 2) * 2))


def output_options(*, defaults: bool) -> argparse.ArgumentParser:
    """--json and --progress, accepted before or after the command: the command's copy has no
    defaults of its own, or it would undo `wes --json COMMAND`."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--json", action="store_true",
                         default=False if defaults else argparse.SUPPRESS,
                         help="one JSON document on stdout (errors too)")
    options.add_argument("--progress", action=argparse.BooleanOptionalAction,
                         default=None if defaults else argparse.SUPPRESS,
                         help="progress bars on stderr (default: when stderr is a terminal and "
                              "not --json)")
    return options


def build_parser() -> argparse.ArgumentParser:
    common = output_options(defaults=False)
    parser = argparse.ArgumentParser(
        prog="wes", parents=[output_options(defaults=True)],
        description="Command-line client of the WES Portal: upload samples, submit, follow and "
                    "download jobs. Exit codes: 0 ok, 1 failed or refused, 2 usage, 3 not "
                    "logged in or token refused, 4 not found, 5 portal or storage unreachable.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    login = commands.add_parser("login", parents=[common], help="store the portal URL and token")
    login.add_argument("--url", required=True, help="the portal's address, https://...")
    login.add_argument("--token", help="an API token (wes_...); prompted for when left out; "
                                       "or $WES_TOKEN")
    login.add_argument("--lab", help="the lab's slug (default: the token's lab)")

    upload = commands.add_parser("upload", parents=[common],
                                 help="create a sample and upload its R1/R2 pair (resumable)")
    upload.add_argument("sample", nargs="?", metavar="SAMPLE_NAME", help="the new sample's name")
    upload.add_argument("r1", nargs="?", metavar="R1", help="read 1, a .fastq.gz file")
    upload.add_argument("r2", nargs="?", metavar="R2", help="read 2, a .fastq.gz file")
    upload.add_argument("--resume", metavar="SAMPLE_ID",
                        help="carry on an interrupted upload of that sample from this machine")
    add_sample_fields(upload)
    add_parallel(upload)

    submit = commands.add_parser("submit", parents=[common], help="submit a sample for analysis")
    submit.add_argument("sample_id", metavar="SAMPLE_ID")

    status = commands.add_parser("status", parents=[common], help="a sample's or a job's status")
    status.add_argument("target", metavar="SAMPLE_ID|JOB_ID",
                        help="a sample id, or a job id (job:ID or a bare id that is no sample)")
    status.add_argument("--wait", action="store_true",
                        help="poll until the sample is ready/rejected or the job has ended")
    status.add_argument("--interval", type=float, default=10.0, help="seconds between polls")
    status.add_argument("--timeout", type=float, default=None, help="give up after so many "
                                                                     "seconds (exit 1)")

    download = commands.add_parser("download", parents=[common],
                                   help="download a job's outputs (or its signed report), "
                                        "SHA-256 verified")
    download.add_argument("job_id", metavar="JOB_ID")
    download.add_argument("--reason", help="why (recorded in the audit log): clinical_care, "
                                           "lab_review, reanalysis, other, or your own words; "
                                           "asked for when left out")
    download.add_argument("--note", help="details (required with --reason other)")
    download.add_argument("-o", "--output-dir", default=".", metavar="DIR")
    download.add_argument("--output", dest="outputs", action="append", metavar="NAME",
                          help="only this output (by name or id); repeatable")
    download.add_argument("--report", action="store_true", help="the signed report only")

    sheet = commands.add_parser("sheet", parents=[common], help="sample sheets")
    sheet_commands = sheet.add_subparsers(dest="sheet_command", required=True, metavar="ACTION")
    sheet_upload = sheet_commands.add_parser(
        "upload", parents=[common], help="upload every row's sample (columns as the portal's "
                                         "sample sheet: sample_name, identifier, sex, "
                                         "clinical_indication, hpo_terms, r1, r2)")
    sheet_upload.add_argument("sheet", metavar="SHEET.csv")
    sheet_upload.add_argument("--dir", help="where the FASTQ files are (default: beside the "
                                            "sheet)")
    sheet_upload.add_argument("--consent", action="store_true",
                              help="confirm consent for genomic testing is documented for "
                                   "every sample in the sheet (required)")
    add_parallel(sheet_upload)
    return parser


def add_sample_fields(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--external-id", metavar="ID",
                        help="the lab's pseudonymous sample/patient identifier (default: the "
                             "sample name)")
    parser.add_argument("--sex", default="unknown", choices=["female", "male", "other", "unknown"])
    parser.add_argument("--indication", default="", metavar="TEXT",
                        help="the clinical indication (the portal requires one)")
    parser.add_argument("--hpo", default="", metavar="TERMS",
                        help="HPO terms, e.g. HP:0001250,HP:0002376")
    parser.add_argument("--consent", action="store_true",
                        help="confirm consent for genomic testing is documented (required for a "
                             "new sample)")


def add_parallel(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--parallel", type=int, default=DEFAULT_PARALLEL, metavar="N",
                        help=f"parts sent at once (default {DEFAULT_PARALLEL})")


class Context:
    def __init__(self, args, out: Output):
        self.args, self.out = args, out
        self._api: Api | None = None

    def api(self, pool_size: int = 10) -> Api:
        if self._api is None:
            saved = config.load_config()
            self._api = Api(saved["url"], saved["token"], saved.get("lab"), pool_size=pool_size)
            if not self._api.lab:
                self._api.lab = self._api.labs()[0]["slug"]
        return self._api


def login(ctx: Context) -> int:
    args = ctx.args
    token = (args.token or os.environ.get("WES_TOKEN") or "").strip()
    if not token:
        if not sys.stdin.isatty():
            raise CliError(USAGE, "Give the token with --token or $WES_TOKEN (no terminal to "
                                  "ask on).")
        token = getpass.getpass("API token (from your profile page in the portal): ").strip()
    if not token.startswith("wes_"):
        raise CliError(USAGE, "That is not a WES Portal API token (they start with wes_).")
    labs = Api(args.url, token).labs()     # proves the URL and the token before saving them
    lab = args.lab or labs[0]["slug"]
    if lab not in {item["slug"] for item in labs}:
        raise CliError(AUTH, f"This token is not for lab {lab}; it is for "
                             f"{', '.join(item['slug'] for item in labs)}.")
    path = config.save_config(args.url, token, lab)
    ctx.out.result({"ok": True, "url": args.url.rstrip("/"), "lab": lab, "config": str(path)},
                   f"Logged in to {args.url.rstrip('/')} (lab {lab}); token saved in {path}.")
    return OK


def dispatch(ctx: Context) -> int:
    from wes_cli import jobs, samples, sheet

    command = ctx.args.command
    if command == "login":
        return login(ctx)
    if command == "upload":
        return samples.upload(ctx)
    if command == "sheet":
        return sheet.upload(ctx)
    return {"submit": jobs.submit, "status": jobs.status, "download": jobs.download}[command](ctx)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)        # exits 2 on bad usage
    out = Output(as_json=args.json, progress=args.progress)
    try:
        return dispatch(Context(args, out))
    except CliError as error:
        out.error(error.code, error.message, error.details)
        return error.code
    except KeyboardInterrupt:
        out.error(INTERRUPTED, "Interrupted. Run the same command again to resume an upload.")
        return INTERRUPTED
    except OSError as error:
        out.error(FAILED if not isinstance(error, ConnectionError) else NETWORK, str(error))
        return FAILED if not isinstance(error, ConnectionError) else NETWORK


if __name__ == "__main__":
    sys.exit(main())

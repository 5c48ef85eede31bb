"""`wes sheet upload SHEET.csv`: every row's sample, created and uploaded one after the other.

The columns are the portal's sample sheet's (jobs/intake/sample_sheet.py): sample_name,
identifier, sex, clinical_indication, hpo_terms (optional), r1, r2; r1/r2 are file names beside
the sheet (or under --dir). Every row is checked locally before anything is sent; then each row
is uploaded and reported on its own: a refused row does not stop the others, a lost network
stops the run. Re-running the same command after either finds the rows already uploaded (the state
file keeps them until the whole sheet is in) and resumes the cut one."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from wes_cli import samples, state
from wes_cli.errors import FAILED, NETWORK, OK, USAGE, CliError

COLUMNS = ["sample_name", "identifier", "sex", "clinical_indication", "hpo_terms", "r1", "r2"]
REQUIRED = [c for c in COLUMNS if c != "hpo_terms"]


def read_rows(path: Path) -> list[dict]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise CliError(USAGE, f"{path}: no such file.") from None
    except UnicodeDecodeError:
        raise CliError(FAILED, f"{path} is not UTF-8 text; save it as CSV (UTF-8).") from None
    try:
        dialect = csv.Sniffer().sniff(text.splitlines()[0] if text else "", delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise CliError(FAILED, f"The sample sheet's first line must name the columns "
                               f"{', '.join(COLUMNS)}; missing: {', '.join(missing)}.")
    reader.fieldnames = header
    rows = []
    for number, row in enumerate(reader, start=2):
        values = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)}
        if any(values.values()):
            rows.append({"row": number, **values})
    if not rows:
        raise CliError(FAILED, "The sample sheet has no samples.")
    return rows


def check(rows: list[dict], directory: Path) -> list[dict]:
    problems, names, files = [], {}, {}
    for row in rows:
        errors = [f"{c}: empty." for c in REQUIRED if not row.get(c)]
        if row.get("sample_name") in names:
            errors.append(f"sample_name: also on row {names[row['sample_name']]}.")
        names.setdefault(row.get("sample_name"), row["row"])
        for column in ("r1", "r2"):
            name = row.get(column)
            if name and not (directory / name).is_file():
                errors.append(f"{column}: {directory / name} does not exist.")
            elif name in files:
                errors.append(f"{column}: {name} is also on row {files[name]}.")
            files.setdefault(name, row["row"])
        if errors:
            problems.append({"row": row["row"], "sample": row.get("sample_name", ""),
                             "errors": errors})
    return problems


def upload(ctx) -> int:
    args = ctx.args
    sheet = Path(args.sheet).expanduser()
    rows = read_rows(sheet)
    directory = Path(args.dir).expanduser() if args.dir else sheet.parent
    problems = check(rows, directory)
    if problems:
        ctx.out.result({"ok": False, "rows": problems},
                       "Nothing was uploaded; the sheet has problems:\n" + "\n".join(
                           f"  row {p['row']} {p['sample']}: {' '.join(p['errors'])}"
                           for p in problems))
        return FAILED
    if not args.consent:
        raise CliError(USAGE, "Confirm with --consent that consent for genomic testing is "
                              "documented for every sample in the sheet.")
    api = ctx.api(pool_size=args.parallel + 2)
    reports, code, done = [], OK, []
    for index, row in enumerate(rows, start=1):
        paths = {1: directory / row["r1"], 2: directory / row["r2"]}
        try:
            body = samples.sample_body(row["sample_name"], paths[1], paths[2],
                                       external_id=row["identifier"], sex=row["sex"].lower(),
                                       indication=row["clinical_indication"],
                                       hpo=row.get("hpo_terms", ""), consent=True)
            sample, _ = samples.find_or_create(api, body, paths[1], paths[2])
            summary = samples.upload_pair(ctx, api, sample, paths, parallel=args.parallel,
                                          label=f"[{index}/{len(rows)}] ")
            done.append(sample["id"])
            reports.append({"row": row["row"], "sample": row["sample_name"], "ok": True,
                            **summary})
            ctx.out.say(f"row {row['row']} {row['sample_name']}: uploaded "
                        f"(sample id {sample['id']})")
        except CliError as error:
            reports.append({"row": row["row"], "sample": row["sample_name"], "ok": False,
                            "error": error.message, "exit_code": error.code})
            ctx.out.say(f"row {row['row']} {row['sample_name']}: {error.message}")
            code = error.code if code == OK else code
            if error.code == NETWORK:
                reports += [{"row": r["row"], "sample": r["sample_name"], "ok": False,
                             "error": "not started"} for r in rows[index:]]
                break
    if code == OK:   # until the whole sheet is in, a re-run finds the rows already uploaded
        for sample_id in done:
            state.forget(api.url, api.lab, sample_id)
    ctx.out.result({"ok": code == OK, "rows": reports},
                   f"{sum(r['ok'] for r in reports)} of {len(rows)} samples uploaded.")
    return code

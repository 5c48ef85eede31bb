"""CSV sample sheets: many samples in one go, their FASTQ files matched to rows by file name.

A sheet is accepted whole or not at all: every row is checked (fields as on the sample form, files
chosen, names unique in the sheet and in the lab) and all problems are listed by row number.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from jobs.intake.forms import SampleForm, check_fastq_file_name, check_pair

COLUMNS = ["sample_name", "identifier", "sex", "clinical_indication", "hpo_terms", "r1", "r2"]
REQUIRED = [c for c in COLUMNS if c != "hpo_terms"]
MAX_SHEET_BYTES = 1024 * 1024
MAX_ROWS = 500


@dataclass
class SheetRow:
    number: int                      # the line in the CSV file (the header is line 1)
    data: dict = field(default_factory=dict)
    files: dict[int, tuple[str, int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


@dataclass
class ParsedSheet:
    rows: list[SheetRow]
    errors: list[str]                # problems with the sheet as a whole

    @property
    def ok(self) -> bool:
        return not self.errors and not any(row.errors for row in self.rows)

    def problems(self) -> list[dict]:
        return [{"row": r.number, "sample": r.data.get("name", ""), "errors": r.errors}
                for r in self.rows if r.errors]


def read_sheet(raw: bytes) -> tuple[list[dict], list[str]]:
    if len(raw) > MAX_SHEET_BYTES:
        return [], [f"The sample sheet is larger than {MAX_SHEET_BYTES // 1024} KB."]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], ["The sample sheet is not UTF-8 text; save it as CSV (UTF-8)."]
    try:
        delimiter = csv.Sniffer().sniff(text.splitlines()[0] if text else "",
                                        delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    # Only the delimiter is sniffed: from a header without quotes the Sniffer also guesses
    # doublequote=False, which read Excel's "" inside a quoted field as the field's end (a
    # clinical indication came out garbled, or the row's columns shifted).
    reader = csv.DictReader(io.StringIO(text), dialect=csv.excel, delimiter=delimiter)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        return [], [f"The sample sheet's first line must name the columns {', '.join(COLUMNS)}; "
                    f"missing: {', '.join(missing)}."]
    reader.fieldnames = header
    rows = []
    try:
        for row in reader:
            if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
                continue
            rows.append({k: (v or "").strip() for k, v in row.items() if isinstance(k, str)})
            if len(rows) > MAX_ROWS:
                return [], [f"The sample sheet has more than {MAX_ROWS} samples; split it."]
    except csv.Error as exc:
        return [], [f"The sample sheet is not valid CSV: {exc}."]
    if not rows:
        return [], ["The sample sheet has no samples."]
    return rows, []


def parse_sheet(raw: bytes, chosen: dict[str, int], *, consent: bool, lab) -> ParsedSheet:
    """Check every row. `chosen` maps the FASTQ file names the user picked to their sizes."""
    from jobs.intake.services import sample_name_taken

    records, errors = read_sheet(raw)
    rows: list[SheetRow] = []
    used_files: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    for index, record in enumerate(records):
        row = SheetRow(number=index + 2)
        form = SampleForm({
            "name": record.get("sample_name", ""), "external_id": record.get("identifier", ""),
            "sex": record.get("sex", "").lower(), "hpo_terms": record.get("hpo_terms", ""),
            "clinical_indication": record.get("clinical_indication", ""),
            "consent": "on" if consent else ""})
        if form.is_valid():
            row.data = form.cleaned_data
        else:
            row.data = {"name": record.get("sample_name", "")}
            row.errors.extend(f"{_column(name)}: {message}" for name, messages in
                              form.errors.items() if name != "consent" for message in messages)
        name = row.data.get("name", "")
        if name and name in seen_names:
            row.errors.append(f"sample_name: {name} is also on row {seen_names[name]}.")
        elif name and form.is_valid() and sample_name_taken(lab, name):
            row.errors.append(f"sample_name: {lab.name} already has a sample named {name}.")
        seen_names.setdefault(name, row.number)
        for read in (1, 2):
            file_name = record.get(f"r{read}", "")
            problem = _file_problem(file_name, chosen, used_files, row.number)
            if problem:
                row.errors.append(f"r{read}: {problem}")
            else:
                row.files[read] = (file_name, chosen[file_name])
                used_files[file_name] = row.number
        if len(row.files) == 2:
            problem = check_pair(row.files[1], row.files[2])
            if problem:
                row.errors.append(problem)
        rows.append(row)
    if not consent:
        errors.append("Confirm that consent for genomic testing is documented for every sample "
                      "in the sheet.")
    unused = sorted(set(chosen) - set(used_files))
    if rows and unused:
        errors.append(f"These chosen files are on no row of the sheet: {', '.join(unused[:10])}.")
    return ParsedSheet(rows=rows, errors=errors)


def _file_problem(file_name: str, chosen: dict[str, int], used: dict[str, int],
                  row_number: int) -> str:
    if not file_name:
        return "no file name given."
    if file_name in used:
        return f"{file_name} is already used on row {used[file_name]}."
    if file_name not in chosen:
        return f"{file_name} is not among the chosen files."
    return check_fastq_file_name(file_name, chosen[file_name])


def _column(form_field: str) -> str:
    return {"name": "sample_name", "external_id": "identifier"}.get(form_field, form_field)

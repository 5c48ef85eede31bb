import re
import unicodedata

from django import forms
from django.conf import settings

from common.sizes import format_size
from jobs.intake.file_names import sent_name
from jobs.models import EXTERNAL_ID_RULE, SAMPLE_NAME_RULE, Sex

FASTQ_SUFFIXES = (".fastq.gz", ".fq.gz")
HPO_TERM = re.compile(r"^HP:\d{7}$")
# A read number in a file name: S1_R1_001.fastq.gz, S1_1.fq.gz, S1.R2.fastq.gz
READ_IN_NAME = re.compile(r"(?:^|[._-])R?([12])(?:_\d{3})?(?=\.f(?:ast)?q\.gz$)", re.I)
MAX_NAME_LENGTH = 255


def check_fastq_file_name(name: str, size: int | None) -> str:
    """The reason a chosen file cannot be a FASTQ of this sample, or "": the one rule for file
    names, on every path (the JSON API, the no-JavaScript form with the name as the browser sent
    it, see jobs/intake/file_names.py, and the sample sheet)."""
    if not name or not name.strip():
        return "Choose a file."
    if len(name) > MAX_NAME_LENGTH:
        return (f"The file name is {len(name)} characters long; rename the file to at most "
                f"{MAX_NAME_LENGTH}.")
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} for ch in name):
        return ("The file name contains invisible control or direction characters; "
                "rename the file.")
    if "/" in name or "\\" in name or name.strip(".") == "":
        return "The file name must not contain a path; rename the file."
    if not name.lower().endswith(FASTQ_SUFFIXES):
        return "Choose a gzip-compressed FASTQ file ending in .fastq.gz or .fq.gz."
    if size is not None:
        if size < 0:
            return "The file size must be a number of bytes, not negative."
        if size == 0:
            return "The file is empty."
        if size > settings.MAX_FASTQ_BYTES:
            return (f"The file is {format_size(size)}; the limit is "
                    f"{format_size(settings.MAX_FASTQ_BYTES)}.")
    return ""


def read_number_in_name(name: str) -> int | None:
    match = READ_IN_NAME.search(name)
    return int(match.group(1)) if match else None


def check_pair(r1: tuple[str, int], r2: tuple[str, int]) -> str:
    if r1 == r2:
        return "R1 and R2 are the same file; choose the two files of the pair."
    if read_number_in_name(r1[0]) == 2 and read_number_in_name(r2[0]) == 1:
        return (f"R1 and R2 look swapped: {r1[0]} is named as read 2 and {r2[0]} as read 1.")
    return ""


class SampleForm(forms.Form):
    name = forms.CharField(label="Sample name", max_length=64, validators=[SAMPLE_NAME_RULE])
    external_id = forms.CharField(
        label="Sample / patient identifier", max_length=64, validators=[EXTERNAL_ID_RULE],
        help_text="The lab's pseudonymous identifier. Never a patient's name.")
    # No preselected sex: a default would be recorded for every sample nobody set it on.
    sex = forms.ChoiceField(
        choices=[("", "— choose —"), *Sex.choices],
        error_messages={"required": "Choose the sex recorded for this sample (or Unknown).",
                        "invalid_choice": "Use female, male, other or unknown, not "
                                          "“%(value)s”."})
    clinical_indication = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}),
                                          max_length=2000)
    hpo_terms = forms.CharField(label="HPO terms", required=False, max_length=2000,
                                help_text="Optional, e.g. HP:0001250, HP:0000252")
    consent = forms.BooleanField(
        label="I confirm that consent for genomic testing is documented for this sample.",
        error_messages={"required": "Confirm that consent for genomic testing is documented."})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A browser's maxlength cuts a pasted text silently (an HPO list ended in "HP:00011", or
        # lost its last terms without a word); the length is judged here, with a message.
        for name in ("clinical_indication", "hpo_terms"):
            self.fields[name].widget.attrs.pop("maxlength", None)

    def clean_hpo_terms(self) -> list[str]:
        given = [t.strip() for t in re.split(r"[,;\s]+", self.cleaned_data["hpo_terms"])
                 if t.strip()]
        bad = [t for t in given if not HPO_TERM.match(t.upper())]
        if bad:
            raise forms.ValidationError(
                f"Not an HPO term: {', '.join(bad[:5])}. Use the form HP:0001250.")
        return list(dict.fromkeys(t.upper() for t in given))


class DirectUploadForm(SampleForm):
    """The form as the JavaScript uploader sends it: file names and sizes, no bytes."""

    # Names and sizes are judged by check_fastq_file_name alone, as on the form without
    # JavaScript, so both paths answer the same sentence (no strip, no field-level rules).
    r1_name = forms.CharField(required=False, strip=False)
    r1_size = forms.IntegerField()
    r2_name = forms.CharField(required=False, strip=False)
    r2_size = forms.IntegerField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for read in (1, 2):
            self.fields[f"r{read}_name"].validators = []

    def clean(self):
        cleaned = super().clean()
        for read in (1, 2):
            name, size = cleaned.get(f"r{read}_name"), cleaned.get(f"r{read}_size")
            if name is None or size is None:
                continue
            problem = check_fastq_file_name(name, size)
            if problem:
                self.add_error(f"r{read}_name", problem)
        if not self.errors:
            problem = check_pair((cleaned["r1_name"], cleaned["r1_size"]),
                                 (cleaned["r2_name"], cleaned["r2_size"]))
            if problem:
                self.add_error(None, problem)
        return cleaned

    def files_declared(self) -> dict[int, tuple[str, int]]:
        return {read: (self.cleaned_data[f"r{read}_name"], self.cleaned_data[f"r{read}_size"])
                for read in (1, 2)}

    def errors_by_field(self) -> dict[str, list[str]]:
        """Errors keyed by what the page shows: `r1`/`r2` for the file inputs."""
        renamed = {"r1_name": "r1", "r1_size": "r1", "r2_name": "r2", "r2_size": "r2"}
        out: dict[str, list[str]] = {}
        for field, messages in self.errors.items():
            out.setdefault(renamed.get(field, field), []).extend(messages)
        return out


class PlainUploadForm(SampleForm):
    """The same form without JavaScript: the files come in the request body, or were received by
    an earlier try of this form that another field sent back (`received`, jobs/intake/received.py):
    an empty file input then means "keep the file received"."""

    r1 = forms.FileField(label="R1 (.fastq.gz)", allow_empty_file=True, required=False)
    r2 = forms.FileField(label="R2 (.fastq.gz)", allow_empty_file=True, required=False)
    received = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, received_files: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.set_received(received_files or {})

    def set_received(self, received_files: dict) -> None:
        """The files kept from earlier tries; the page shows each beside its (empty) input."""
        self.received_files = dict(received_files)
        for read in (1, 2):
            self.fields[f"r{read}"].received = self.received_files.get(read)

    def clean(self):
        cleaned = super().clean()
        for read in (1, 2):
            upload = cleaned.get(f"r{read}")
            if upload is None:
                if read not in self.received_files and f"r{read}" not in self.errors:
                    self.add_error(f"r{read}", f"Choose the R{read} file.")
                continue
            problem = check_fastq_file_name(sent_name(upload), upload.size)
            if problem:
                self.add_error(f"r{read}", problem)
        if not self.errors:
            chosen = self.chosen_files()
            problem = check_pair((sent_name(chosen[1]), chosen[1].size),
                                 (sent_name(chosen[2]), chosen[2].size))
            if problem:
                self.add_error(None, problem)
        return cleaned

    def chosen_files(self) -> dict:
        """Per read: the file sent now, else the one received before."""
        return {read: self.cleaned_data.get(f"r{read}") or self.received_files.get(read)
                for read in (1, 2)}

    def acceptable_uploads(self) -> dict:
        """The files sent now that passed their own checks: worth keeping when another field
        sends the form back."""
        if not hasattr(self, "cleaned_data"):
            return {}
        return {read: self.cleaned_data[f"r{read}"] for read in (1, 2)
                if self.cleaned_data.get(f"r{read}") is not None and f"r{read}" not in self.errors}


class SampleSheetForm(forms.Form):
    sheet = forms.FileField(label="Sample sheet (CSV)")
    consent = forms.BooleanField(
        label="I confirm that consent for genomic testing is documented for every sample in "
              "this sheet.", required=False)
